// Departures and the removal guard, and adoption/reconcile of a group as
// itslearning lists it: pure decisions, fed synthetic state.
#include <gtest/gtest.h>

#include "sync/planning/reconcile.hpp"
#include "sync/planning/removals.hpp"

using namespace rostersync;
using namespace rostersync::sync;

namespace {

GroupRow row(std::string id, std::string person, MembershipState state = MembershipState::created, int absent = 0) {
  GroupRow r;
  r.membership_id = std::move(id);
  r.person_key = std::move(person);
  r.role_type = "Learner";
  r.job = "j";
  r.state = state;
  r.absent_walks = absent;
  return r;
}

std::vector<std::string> ids(const std::vector<PlannedWrite>& writes) {
  std::vector<std::string> out;
  for (const auto& w : writes) out.push_back(w.membership_id + ":" + w.reason);
  return out;
}

}  // namespace

TEST(Departures, AMemberGoesOnlyAfterTheGraceWalks) {
  std::vector<GroupRow> rows = {row("id-a", "a"), row("id-b", "b", MembershipState::created, 1), row("id-c", "c")};
  DeparturePlan plan = plan_departures(rows, {"c"}, {}, DepartureRules{2, true});
  // a: first walk without it (1 of 2); b: second (2 of 2): deleted.
  EXPECT_EQ(ids(plan.removals), std::vector<std::string>{"id-b:departed"});
  ASSERT_EQ(plan.absent.size(), 2u);
  EXPECT_EQ(plan.absent[0], (std::pair<std::string, int>{"id-a", 1}));
  EXPECT_EQ(plan.absent[1], (std::pair<std::string, int>{"id-b", 2}));
  EXPECT_EQ(plan.owned, 3);
  EXPECT_EQ(plan.removals[0].op, MembershipOp::remove);
  EXPECT_EQ(plan.decided, 0);
}

TEST(Departures, AnInactiveMemberGoesAtOnceUnlessThatIsSwitchedOff) {
  std::vector<GroupRow> rows = {row("id-a", "a")};
  EXPECT_EQ(ids(plan_departures(rows, {"a"}, {"a"}, {2, true}).removals), std::vector<std::string>{"id-a:inactive"});
  EXPECT_TRUE(plan_departures(rows, {"a"}, {"a"}, {2, false}).removals.empty());
}

TEST(Departures, OnlyOwnedConfirmedMembershipsAreEverDeleted) {
  GroupRow adopted = row("itsla-1", "a", MembershipState::created, 5);
  adopted.owned = false;
  adopted.adopted = true;
  GroupRow never_confirmed = row("id-b", "b", MembershipState::pending, 5);
  GroupRow parked = row("id-c", "c", MembershipState::failed, 5);
  GroupRow rejected = row("id-d", "d", MembershipState::created, 5);
  rejected.removal_rejected = true;
  GroupRow gone = row("id-e", "e", MembershipState::deleted, 5);
  GroupRow pending_update = row("id-f", "f", MembershipState::pending, 5);
  pending_update.op = MembershipOp::update;
  DeparturePlan plan = plan_departures({adopted, never_confirmed, parked, rejected, gone, pending_update}, {}, {}, {2, true});
  EXPECT_EQ(ids(plan.removals), std::vector<std::string>{"id-f:departed"});
  EXPECT_EQ(plan.owned, 4);  // the adopted one and the deleted one are not the job's to delete
}

TEST(Departures, ApprovedAndAlreadyQueuedDeletionsAreDecided) {
  GroupRow approved = row("id-a", "a", MembershipState::created, 3);
  approved.removal_approved = true;
  approved.departure = "departed";
  GroupRow queued = row("id-b", "b", MembershipState::pending, 3);
  queued.op = MembershipOp::remove;
  DeparturePlan plan = plan_departures({approved, queued, row("id-c", "c", MembershipState::created, 1)}, {}, {}, {2, true});
  EXPECT_EQ(plan.removals.size(), 3u);
  EXPECT_EQ(plan.decided, 2);
}

