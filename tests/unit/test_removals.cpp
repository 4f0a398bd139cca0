// One desired state per group: departures, roles, ownership, walk trust and
// the deletion and restore guards, as pure decisions. The Group fixture
// replays what the engine does at the end of each complete walk (judge the
// walk, update the walking job's listings, decide for the whole group,
// apply) over event sequences: two jobs feeding one group in both run
// orders, empty and moving rosters, configuration changes between walks.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "sync/planning/reconcile.hpp"
#include "sync/planning/removals.hpp"

using namespace rostersync;
using namespace rostersync::sync;

namespace {

GroupRow row(std::string id, std::string person, MembershipState state = MembershipState::created) {
  GroupRow r;
  r.membership_id = std::move(id);
  r.person_key = std::move(person);
  r.role_type = "Learner";
  r.job = "a";
  r.state = state;
  return r;
}

FeedingJob feeding(std::string name, int grace = 2, bool remove = true) {
  FeedingJob j;
  j.name = std::move(name);
  j.remove_departed = remove;
  j.grace_walks = grace;
  return j;
}

// A group as the state database holds it, and the engine's end-of-walk steps.
struct Group {
  std::vector<GroupRow> rows;
  std::vector<Listing> listings;
  std::map<std::string, FeedingJob> jobs;
  std::set<std::string> empty_accepted;
  std::vector<std::string> deleted;  // in order
  std::string held_because;
  std::vector<PlannedWrite> held;

  explicit Group(std::vector<FeedingJob> js) {
    for (auto& j : js) jobs[j.name] = j;
  }
  std::vector<FeedingJob> feeding_jobs() const {
    std::vector<FeedingJob> out;
    for (const auto& [n, j] : jobs) out.push_back(j);
    return out;
  }
  GroupRow* find(const std::string& person) {
    for (auto& r : rows) {
      if (r.person_key == person) return &r;
    }
    return nullptr;
  }
  // A walk of `job` listing `persons` (planned pages write the listings; new persons get a membership, confirmed).
  WalkTrust walk(const std::string& job, const std::set<std::string>& persons, int repeated = 0, int pages = 1) {
    for (const auto& p : persons) {
      auto it = std::find_if(listings.begin(), listings.end(),
                             [&](const Listing& l) { return l.job == job && l.person_key == p; });
      if (it == listings.end()) listings.push_back({job, p, "Learner", false, 0});
      else it->absent_walks = 0, it->role_type = "Learner";
      GroupRow* r = find(p);
      if (!r) rows.push_back(row("rs:" + p, p));
      else if (r->state == MembershipState::deleted && !r->withdrawn) r->state = MembershipState::created;  // created again
    }
    const GroupPolicy policy = group_policy(feeding_jobs());
    int owned = 0;
    for (const auto& r : rows) owned += owned_now(r, policy.own_adopted) && confirmed(r);
    WalkTrust trust = judge_walk({static_cast<int>(persons.size()), owned, repeated, empty_accepted.count(job) > 0});
    if (trust != WalkTrust::counts) return trust;
    std::unordered_set<std::string> seen(persons.begin(), persons.end());
    std::vector<FeedingJob> js = feeding_jobs();
    if (pages > 1) {
      for (auto& j : js) {
        if (j.name == job) j.grace_walks = std::max(j.grace_walks, 2);
      }
    }
    apply_absences(listings, job, walk_absences(job, listings, rows, seen));
    GroupDecision d = decide_group(rows, listings, js);
    held = d.held;
    held_because = d.held_because;
    for (const auto& w : d.removals) {
      for (auto& r : rows) {
        if (r.membership_id == w.membership_id) r.state = MembershipState::deleted;
      }
      deleted.push_back(w.person_key);
    }
    for (auto& r : rows) {
      if (std::count(d.back.begin(), d.back.end(), r.membership_id)) r.departure.clear(), r.removal_approved = false;
      for (const auto& h : d.held) {
        if (h.membership_id == r.membership_id) r.departure = h.reason;
      }
    }
    return trust;
  }
  bool holds(const std::string& person) {
    GroupRow* r = find(person);
    return r && r->state != MembershipState::deleted;
  }
};

std::set<std::string> people(int from, int to) {
  std::set<std::string> out;
  for (int i = from; i <= to; ++i) out.insert("p" + std::to_string(i));
  return out;
}

}  // namespace

