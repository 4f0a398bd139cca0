// Keeping itslearning right over time, with the real binary and simulator
// over loopback: role updates, guarded departures, adoption of memberships
// that already exist, restore by reconcile, and the dry-run plan. The
// decisions themselves are unit-tested (test_removals, test_planner); these
// show they are wired to the wire.
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "harness.hpp"

using namespace rostersync::testing;

namespace {

const std::string kKey = "course-1-key";

// Member j of course-1 (the simulator generates user ids "u<hex>" and
// person keys sis-<100000 + j> there; members from 2 on are Learners).
// The hold id `approve` or `reject` without --hold shows ("hold 0123456789ab: ...").
std::string hold_id_in(const std::string& out) {
  std::size_t at = out.find("hold ");
  return at == std::string::npos ? std::string() : out.substr(at + 5, 12);
}

std::string user_of(const Simulator& sim, int j) {
  boost::json::object rosters = sim.rosters();
  return std::string(rosters.at(kKey).as_object().at("members").as_array().at(j).as_object().at("user_id").as_string());
}
std::string person(int j) { return "sis-" + std::to_string(100000 + j); }

// (id, role) of the simulator's memberships for `person` in h-1.
std::vector<std::pair<std::string, std::string>> sim_pairs_of(const Simulator& sim, const std::string& who) {
  std::vector<std::pair<std::string, std::string>> out;
  boost::json::object state = sim.state();
  for (const auto& v : state.at("memberships").as_array()) {
    const auto& m = v.as_object();
    if (m.at("group").as_string() == "h-1" && m.at("person").as_string() == who) {
      out.emplace_back(std::string(m.at("id").as_string()), std::string(m.at("role").as_string()));
    }
  }
  return out;
}

long long calls(const Simulator& sim, const char* op) {
  boost::json::object state = sim.state();
  const auto* n = state.at("calls").as_object().if_contains(op);
  return n ? n->as_int64() : 0;
}

}  // namespace

TEST(Upkeep, ARoleChangeReachesItslearningUnderTheSameId) {
  Simulator sim({"--contexts", "1", "--members", "20"});
  Workspace ws;
  ws.configure(sim, course_jobs(1));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  auto before = sim_pairs_of(sim, person(5));
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(before[0].second, "Learner");

  sim.set_roles(kKey, user_of(sim, 5), "Instructor");
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  auto after = sim_pairs_of(sim, person(5));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0], (std::pair<std::string, std::string>{before[0].first, "Instructor"}));
  EXPECT_EQ(calls(sim, "updateMemberships"), 1);
  auto row = ws.rows("SELECT role_type, previous_role, role_changed_at IS NOT NULL, state FROM membership WHERE person_key='" +
                     person(5) + "'");
  ASSERT_EQ(row.size(), 1u);
  EXPECT_EQ(row[0], (std::vector<std::string>{"Instructor", "Learner", "1", "created"}));
  EXPECT_EQ(ws.count("SELECT updated FROM run ORDER BY run_id DESC LIMIT 1"), 1);
  expect_exact_state(sim, ws, 1);
}

TEST(Upkeep, ADepartureIsDeletedOnlyWhenEnabledAndOnlyAfterTheGraceWalks) {
  Simulator sim({"--contexts", "1", "--members", "20"});
  Workspace ws;
  ws.configure(sim, course_jobs(1));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  sim.remove_member(kKey, user_of(sim, 7));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(sim_pairs_of(sim, person(7)).size(), 1u) << "remove_departed is off: nothing is deleted";

  ws.configure(sim, course_jobs(1, "    remove_departed: true\n"));  // departure_grace 2
  // Absence counts from the first walk with removals on: switching them on deletes nobody at once.
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(sim_pairs_of(sim, person(7)).size(), 1u) << "one complete walk without the member is not enough";
  EXPECT_EQ(ws.count("SELECT absent_walks FROM listing WHERE person_key='" + person(7) + "'"), 1);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_TRUE(sim_pairs_of(sim, person(7)).empty());
  EXPECT_EQ(ws.rows("SELECT state, departure FROM membership WHERE person_key='" + person(7) + "'")[0],
            (std::vector<std::string>{"deleted", "departed"}));
  EXPECT_EQ(ws.count("SELECT deleted FROM run ORDER BY run_id DESC LIMIT 1"), 1);
  expect_exact_state(sim, ws, 1);
}

