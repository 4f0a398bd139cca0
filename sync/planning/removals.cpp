#include "sync/planning/removals.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <unordered_map>

namespace rostersync::sync {

GroupPolicy group_policy(const std::vector<FeedingJob>& jobs) {
  GroupPolicy p;
  bool any = false;
  p.remove = true;
  p.own_adopted = true;
  p.limits = {1'000'000, 100};
  for (const FeedingJob& j : jobs) {
    if (!j.configured) continue;
    any = true;
    p.remove = p.remove && j.remove_departed;
    p.own_adopted = p.own_adopted && j.own_adopted;
    p.limits.max_deletes = std::min(p.limits.max_deletes, j.limits.max_deletes);
    p.limits.max_delete_percent = std::min(p.limits.max_delete_percent, j.limits.max_delete_percent);
  }
  if (!any) return GroupPolicy{false, false, RemovalLimits{}};
  return p;
}

bool owned_now(const GroupRow& row, bool own_adopted) { return !row.adopted || own_adopted; }

bool confirmed(const GroupRow& row) {
  return row.state == MembershipState::created || (row.state == MembershipState::pending && row.op != MembershipOp::create);
}

int role_rank(std::string_view role_type) {
  static constexpr std::array<std::string_view, 8> kOrder = {"Administrator", "Instructor", "TeachingAssistant",
                                                             "ContentDeveloper", "Manager", "Mentor", "Member",
                                                             "Learner"};
  for (std::size_t i = 0; i < kOrder.size(); ++i) {
    if (kOrder[i] == role_type) return static_cast<int>(i);
  }
  return static_cast<int>(kOrder.size());
}

std::string group_role(std::string_view own, std::string_view others) {
  std::string_view best = own;
  auto better = [](std::string_view a, std::string_view b) {  // a ranks before b
    if (b.empty()) return !a.empty();
    if (a.empty()) return false;
    int ra = role_rank(a), rb = role_rank(b);
    return ra != rb ? ra < rb : a < b;
  };
  std::size_t start = 0;
  while (start < others.size()) {
    std::size_t end = others.find(' ', start);
    if (end == std::string_view::npos) end = others.size();
    std::string_view role = others.substr(start, end - start);
    if (better(role, best)) best = role;
    start = end + 1;
  }
  return std::string(best);
}

WalkTrust judge_walk(const WalkFacts& f) {
  if (f.persons_listed == 0 && f.owned_in_group > 0 && !f.empty_accepted) return WalkTrust::empty_held;
  if (f.repeated_members > 0) return WalkTrust::moved;
  return WalkTrust::counts;
}

ListingChanges walk_absences(const std::string& job, const std::vector<Listing>& listings,
                             const std::vector<GroupRow>& rows, const std::unordered_set<std::string>& seen) {
  ListingChanges out;
  std::unordered_set<std::string> has_listing;
  for (const Listing& l : listings) {
    if (l.job != job) continue;
    has_listing.insert(l.person_key);
    const bool listed = seen.count(l.person_key) > 0;
    if (!listed) out.absent.push_back(l.person_key);
    else if (l.absent_walks > 0) out.back.push_back(l.person_key);
  }
  // Persons of the group this job has no word on yet: from now on it says
  // walk by walk that it does not list them.
  std::unordered_set<std::string> added;
  for (const GroupRow& r : rows) {
    if (r.state == MembershipState::deleted && !r.withdrawn) continue;
    if (has_listing.count(r.person_key) || seen.count(r.person_key) || !added.insert(r.person_key).second) continue;
    out.absent.push_back(r.person_key);
  }
  return out;
}

void apply_absences(std::vector<Listing>& listings, const std::string& job, const ListingChanges& changes) {
  std::unordered_map<std::string, Listing*> mine;
  for (Listing& l : listings) {
    if (l.job == job) mine.emplace(l.person_key, &l);
  }
  std::vector<Listing> added;
  for (const auto& person : changes.absent) {
    if (auto it = mine.find(person); it != mine.end()) ++it->second->absent_walks;
    else added.push_back({job, person, "", false, 1});
  }
  for (const auto& person : changes.back) {
    if (auto it = mine.find(person); it != mine.end()) it->second->absent_walks = 0;
  }
  for (auto& l : added) listings.push_back(std::move(l));
}

namespace {

// Why the person's listings let them go ("departed", "inactive"), or "" when one keeps them.
std::string let_go(const std::vector<const Listing*>& mine, const std::map<std::string, const FeedingJob*>& jobs) {
  bool inactive = false;
  for (const Listing* l : mine) {
    auto it = jobs.find(l->job);
    const FeedingJob* job = it == jobs.end() ? nullptr : it->second;
    const bool configured = job && job->configured;
    if (l->absent_walks == 0) {
      // Listed by its last walk: keeps the person, unless listed Inactive
      // where that job removes inactive members.
      if (l->inactive && configured && job->remove_inactive) {
        inactive = true;
        continue;
      }
      return "";
    }
    // A job that is no longer configured cannot walk again: its last word
    // (absent) stands. A configured one must reach its own grace.
    if (configured && l->absent_walks < job->grace_walks) return "";
  }
  // Every configured job of the group must have had its say since.
  for (const auto& entry : jobs) {
    if (!entry.second->configured) continue;
    const std::string& name = entry.first;
    bool has = std::any_of(mine.begin(), mine.end(), [&](const Listing* l) { return l->job == name; });
    if (!has) return "";
  }
  if (mine.empty()) return "";
  return inactive ? "inactive" : "departed";
}

PlannedWrite deletion(const GroupRow& row, std::string reason) {
  PlannedWrite w;
  w.membership_id = row.membership_id;
  w.person_key = row.person_key;
  w.role_type = row.role_type;
  w.is_new = false;
  w.op = MembershipOp::remove;
  w.reason = std::move(reason);
  return w;
}

}  // namespace

GroupDecision decide_group(const std::vector<GroupRow>& rows, const std::vector<Listing>& listings,
                           const std::vector<FeedingJob>& jobs) {
  GroupDecision d;
  const GroupPolicy policy = group_policy(jobs);
  std::map<std::string, const FeedingJob*> by_name;
  for (const FeedingJob& j : jobs) by_name.emplace(j.name, &j);
  std::unordered_map<std::string, std::vector<const Listing*>> by_person;
  for (const Listing& l : listings) {
    by_person[l.person_key].push_back(&l);
    // A job with listings in the group feeds it, configured or not.
    if (!by_name.count(l.job)) {
      static const FeedingJob kGone = [] {
        FeedingJob gone;
        gone.configured = false;
        return gone;
      }();
      by_name.emplace(l.job, &kGone);
    }
  }
  std::vector<PlannedWrite> undecided;
  for (const GroupRow& row : rows) {
    const auto found = by_person.find(row.person_key);
    static const std::vector<const Listing*> kNone;
    const std::vector<const Listing*>& mine = found == by_person.end() ? kNone : found->second;
    const std::string reason = let_go(mine, by_name);
    if (row.state == MembershipState::deleted) {
      if (row.withdrawn && !reason.empty()) d.released.push_back(row.membership_id);
      continue;
    }
    if (!owned_now(row, policy.own_adopted)) continue;
    const bool is_confirmed = confirmed(row);
    if (is_confirmed) ++d.base;
    if (reason.empty()) {
      if (!row.departure.empty() || row.removal_approved || row.removal_rejected || row.held == "delete") {
        d.back.push_back(row.membership_id);
      }
      continue;
    }
    if (!policy.remove || !is_confirmed || row.removal_rejected) continue;
    const bool queued_delete = row.state == MembershipState::pending && row.op == MembershipOp::remove;
    if (queued_delete || row.removal_approved) d.removals.push_back(deletion(row, reason));
    else undecided.push_back(deletion(row, reason));
  }
  const int n = static_cast<int>(undecided.size());
  if (n == 0) return d;
  const std::string planned = std::to_string(n) + " deletion(s) planned";
  const RemovalLimits& limits = policy.limits;
  if (n > limits.max_deletes) {
    d.held_because = planned + ", more than max_deletes (" + std::to_string(limits.max_deletes) + ")";
  } else if (d.base > 0 && static_cast<long long>(n) * 100 > static_cast<long long>(limits.max_delete_percent) * d.base) {
    d.held_because = planned + ", " + std::to_string((n * 100 + d.base - 1) / d.base) + "% of the group's " +
                     std::to_string(d.base) + " memberships rostersync owns, more than max_delete_percent (" +
                     std::to_string(limits.max_delete_percent) + "%)";
  }
  if (d.held_because.empty()) {
    for (auto& w : undecided) d.removals.push_back(std::move(w));
  } else {
    d.held = std::move(undecided);
  }
  return d;
}

RestoreVerdict judge_restores(int restores, int base, int listed, const RemovalLimits& limits) {
  RestoreVerdict v;
  if (restores <= 0) return v;
  const std::string planned = std::to_string(restores) + " restore(s) planned";
  if (listed == 0) {
    v.hold = true;
    v.reason = planned + ": itslearning listed the group empty where rostersync owns " + std::to_string(base) +
               " memberships; an empty group is always held";
  } else if (restores > limits.max_deletes) {
    v.hold = true;
    v.reason = planned + ", more than max_deletes (" + std::to_string(limits.max_deletes) + ")";
  } else if (base > 0 && static_cast<long long>(restores) * 100 > static_cast<long long>(limits.max_delete_percent) * base) {
    v.hold = true;
    v.reason = planned + ", " + std::to_string((restores * 100 + base - 1) / base) + "% of the group's " +
               std::to_string(base) + " memberships rostersync owns, more than max_delete_percent (" +
               std::to_string(limits.max_delete_percent) + "%): a mass removal in itslearning is usually deliberate";
  }
  return v;
}

}  // namespace rostersync::sync