TEST(GroupState, CrossListedStudentWhoLeavesOneSectionKeepsTheMembershipInEitherRunOrder) {
  for (bool a_first : {true, false}) {
    Group g({feeding("a"), feeding("b")});
    g.walk("a", {"s", "x1", "x2", "x3", "x4"});
    g.walk("b", {"s", "y1", "y2", "y3", "y4"});
    // s leaves section a, stays in b: many walks, in this order.
    for (int round = 0; round < 6; ++round) {
      if (a_first) {
        g.walk("a", {"x1", "x2", "x3", "x4"});
        g.walk("b", {"s", "y1", "y2", "y3", "y4"});
      } else {
        g.walk("b", {"s", "y1", "y2", "y3", "y4"});
        g.walk("a", {"x1", "x2", "x3", "x4"});
      }
      EXPECT_TRUE(g.holds("s")) << "round " << round << (a_first ? " (a first)" : " (b first)");
    }
    EXPECT_TRUE(g.deleted.empty());
    // Now s leaves b too: deleted once both jobs have walked their grace without s.
    g.walk("b", {"y1", "y2", "y3", "y4"});
    EXPECT_TRUE(g.holds("s")) << "b's first walk without s";
    g.walk("b", {"y1", "y2", "y3", "y4"});
    EXPECT_FALSE(g.holds("s"));
    EXPECT_EQ(g.deleted, std::vector<std::string>{"s"}) << "deleted once, never re-created and deleted again";
  }
}

TEST(GroupState, AJobThatNeverListedThePersonMustHaveWalkedSinceToLetThemGo) {
  Group g({feeding("a"), feeding("b")});
  g.walk("a", people(1, 10));
  g.walk("a", people(2, 10));
  g.walk("a", people(2, 10));
  EXPECT_TRUE(g.holds("p1")) << "b has not walked since p1's membership exists: it has had no say";
  g.walk("b", {"q1"});
  EXPECT_TRUE(g.holds("p1")) << "b's first walk without p1";
  g.walk("b", {"q1"});
  EXPECT_FALSE(g.holds("p1"));
}

TEST(GroupState, AJobWithoutRemoveDepartedKeepsTheWholeGroup) {
  Group g({feeding("a"), feeding("b", 2, false)});
  g.walk("a", people(1, 10));
  g.walk("b", {"q"});
  for (int i = 0; i < 4; ++i) g.walk("a", people(2, 10)), g.walk("b", {"q"});
  EXPECT_TRUE(g.holds("p1"));
}

TEST(GroupState, AJobNoLongerConfiguredKeepsWhatItListedLast) {
  Group g({feeding("a"), feeding("b")});
  g.walk("a", people(1, 10));
  g.walk("b", people(1, 5));
  g.jobs.erase("b");  // b's course file is removed between runs
  for (int i = 0; i < 4; ++i) g.walk("a", people(6, 10));
  EXPECT_TRUE(g.holds("p1")) << "b's last walk listed p1: no run of a undoes it";
  EXPECT_TRUE(g.deleted.empty());
}