TEST(Upkeep, AFailedWalkAndAnEmptyWalkDeleteNothing) {
  Simulator sim({"--contexts", "1", "--members", "12"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    remove_departed: true\n    departure_grace: 1\n    page_limit: 5\n"));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  std::size_t held = 0;
  sim_memberships(sim, &held);
  ASSERT_GT(held, 10u);

  // The walk fails on page 2, after a member left from page 1.
  sim.remove_member(kKey, user_of(sim, 3));
  sim.post("/_sim/faults", R"({"fail_page": 2})");
  EXPECT_NE(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(sim_pairs_of(sim, person(3)).size(), 1u);
  EXPECT_EQ(calls(sim, "deleteMemberships"), 0);
  sim.post("/_sim/faults", R"({"fail_page": 0})");

  // Everyone leaves: an empty roster where there were members is held.
  boost::json::object rosters = sim.rosters();
  for (const auto& m : rosters.at(kKey).as_object().at("members").as_array()) {
    sim.remove_member(kKey, std::string(m.as_object().at("user_id").as_string()));
  }
  // Several empty walks in a row, at grace 1: each is held, none counts.
  for (int walk = 0; walk < 3; ++walk) ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(calls(sim, "deleteMemberships"), 0);
  std::size_t still = 0;
  sim_memberships(sim, &still);
  EXPECT_EQ(still, held);
  auto hold = ws.rows("SELECT planned, reason FROM write_hold WHERE job='course-1' AND kind='empty_roster'");
  ASSERT_EQ(hold.size(), 1u);
  EXPECT_EQ(hold[0][0], std::to_string(held));
  EXPECT_TRUE(has(hold[0][1], "listed nobody")) << hold[0][1];
  EXPECT_EQ(ws.count("SELECT count(*) FROM listing WHERE absent_walks > 0 AND person_key<>'" + person(3) + "'"), 0)
      << "the empty walks erased nothing the next walk compares with";
  EXPECT_EQ(ws.count("SELECT count(*) FROM roster_member"), static_cast<long long>(held))
      << "nor the snapshot";
  auto [rc, status] = ws.rostersync_output({"status", "--wide"});
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(has(status, "awaiting approval")) << status;
}

TEST(Upkeep, AThresholdHoldDeletesNothingUntilApproveAndRejectClearsIt) {
  Simulator sim({"--contexts", "1", "--members", "30"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    remove_departed: true\n    departure_grace: 1\n    max_delete_percent: 10\n"));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  std::vector<std::string> leaving;
  for (int j = 10; j < 14; ++j) leaving.push_back(user_of(sim, j));
  for (const auto& u : leaving) sim.remove_member(kKey, u);

  ASSERT_EQ(ws.rostersync({"sync"}), 0);  // 4 of 30: over 10 %
  EXPECT_EQ(calls(sim, "deleteMemberships"), 0);
  for (int j = 10; j < 14; ++j) EXPECT_EQ(sim_pairs_of(sim, person(j)).size(), 1u);
  EXPECT_EQ(ws.count("SELECT deletes_held FROM run ORDER BY run_id DESC LIMIT 1"), 4);
  EXPECT_TRUE(has(ws.rows("SELECT reason FROM write_hold")[0][0], "max_delete_percent"));
  // Held again, not deleted, on the next run too.
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(calls(sim, "deleteMemberships"), 0);

  // Shown by name before anything is approved; approve without the hold's id decides nothing.
  auto [src, status] = ws.rostersync_output({"status", "--job", "course-1", "--wide"});
  EXPECT_EQ(src, 0);
  for (int j = 10; j < 14; ++j) EXPECT_TRUE(has(status, person(j))) << status;
  auto [lrc, listed] = ws.rostersync_output({"approve", "--job", "course-1"});
  EXPECT_NE(lrc, 0);
  EXPECT_TRUE(has(listed, "nothing was approved")) << listed;
  const std::string id = hold_id_in(listed);
  ASSERT_EQ(id.size(), 12u) << listed;
  EXPECT_TRUE(has(status, id)) << "status shows the same id";
  EXPECT_NE(ws.rostersync({"approve", "--job", "course-1", "--hold", "000000000000"}), 0);
  auto [rc, out] = ws.rostersync_output({"approve", "--job", "course-1", "--hold", id, "--reason", "left the school"});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(has(out, "4 deletion(s) go")) << out;
  EXPECT_EQ(ws.count("SELECT count(*) FROM write_hold"), 0);
  EXPECT_EQ(ws.rows("SELECT action || ' ' || writes || ' ' || reason FROM decision")[0][0], "approve 4 left the school");
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  for (int j = 10; j < 14; ++j) EXPECT_TRUE(sim_pairs_of(sim, person(j)).empty()) << person(j);
  expect_exact_state(sim, ws, 1);
  EXPECT_NE(ws.rostersync({"approve", "--job", "course-1", "--hold", id}), 0) << "one shot: nothing is held now";

  // Four more leave; this time the operator says no.
  for (int j = 14; j < 18; ++j) sim.remove_member(kKey, user_of(sim, 10));  // the list shifted by four
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  ASSERT_EQ(ws.count("SELECT count(*) FROM write_hold"), 1);
  auto [lrc2, listed2] = ws.rostersync_output({"reject", "--job", "course-1"});
  auto [rrc, rout] = ws.rostersync_output({"reject", "--job", "course-1", "--hold", hold_id_in(listed2)});
  EXPECT_EQ(rrc, 0) << rout;
  EXPECT_EQ(ws.count("SELECT count(*) FROM write_hold"), 0);
  long long deletes_before = calls(sim, "deleteMemberships");
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(calls(sim, "deleteMemberships"), deletes_before);
  EXPECT_EQ(ws.count("SELECT count(*) FROM write_hold"), 0) << "rejected deletions are not planned again";
  for (int j = 14; j < 18; ++j) EXPECT_EQ(sim_pairs_of(sim, person(j)).size(), 1u) << person(j);
}

TEST(Upkeep, APreloadedGroupGetsNoSecondMembership) {
  Simulator sim({"--contexts", "1", "--members", "20"});
  // Made by hand in the itslearning UI before rostersync ran: two members
  // of the roster (one with the wrong role) and someone outside it.
  sim.post("/_sim/memberships", R"([
    {"id": "itsla-6F1D0B2A-0001", "group": "h-1", "person": "sis-100004", "role": "Learner"},
    {"id": "itsla-6F1D0B2A-0002", "group": "h-1", "person": "sis-100005", "role": "Instructor"},
    {"id": "itsla-6F1D0B2A-0003", "group": "h-1", "person": "sis-999999", "role": "Learner"}])");
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    adopt_existing: true\n    remove_departed: true\n    departure_grace: 1\n"));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(calls(sim, "readMembershipsForGroup"), 1);
  EXPECT_EQ(sim_pairs_of(sim, "sis-100004"),
            (std::vector<std::pair<std::string, std::string>>{{"itsla-6F1D0B2A-0001", "Learner"}}));
  // The adopted membership with another role is neither duplicated nor
  // updated: it is not rostersync's (own_adopted is off); the difference is reported.
  EXPECT_EQ(sim_pairs_of(sim, "sis-100005"),
            (std::vector<std::pair<std::string, std::string>>{{"itsla-6F1D0B2A-0002", "Instructor"}}));
  EXPECT_EQ(calls(sim, "updateMemberships"), 0);
  EXPECT_EQ(ws.count("SELECT not_owned_role_differs FROM run ORDER BY run_id ASC LIMIT 1"), 1);
  // Not in the roster, not rostersync's: never deleted.
  EXPECT_EQ(sim_pairs_of(sim, "sis-999999").size(), 1u);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(sim_pairs_of(sim, "sis-999999").size(), 1u);
  EXPECT_EQ(calls(sim, "readMembershipsForGroup"), 1) << "the group is read once, before the first create";
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE origin='adopted'"), 3);
  EXPECT_EQ(ws.count("SELECT adopted FROM run ORDER BY run_id ASC LIMIT 1"), 3);
  // Each person once in the group.
  EXPECT_EQ(ws.count("SELECT count(*) FROM (SELECT person_key FROM membership GROUP BY hierarchy_id, person_key "
                     "HAVING count(*) > 1)"), 0);
  std::size_t ids = 0;
  auto pairs = sim_memberships(sim, &ids);
  EXPECT_EQ(ids, pairs.size()) << "a pair got a second id";

  // `rostersync adopt` reads the group again at the next run.
  EXPECT_EQ(ws.rostersync({"adopt", "--job", "course-1"}), 0);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(calls(sim, "readMembershipsForGroup"), 2);
}

TEST(Upkeep, AMembershipDeletedInItslearningIsRestoredByReconcile) {
  Simulator sim({"--contexts", "1", "--members", "20"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    reconcile_interval: 1h\n"));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(calls(sim, "readMembershipsForGroup"), 1);
  auto lost = sim_pairs_of(sim, person(9));
  ASSERT_EQ(lost.size(), 1u);
  sim.delete_membership(lost[0].first);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);  // within the hour: not read, not noticed
  EXPECT_TRUE(sim_pairs_of(sim, person(9)).empty());
  EXPECT_EQ(calls(sim, "readMembershipsForGroup"), 1);

  ws.exec("UPDATE group_read SET read_at='2000-01-01T00:00:00.000Z'");  // an hour (and more) goes by
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(calls(sim, "readMembershipsForGroup"), 2);
  EXPECT_EQ(sim_pairs_of(sim, person(9)), lost) << "restored under its stored id";
  EXPECT_EQ(ws.count("SELECT restored FROM run ORDER BY run_id DESC LIMIT 1"), 1);
  expect_exact_state(sim, ws, 1);
}

TEST(Upkeep, ThePlanShowsEveryChangeAndSendsNoWrite) {
  Simulator sim({"--contexts", "1", "--members", "20"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    remove_departed: true\n    departure_grace: 1\n"));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  sim.set_roles(kKey, user_of(sim, 5), "Instructor");
  sim.remove_member(kKey, user_of(sim, 8));
  sim.post("/_sim/rosters/" + kKey + "/members",
           R"([{"user_id": "u-new", "lis_person_sourcedid": "sis-new", "roles": ["Learner"]}])");
  long long runs = ws.count("SELECT count(*) FROM run");
  std::string before = ws.rows("SELECT group_concat(membership_id || state || role_type || absent_walks) FROM membership")[0][0];
  boost::json::object state = sim.state();
  long long items = state.at("items_received").as_int64();

  auto [rc, out] = ws.rostersync_output({"plan", "--json"});
  ASSERT_EQ(rc, 0) << out;
  boost::json::object plan = boost::json::parse(out).as_object();
  const auto& job = plan.at("jobs").as_array().at(0).as_object();
  ASSERT_EQ(job.at("creates").as_array().size(), 1u);
  EXPECT_EQ(job.at("creates").as_array()[0].as_object().at("person_key").as_string(), "sis-new");
  ASSERT_EQ(job.at("updates").as_array().size(), 1u);
  EXPECT_EQ(job.at("updates").as_array()[0].as_object().at("old_role").as_string(), "Learner");
  EXPECT_EQ(job.at("updates").as_array()[0].as_object().at("role_type").as_string(), "Instructor");
  ASSERT_EQ(job.at("deletes").as_array().size(), 1u);
  EXPECT_EQ(job.at("deletes").as_array()[0].as_object().at("person_key").as_string(), person(8));
  EXPECT_EQ(job.at("deletes").as_array()[0].as_object().at("reason").as_string(), "departed");

  // Nothing sent, nothing recorded.
  state = sim.state();
  EXPECT_EQ(state.at("items_received").as_int64(), items);
  EXPECT_EQ(ws.count("SELECT count(*) FROM run"), runs);
  EXPECT_EQ(ws.rows("SELECT group_concat(membership_id || state || role_type || absent_walks) FROM membership")[0][0], before);

  auto [trc, text] = ws.rostersync_output({"sync", "--dry-run"});
  EXPECT_EQ(trc, 0);
  EXPECT_TRUE(has(text, "update  " + person(5) + "  Learner -> Instructor")) << text;
  EXPECT_TRUE(has(text, "delete  " + person(8) + "  departed")) << text;
  // And a real sync then does exactly that.
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(ws.rows("SELECT created, updated, deleted FROM run ORDER BY run_id DESC LIMIT 1")[0],
            (std::vector<std::string>{"1", "1", "1"}));
}

TEST(Upkeep, ForgettingAJobDeletesItsMembershipsOnlyWhenAsked) {
  Simulator sim({"--contexts", "2", "--members", "15"});
  sim.post("/_sim/memberships", R"([{"id": "itsla-0002-0001", "group": "h-2", "person": "sis-999", "role": "Learner"}])");
  Workspace ws;
  ws.configure(sim, course_jobs(2, "    adopt_existing: true\n"));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  auto in_group = [&](const std::string& group) {
    int n = 0;
    for (const auto& [g, p, r] : sim_memberships(sim)) n += g == group;
    return n;
  };
  const int course2 = in_group("h-2");
  ASSERT_GT(course2, 10);

  ws.configure(sim, {course_jobs(2, "    adopt_existing: true\n")[0]});  // course-2 removed
  auto [still_rc, still] = ws.rostersync_output({"forget", "--job", "course-1", "--delete-memberships"}, true);
  EXPECT_NE(still_rc, 0);
  EXPECT_TRUE(has(still, "still configured")) << still;

  // Irreversible: every deletion is shown, and nothing goes without the exact count confirmed.
  auto [lrc, listed] = ws.rostersync_output({"forget", "--job", "course-2", "--delete-memberships"});
  EXPECT_NE(lrc, 0);
  EXPECT_TRUE(has(listed, "--confirm " + std::to_string(course2 - 1))) << listed;
  EXPECT_TRUE(has(listed, "delete  its  sis-")) << listed;
  EXPECT_NE(ws.rostersync({"forget", "--job", "course-2", "--delete-memberships", "--confirm", "3"}), 0);
  EXPECT_EQ(in_group("h-2"), course2) << "nothing deleted before the count is confirmed";
  auto [rc, out] = ws.rostersync_output(
      {"forget", "--job", "course-2", "--delete-memberships", "--confirm", std::to_string(course2 - 1)});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(has(out, std::to_string(course2 - 1) + " of " + std::to_string(course2 - 1) + " membership(s) deleted")) << out;
  EXPECT_EQ(in_group("h-2"), 1) << "the adopted membership rostersync does not own stays";
  EXPECT_GT(in_group("h-1"), 10);
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE job='course-2'"), 0);
}

// Two jobs feed one group (cross-listed sections): the group holds the union
// of their rosters, in either run order, with one role per person.
TEST(Upkeep, TwoJobsOfOneGroupNeverUndoEachOtherInEitherRunOrder) {
  for (bool first_course_first : {true, false}) {
    Simulator sim({"--contexts", "2", "--members", "12"});
    Workspace ws;
    const std::string opts = "    remove_departed: true\n    max_delete_percent: 100\n";
    auto jobs = course_jobs(2, opts);
    jobs[1].hierarchy = "h-1";  // section 2 feeds the same itslearning group
    ws.configure(sim, jobs);
    const std::string key2 = "course-2-key";
    // s is in both sections: a learner in one, a teaching assistant's role (Instructor) in the other.
    sim.post("/_sim/rosters/" + kKey + "/members",
             R"([{"user_id": "u-s1", "lis_person_sourcedid": "sis-s", "roles": ["Learner"]}])");
    sim.post("/_sim/rosters/" + key2 + "/members",
             R"([{"user_id": "u-s2", "lis_person_sourcedid": "sis-s", "roles": ["Instructor"]}])");
    auto both = [&] {
      for (const char* job : first_course_first ? std::array{"course-1", "course-2"} : std::array{"course-2", "course-1"}) {
        ASSERT_EQ(ws.rostersync({"sync", "--job", job}), 0) << job;
      }
    };
    both();
    both();
    if (first_course_first) {
      auto [crc, checked] = ws.rostersync_output({"check-config"});
      EXPECT_EQ(crc, 0) << checked;
      EXPECT_TRUE(has(checked, "group 'h-1' (target its) is fed by 2 jobs: course-1, course-2")) << checked;
      auto [src, status] = ws.rostersync_output({"status", "--job", "course-1", "--wide"});
      EXPECT_TRUE(has(status, "course-2")) << "status names the jobs sharing the group\n" << status;
    }
    EXPECT_EQ(sim_pairs_of(sim, "sis-s").size(), 1u) << "one membership for the pair";
    EXPECT_EQ(sim_pairs_of(sim, "sis-s")[0].second, "Instructor") << "the first-ranking role wins";
    const long long updates = calls(sim, "updateMemberships");
    both();
    EXPECT_EQ(calls(sim, "updateMemberships"), updates) << "no flapping between the jobs' roles";

    // s leaves section 1 and stays in section 2: never deleted, whatever the order and the number of walks.
    sim.remove_member(kKey, "u-s1");
    for (int i = 0; i < 3; ++i) both();
    ASSERT_EQ(sim_pairs_of(sim, "sis-s").size(), 1u) << (first_course_first ? "course-1 first" : "course-2 first");
    EXPECT_EQ(calls(sim, "deleteMemberships"), 0);
    EXPECT_EQ(sim_pairs_of(sim, "sis-s")[0].second, "Instructor");

    // s leaves section 2 too: deleted once both have walked their grace without s.
    sim.remove_member(key2, "u-s2");
    both();
    EXPECT_EQ(sim_pairs_of(sim, "sis-s").size(), 1u) << "one walk of each without s is not enough";
    both();
    EXPECT_TRUE(sim_pairs_of(sim, "sis-s").empty());
    EXPECT_EQ(calls(sim, "deleteMemberships"), 1);
    both();
    EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE person_key='sis-s' AND state='deleted'"), 1)
        << "deleted once, not re-created";
  }
}

// Reconcile restores only what rostersync owns, and a mass removal in
// itslearning waits for a person; own_adopted is read at every decision.
TEST(Upkeep, AMassRemovalInItslearningIsHeldAndAForeignMembershipIsNeverRestored) {
  Simulator sim({"--contexts", "1", "--members", "20"});
  sim.post("/_sim/memberships", R"([{"id": "itsla-0001-0001", "group": "h-1", "person": "sis-100004", "role": "Learner"}])");
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    adopt_existing: true\n    reconcile_interval: 1h\n"));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  const std::size_t all = sim_memberships(sim).size();
  ASSERT_GT(all, 10u);
  // The adopted one's owner removes it: not rostersync's to bring back.
  sim.delete_membership("itsla-0001-0001");
  ws.exec("UPDATE group_read SET read_at='2000-01-01T00:00:00.000Z'");
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_TRUE(sim_pairs_of(sim, "sis-100004").empty()) << "not restored, not re-created";
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_TRUE(sim_pairs_of(sim, "sis-100004").empty());

  // End of term: someone removes most of the group in itslearning on purpose.
  for (const auto& [id, person] : [&] {
         std::vector<std::pair<std::string, std::string>> out;
         for (int j = 0; j < 12; ++j) {
           auto pairs = sim_pairs_of(sim, person(j));
           if (!pairs.empty()) out.push_back({pairs[0].first, person(j)});
         }
         return out;
       }()) {
    sim.delete_membership(id);
  }
  const std::size_t left = sim_memberships(sim).size();
  ws.exec("UPDATE group_read SET read_at='2000-01-01T00:00:00.000Z'");
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(sim_memberships(sim).size(), left) << "over the limits: nothing restored";
  EXPECT_EQ(ws.count("SELECT restores_held FROM run ORDER BY run_id DESC LIMIT 1"), 11);
  auto [lrc, listed] = ws.rostersync_output({"reject", "--job", "course-1"});
  EXPECT_TRUE(has(listed, "restore")) << listed;
  auto [rc, out] = ws.rostersync_output({"reject", "--job", "course-1", "--hold", hold_id_in(listed)});
  EXPECT_EQ(rc, 0) << out;
  ws.exec("UPDATE group_read SET read_at='2000-01-01T00:00:00.000Z'");
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(sim_memberships(sim).size(), left) << "a rejected restore stays removed while the person stays listed";
}

TEST(Upkeep, OwnAdoptedSwitchedOffProtectsWhatWasAdoptedWhileItWasOn) {
  Simulator sim({"--contexts", "1", "--members", "20"});
  sim.post("/_sim/memberships", R"([{"id": "itsla-0001-0001", "group": "h-1", "person": "sis-100004", "role": "Instructor"}])");
  Workspace ws;
  const std::string on = "    adopt_existing: true\n    own_adopted: true\n    remove_departed: true\n"
                         "    departure_grace: 1\n    max_delete_percent: 100\n";
  ws.configure(sim, course_jobs(1, on));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(sim_pairs_of(sim, "sis-100004")[0].second, "Learner") << "owned: its role follows the roster";
  // Switched off; the person then leaves the course.
  ws.configure(sim, course_jobs(1, "    adopt_existing: true\n    own_adopted: false\n    remove_departed: true\n"
                                   "    departure_grace: 1\n    max_delete_percent: 100\n"));
  sim.remove_member(kKey, user_of(sim, 4));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(sim_pairs_of(sim, "sis-100004").size(), 1u) << "adopted while own_adopted was on, not owned now";
  // And on again: now it goes.
  ws.configure(sim, course_jobs(1, on));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_TRUE(sim_pairs_of(sim, "sis-100004").empty());
}