TEST(Departures, AMemberSeenAgainIsResetAndNotDeleted) {
  GroupRow held = row("id-a", "a", MembershipState::created, 4);
  held.departure = "departed";
  held.removal_rejected = true;
  GroupRow queued = row("id-b", "b", MembershipState::pending, 2);
  queued.op = MembershipOp::remove;
  DeparturePlan plan = plan_departures({held, queued, row("id-c", "c")}, {"a", "b", "c"}, {}, {2, true});
  EXPECT_TRUE(plan.removals.empty());
  EXPECT_EQ(plan.back, (std::vector<std::string>{"id-a", "id-b"}));
  EXPECT_TRUE(plan.absent.empty());
}

TEST(RemovalGuard, HoldsAboveTheCountOrThePercentAndAlwaysAnEmptyRoster) {
  RemovalLimits limits{500, 20};
  EXPECT_FALSE(judge_removals(0, 100, 0, 100, limits).hold);  // nothing to delete: nothing to hold
  EXPECT_FALSE(judge_removals(20, 100, 80, 100, limits).hold);  // exactly 20 %
  RemovalVerdict percent = judge_removals(21, 100, 79, 100, limits);
  EXPECT_TRUE(percent.hold);
  EXPECT_NE(percent.reason.find("max_delete_percent"), std::string::npos) << percent.reason;
  RemovalVerdict count = judge_removals(501, 10'000, 9'499, 10'000, limits);
  EXPECT_TRUE(count.hold);
  EXPECT_NE(count.reason.find("max_deletes (500)"), std::string::npos) << count.reason;
  EXPECT_FALSE(judge_removals(500, 10'000, 9'500, 10'000, limits).hold);
  RemovalVerdict empty = judge_removals(1, 1, 0, 1, RemovalLimits{1000, 100});
  EXPECT_TRUE(empty.hold);
  EXPECT_NE(empty.reason.find("came back empty"), std::string::npos) << empty.reason;
}

TEST(Reconcile, AdoptsWhatIsThereSoNoPairGetsASecondMembership) {
  std::vector<GroupRow> rows = {row("rs:ours-b", "b", MembershipState::pending)};  // planned, never confirmed
  std::vector<RemoteMembership> found = {{"itsla-A", "g", "a", "Learner"},
                                         {"itsla-B", "g", "b", "Instructor"},
                                         {"itsla-A2", "g", "a", "Learner"}};  // a's second one
  ReconcilePlan plan = plan_reconcile(rows, found);
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

TEST(Reconcile, RestoresWhatWentMissingAndConfirmsWhatIsThere) {
  GroupRow pending_delete = row("id-d", "d", MembershipState::pending);
  pending_delete.op = MembershipOp::remove;
  std::vector<GroupRow> rows = {row("id-a", "a"), row("id-b", "b"), row("id-c", "c", MembershipState::pending),
                                pending_delete, row("id-e", "e", MembershipState::deleted)};
  std::vector<RemoteMembership> found = {{"id-a", "g", "a", "Learner"}, {"id-c", "g", "c", "Instructor"}};
  ReconcilePlan plan = plan_reconcile(rows, found);
  EXPECT_EQ(plan.present, 1);                                  // a: as stored
  EXPECT_EQ(plan.restore, std::vector<std::string>{"id-b"});  // b: ours, confirmed once, gone
  ASSERT_EQ(plan.confirm.size(), 1u);                          // c: its create did reach itslearning
  EXPECT_EQ(plan.confirm[0].role_type, "Instructor");
  EXPECT_EQ(plan.gone, std::vector<std::string>{"id-d"});     // its delete did
  EXPECT_TRUE(plan.adopt.empty());
  EXPECT_TRUE(plan.duplicates.empty());
}

TEST(Reconcile, AGroupAsStoredChangesNothing) {
  std::vector<GroupRow> rows = {row("id-a", "a"), row("id-b", "b", MembershipState::deleted)};
  ReconcilePlan plan = plan_reconcile(rows, {{"id-a", "g", "a", "Learner"}});
  EXPECT_FALSE(plan.changes());
  EXPECT_EQ(plan.present, 1);
}
