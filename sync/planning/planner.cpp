#include "sync/planning/planner.hpp"

#include <algorithm>
#include <unordered_set>

#include "domain/digest.hpp"
#include "domain/text.hpp"
#include "sync/imses/membership_id.hpp"
#include "sync/planning/removals.hpp"
#include "sync/planning/roles.hpp"

namespace rostersync::sync {

PlanOptions plan_options(const config::Job& job) {
  return {job.person_key, job.person_key_prefix, job.role_map, job.skip_test_users, job.hierarchy_id, job.role_filter,
          job.own_adopted};
}

Result<std::string> resolve_hierarchy(const std::string& hierarchy_id, const RosterPage& page) {
  if (!config::is_hierarchy_template(hierarchy_id)) return hierarchy_id;
  const std::pair<const char*, const std::string*> fields[] = {
      {"{context.id}", &page.context_id}, {"{context.label}", &page.context_label}, {"{context.title}", &page.context_title}};
  std::string out = hierarchy_id;
  for (const auto& [placeholder, value] : fields) {
    std::string_view name(placeholder);
    for (std::size_t at = 0; (at = out.find(name, at)) != std::string::npos; at += value->size()) {
      if (value->empty()) {
        return fail(FailureKind::bad_response, "hierarchy_id '" + hierarchy_id + "': the roster's context has no " +
                                                   std::string(name.substr(9, name.size() - 10)));
      }
      out.replace(at, name.size(), *value);
    }
  }
  if (out.size() > 255 || !is_xml_safe(out) ||
      std::any_of(out.begin(), out.end(), [](unsigned char c) { return c < 0x20 || c == 0x7F; })) {
    return fail(FailureKind::bad_response, "hierarchy_id '" + hierarchy_id + "' gives '" + clip_for_message(out, 80) +
                                               "', which is no usable itslearning id (control characters, or over 255 bytes)");
  }
  return out;
}

namespace {
const std::string& key_field(const Member& member, const PlanOptions& job) {
  if (job.person_key == config::PersonKeyField::user_id) return member.user_id;
  if (job.person_key == config::PersonKeyField::email) return member.email;
  return member.lis_person_sourcedid;
}
}  // namespace

std::string person_key(const Member& member, const PlanOptions& job) {
  const std::string& key = key_field(member, job);
  return key.empty() ? std::string() : job.person_key_prefix + key;
}

Classification classify(const Member& member, const PlanOptions& job) {
  Classification c;
  const std::string* key = &key_field(member, job);
  if (!key->empty()) c.person_key = job.person_key_prefix + *key;

  auto in_filter = [&] {
    return std::any_of(member.roles.begin(), member.roles.end(),
                       [&](const std::string& role) { return role_matches(job.role_filter, role); });
  };
  if (!job.role_filter.empty() && !in_filter()) {
    c.reason = SkipReason::role_filter;
  } else if (!member.active) {
    c.reason = SkipReason::inactive;
  } else if (job.skip_test_users && has_test_user_role(member.roles)) {
    c.reason = SkipReason::test_user;
  } else if (key->empty()) {
    c.reason = SkipReason::no_person_key;
  } else if (!is_xml_safe(c.person_key) || c.person_key.size() > 255) {
    c.reason = SkipReason::invalid_person_key;
  } else if (auto role = map_roles(member.roles, job.role_map)) {
    c.eligible = true;
    c.role_type = std::move(*role);
  } else {
    c.reason = SkipReason::unmapped_role;
  }
  return c;
}

PagePlan plan_page(const RosterPage& page, const PlanOptions& job, std::int64_t run_id,
                   const MembershipLookup& lookup) {
  PagePlan plan;
  plan.members = static_cast<int>(page.members.size()) + page.malformed_members;
  plan.skipped[static_cast<std::size_t>(SkipReason::malformed)] += page.malformed_members;
  std::unordered_set<std::string> planned_on_page;  // a page may repeat a person too
  struct Eligible {
    std::string person_key;
    std::string role_type;
  };
  std::vector<Eligible> eligible;
  std::vector<std::string> keys;

  for (const Member& m : page.members) {
    Classification c = classify(m, job);
    SnapshotRow row;
    row.user_id = m.user_id;
    row.person_key = is_xml_safe(c.person_key) ? c.person_key : std::string();
    for (const auto& r : m.roles) row.roles += (row.roles.empty() ? "" : " ") + r;
    row.status = m.status.empty() ? "Active" : m.status;
    row.outcome = c.eligible ? "eligible" : to_string(c.reason);
    if (c.eligible) row.role_type = c.role_type;
    row.active = m.active;
    plan.snapshot.push_back(std::move(row));

    if (!c.eligible) {
      ++plan.skipped[static_cast<std::size_t>(c.reason)];
      continue;
    }
    if (!planned_on_page.insert(c.person_key).second) {
      ++plan.already_present;
      continue;
    }
    keys.push_back(c.person_key);
    eligible.push_back({std::move(c.person_key), std::move(c.role_type)});
  }

  std::vector<std::optional<StoredMembership>> found;
  if (!keys.empty()) found = lookup(keys);
  found.resize(keys.size());
  bool all_created = true;
  for (std::size_t i = 0; i < eligible.size(); ++i) {
    auto& e = eligible[i];
    const std::optional<StoredMembership>& stored = found[i];
    if (!stored) {
      plan.writes.push_back({membership_id(e.person_key, job.hierarchy_id), std::move(e.person_key),
                             std::move(e.role_type), true, 0});
      continue;
    }
    // The group's role: when another job of the group lists the person
    // with another role, the first-ranking one wins, whichever job runs.
    std::string role = group_role(e.role_type, stored->other_roles);
    const bool owned = !stored->adopted || job.own_adopted;
    if (stored->held || stored->withdrawn) {
      ++plan.deferred;  // a person decides first (approve/reject), or itslearning removed it on purpose
    } else if (!owned) {
      // Not rostersync's: whatever manages it keeps it; a role difference is reported, never sent.
      ++plan.already_present;
      if (stored->state == MembershipState::created && stored->role_type != role) ++plan.not_owned_role_differs;
    } else if (stored->state == MembershipState::created && stored->role_type == role) {
      ++plan.already_present;
    } else if (stored->queued_run == run_id) {
      ++plan.already_present;  // queued earlier in this run (offset paging repeated it)
      all_created = false;
    } else if (stored->state == MembershipState::failed || stored->waiting) {
      ++plan.deferred;
    } else if (stored->state == MembershipState::created) {
      // The mapped role changed: the same membership gets the new role.
      PlannedWrite w{stored->membership_id, std::move(e.person_key), std::move(role), false, stored->refusals,
                     MembershipOp::update, stored->role_type};
      plan.writes.push_back(std::move(w));
    } else {
      // Pending (a write not confirmed yet: resent under its id, with the
      // role wanted now), or deleted earlier and back in the roster: created
      // again under the same id, as is a member whose delete was pending.
      MembershipOp op = stored->state == MembershipState::pending && stored->op == MembershipOp::update
                            ? MembershipOp::update
                            : MembershipOp::create;
      PlannedWrite w{stored->membership_id, std::move(e.person_key), std::move(role), false, stored->refusals, op};
      if (op == MembershipOp::update && stored->role_type != w.role_type) w.old_role = stored->role_type;
      plan.writes.push_back(std::move(w));
    }
  }
  plan.settled = all_created && plan.writes.empty() && plan.deferred == 0;
  plan.settles_when_sent = plan.deferred == 0;
  return plan;
}

std::uint64_t options_digest(const PlanOptions& job, const std::string& target) {
  std::uint64_t h = hash64(target);
  h = hash_combine(h, static_cast<std::uint64_t>(job.person_key));
  h = hash_combine(h, hash64(job.person_key_prefix));
  for (const auto& rule : job.role_map) h = hash_combine(hash_combine(h, hash64(rule.lti)), hash64(rule.role_type));
  h = hash_combine(h, job.skip_test_users ? 1 : 2);
  h = hash_combine(h, hash64(job.hierarchy_id));
  h = hash_combine(h, job.own_adopted ? 3 : 4);
  return hash_combine(h, hash64(job.role_filter));
}

std::uint64_t page_digest(const RosterPage& page, std::uint64_t options) {
  std::uint64_t h = hash_combine(options, static_cast<std::uint64_t>(page.malformed_members));
  for (const Member& m : page.members) {
    std::uint64_t member = hash64(m.user_id);
    member = hash64(m.status, member);
    member = hash64(m.lis_person_sourcedid, member);
    member = hash64(m.email, member);
    member = hash_combine(member, m.active ? 1 : 2);
    for (const auto& r : m.roles) member = hash64(r, member);
    h = hash_combine(h, hash_combine(member, m.roles.size()));
  }
  return hash_combine(h, page.members.size());
}

}  // namespace rostersync::sync