TEST(GroupState, AnEmptyRosterIsHeldOnEveryWalkAndErasesNothingWhateverTheLimits) {
  FeedingJob a = feeding("a");
  a.limits = {1'000'000, 100};
  Group g({a});
  g.walk("a", people(1, 30));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(g.walk("a", {}), WalkTrust::empty_held) << "empty walk " << i + 1;
  }
  EXPECT_TRUE(g.deleted.empty());
  for (const Listing& l : g.listings) EXPECT_EQ(l.absent_walks, 0) << "the walks were not counted";
  // The roster comes back with one real leaver: it counts from here.
  g.walk("a", people(2, 30));
  g.walk("a", people(2, 30));
  EXPECT_EQ(g.deleted, std::vector<std::string>{"p1"});
  // An operator who approves the empty roster lets its walks count, behind the guards.
  g.empty_accepted.insert("a");
  EXPECT_EQ(g.walk("a", {}), WalkTrust::counts);
  g.walk("a", {});
  EXPECT_EQ(g.deleted.size(), 30u) << "limits at 100 %: the approved empty roster empties the group";
}

TEST(GroupState, AnEmptyRosterAtDefaultLimitsIsHeldByThePercentGuardAfterApproval) {
  Group g({feeding("a")});
  g.walk("a", people(1, 30));
  g.empty_accepted.insert("a");
  g.walk("a", {});
  g.walk("a", {});
  EXPECT_TRUE(g.deleted.empty());
  EXPECT_EQ(g.held.size(), 30u);
  EXPECT_NE(g.held_because.find("max_delete_percent (20%)"), std::string::npos) << g.held_because;
}

TEST(GroupState, ARosterThatMovedUnderTheWalkCountsForNobodyAndOneMultiPageWalkNeverDecides) {
  Group g({feeding("a", 1)});
  g.walk("a", people(1, 30));
  // Offset paging: p5 left during the walk, p15 was skipped and someone came twice.
  EXPECT_EQ(g.walk("a", people(1, 14), 1, 3), WalkTrust::moved);
  EXPECT_TRUE(g.deleted.empty());
  // No repeat seen, yet p15 was skipped: at grace 1 a multi-page walk still needs a second one.
  g.walk("a", [] { auto s = people(1, 30); s.erase("p15"); s.erase("p5"); return s; }(), 0, 3);
  EXPECT_TRUE(g.deleted.empty()) << "one walk over several pages decides nobody's departure";
  g.walk("a", [] { auto s = people(1, 30); s.erase("p5"); return s; }(), 0, 3);
  EXPECT_TRUE(g.holds("p15")) << "the member who never left is never deleted";
  EXPECT_EQ(g.deleted, std::vector<std::string>{"p5"});
}

TEST(GroupState, APercentGuardCountsOnlyConfirmedOwnedMemberships) {
  Group g({feeding("a")});
  g.walk("a", people(1, 10));
  // 40 more planned but never confirmed (and parked): they would not be deleted, they do not dilute the guard.
  for (int i = 11; i <= 50; ++i) g.rows.push_back(row("rs:p" + std::to_string(i), "p" + std::to_string(i), MembershipState::failed));
  g.walk("a", people(4, 50));
  g.walk("a", people(4, 50));
  EXPECT_EQ(g.held.size(), 3u) << "3 of 10 owned confirmed is 30 %, over 20 %";
  EXPECT_TRUE(g.deleted.empty());
}

TEST(GroupState, OwnAdoptedIsReadWhenTheDecisionIsMadeInBothDirections) {
  FeedingJob a = feeding("a");
  a.own_adopted = true;
  a.limits = {500, 100};
  Group g({a});
  g.walk("a", people(1, 5));
  GroupRow adopted = row("itsla-1", "t");
  adopted.adopted = true;
  g.rows.push_back(adopted);
  g.walk("a", people(1, 5));  // t absent once
  g.jobs["a"].own_adopted = false;  // switched off between runs
  g.walk("a", people(1, 5));
  EXPECT_TRUE(g.holds("t")) << "adopted while own_adopted was on, not owned now";
  g.jobs["a"].own_adopted = true;  // and on again
  g.walk("a", people(1, 5));
  EXPECT_FALSE(g.holds("t"));
}

TEST(GroupState, OnlyOwnedConfirmedMembershipsAreEverDeleted) {
  Group g({feeding("a")});
  g.rows = {row("rs:b", "b", MembershipState::pending), row("rs:c", "c", MembershipState::failed)};
  GroupRow rejected = row("rs:d", "d");
  rejected.removal_rejected = true;
  g.rows.push_back(rejected);
  GroupRow pending_update = row("rs:f", "f", MembershipState::pending);
  pending_update.op = MembershipOp::update;
  g.rows.push_back(pending_update);
  g.jobs["a"].limits = {500, 100};
  g.walk("a", {"z"});
  g.walk("a", {"z"});
  EXPECT_EQ(g.deleted, std::vector<std::string>{"f"});
}

TEST(GroupState, ApprovedAndQueuedDeletionsAreDecidedOthersWaitForTheGuard) {
  std::vector<GroupRow> rows;
  GroupRow approved = row("rs:a", "a");
  approved.removal_approved = true;
  GroupRow queued = row("rs:b", "b", MembershipState::pending);
  queued.op = MembershipOp::remove;
  rows = {approved, queued, row("rs:c", "c"), row("rs:d", "d")};
  std::vector<Listing> ls = {{"j", "a", "", false, 5}, {"j", "b", "", false, 5}, {"j", "c", "", false, 5},
                             {"j", "d", "", false, 0}};
  GroupDecision d = decide_group(rows, ls, {feeding("j")});
  ASSERT_EQ(d.removals.size(), 2u) << "c alone is 25 % of 4: held";
  EXPECT_EQ(d.removals[0].membership_id, "rs:a");
  EXPECT_EQ(d.removals[1].membership_id, "rs:b");
  ASSERT_EQ(d.held.size(), 1u);
  EXPECT_EQ(d.held[0].membership_id, "rs:c");
}

TEST(GroupState, AnInactiveListingLetsGoOnlyWhereNoOtherJobListsThePersonActive) {
  std::vector<GroupRow> rows = {row("rs:s", "s"), row("rs:x", "x"), row("rs:y", "y"), row("rs:z", "z"),
                                row("rs:w", "w")};
  FeedingJob a = feeding("a"), b = feeding("b");
  a.limits = b.limits = {500, 100};
  std::vector<Listing> ls = {{"a", "s", "", true, 0}, {"b", "s", "Learner", false, 0}, {"a", "x", "", true, 0},
                             {"b", "x", "", false, 3}};
  GroupDecision d = decide_group(rows, ls, {a, b});
  ASSERT_EQ(d.removals.size(), 1u);
  EXPECT_EQ(d.removals[0].membership_id, "rs:x");
  EXPECT_EQ(d.removals[0].reason, "inactive");
}

TEST(GroupState, TheFirstRankingRoleWinsWhateverTheOrder) {
  EXPECT_EQ(group_role("Learner", "Instructor"), "Instructor");
  EXPECT_EQ(group_role("Instructor", "Learner"), "Instructor");
  EXPECT_EQ(group_role("TeachingAssistant", "Learner Instructor"), "Instructor");
  EXPECT_EQ(group_role("Learner", ""), "Learner");
  EXPECT_EQ(group_role("Guest", "Default"), "Default") << "other roleTypes: alphabetical";
  EXPECT_EQ(group_role("Learner", "Guest"), "Learner");
  EXPECT_LT(role_rank("Administrator"), role_rank("Instructor"));
}

TEST(GroupState, GroupPolicyTakesTheStrictestOfItsConfiguredJobs) {
  FeedingJob a = feeding("a"), b = feeding("b", 2, false);
  a.own_adopted = true;
  a.limits = {100, 50};
  b.limits = {500, 10};
  FeedingJob gone{"c", false};
  GroupPolicy p = group_policy({a, b, gone});
  EXPECT_FALSE(p.remove);
  EXPECT_FALSE(p.own_adopted);
  EXPECT_EQ(p.limits.max_deletes, 100);
  EXPECT_EQ(p.limits.max_delete_percent, 10);
}

TEST(RestoreGuard, HoldsAboveTheLimitsAndAlwaysAfterAnEmptyRead) {
  RemovalLimits limits{500, 20};
  EXPECT_FALSE(judge_restores(0, 100, 0, limits).hold);
  EXPECT_FALSE(judge_restores(20, 100, 80, limits).hold);
  EXPECT_TRUE(judge_restores(21, 100, 79, limits).hold);
  EXPECT_TRUE(judge_restores(501, 10'000, 9'499, limits).hold);
  RestoreVerdict empty = judge_restores(1, 1, 0, RemovalLimits{1000, 100});
  EXPECT_TRUE(empty.hold);
  EXPECT_NE(empty.reason.find("listed the group empty"), std::string::npos) << empty.reason;
}

TEST(Reconcile, AdoptsWhatIsThereSoNoPairGetsASecondMembership) {
  std::vector<GroupRow> rows = {row("rs:ours-b", "b", MembershipState::pending)};  // planned, never confirmed
  std::vector<RemoteMembership> found = {{"itsla-A", "g", "a", "Learner"},
                                         {"itsla-B", "g", "b", "Instructor"},
                                         {"itsla-A2", "g", "a", "Learner"}};  // a's second one
  ReconcilePlan plan = plan_reconcile(rows, found, false);
  ASSERT_EQ(plan.adopt.size(), 2u);
  EXPECT_EQ(plan.adopt[0].found.membership_id, "itsla-A");
  EXPECT_FALSE(plan.adopt[0].replaces);
  EXPECT_EQ(plan.adopt[1].found.membership_id, "itsla-B");
  EXPECT_EQ(plan.adopt[1].replaces, std::optional<std::string>("rs:ours-b"));
  ASSERT_EQ(plan.duplicates.size(), 1u);
  EXPECT_EQ(plan.duplicates[0].membership_id, "itsla-A2");
  EXPECT_TRUE(plan.restore.empty());
  EXPECT_TRUE(plan.changes());
}

TEST(Reconcile, RestoresOnlyWhatRostersyncOwnsAndConfirmsWhatIsThere) {
  GroupRow pending_delete = row("id-d", "d", MembershipState::pending);
  pending_delete.op = MembershipOp::remove;
  GroupRow adopted = row("itsla-f", "f");
  adopted.adopted = true;
  std::vector<GroupRow> rows = {row("id-a", "a"), row("id-b", "b"), row("id-c", "c", MembershipState::pending),
                                pending_delete, row("id-e", "e", MembershipState::deleted), adopted};
  std::vector<RemoteMembership> found = {{"id-a", "g", "a", "Learner"}, {"id-c", "g", "c", "Instructor"}};
  ReconcilePlan plan = plan_reconcile(rows, found, false);
  EXPECT_EQ(plan.present, 1);                                  // a: as stored
  EXPECT_EQ(plan.restore, std::vector<std::string>{"id-b"});  // b: ours, confirmed once, gone
  EXPECT_EQ(plan.lost_foreign, std::vector<std::string>{"itsla-f"}) << "its owner removed it: not ours to restore";
  ASSERT_EQ(plan.confirm.size(), 1u);                          // c: its create did reach itslearning
  EXPECT_EQ(plan.confirm[0].role_type, "Instructor");
  EXPECT_EQ(plan.gone, std::vector<std::string>{"id-d"});     // its delete did
  EXPECT_TRUE(plan.adopt.empty());
  EXPECT_TRUE(plan.duplicates.empty());
  // With own_adopted in force it is rostersync's, and restored.
  EXPECT_EQ(plan_reconcile(rows, found, true).restore, (std::vector<std::string>{"id-b", "itsla-f"}));
}

TEST(Reconcile, AGroupAsStoredChangesNothing) {
  std::vector<GroupRow> rows = {row("id-a", "a"), row("id-b", "b", MembershipState::deleted)};
  ReconcilePlan plan = plan_reconcile(rows, {{"id-a", "g", "a", "Learner"}}, false);
  EXPECT_FALSE(plan.changes());
  EXPECT_EQ(plan.present, 1);
}
