// End to end: the real rostersync binary against the real simulator over
// loopback, with a real SQLite state database.
#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "domain/version.hpp"
#include "harness.hpp"

using namespace rostersync::testing;
namespace json = boost::json;

namespace {

using Triple = std::tuple<std::string, std::string, std::string>;

std::set<Triple> sim_memberships(const json::object& state) {
  std::set<Triple> out;
  for (const auto& v : state.at("memberships").as_array()) {
    const auto& m = v.as_object();
    out.emplace(std::string(m.at("group").as_string()), std::string(m.at("person").as_string()),
                std::string(m.at("role").as_string()));
  }
  return out;
}

std::map<std::string, Triple> sim_by_id(const json::object& state) {
  std::map<std::string, Triple> out;
  for (const auto& v : state.at("memberships").as_array()) {
    const auto& m = v.as_object();
    out[std::string(m.at("id").as_string())] = {std::string(m.at("group").as_string()),
                                                std::string(m.at("person").as_string()),
                                                std::string(m.at("role").as_string())};
  }
  return out;
}

long long num(const json::object& o, const char* key) { return o.at(key).to_number<long long>(); }

}  // namespace

TEST(SyncEndToEnd, FirstSyncCreatesExactlyOneMembershipPerEligibleMemberWithTheRightRole) {
  Simulator sim({"--contexts", "4", "--members", "60", "--mix", "--seed", "11"});
  Workspace ws;
  auto jobs = course_jobs(4, "    page_limit: 25\n");
  jobs[1].extra += "    auth: ltik\n";  // LTIK-AUTH-V2 works as well as SERVICE-AUTH-V1
  ws.configure(sim, jobs);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);

  auto state = sim.state();
  // Every request (roster pages and SOAP calls alike) names this build.
  EXPECT_EQ(json::serialize(state.at("user_agents")), "[\"rostersync/" + std::string(rostersync::kVersion) + "\"]");
  EXPECT_EQ(ws.rows("SELECT value FROM meta WHERE key='rostersync_version'").at(0).at(0), rostersync::kVersion);
  auto expected = expected_memberships(sim.rosters(), course_hierarchies(4));
  ASSERT_EQ(expected.size(), 4u * (60 - 4));  // 4 members per course are skipped by design
  EXPECT_EQ(sim_memberships(state), expected);
  EXPECT_EQ(state.at("memberships").as_array().size(), expected.size());  // one id per pair

  // The ids in SQLite are exactly the simulator's, for the same pairs, all created.
  auto by_id = sim_by_id(state);
  auto rows = ws.rows("SELECT membership_id, hierarchy_id, person_key, role_type, state FROM membership");
  ASSERT_EQ(rows.size(), by_id.size());
  for (const auto& r : rows) {
    ASSERT_TRUE(by_id.count(r[0])) << r[0];
    EXPECT_EQ(by_id[r[0]], Triple(r[1], r[2], r[3]));
    EXPECT_EQ(r[4], "created");
  }
  // A person key full of XML metacharacters made it through unharmed.
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE person_key LIKE '%O''Brien&Co<x>\"'"), 4);
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE outcome='ok' AND pages=3 AND members_seen=60 AND created=56"), 4);
}

TEST(SyncEndToEnd, SecondSyncSendsNoCreateMemberships) {
  Simulator sim({"--contexts", "3", "--members", "40", "--mix"});
  Workspace ws;
  ws.configure(sim, course_jobs(3, "    page_limit: 15\n"));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  auto calls = num(sim.state(), "create_calls");
  ASSERT_GT(calls, 0);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(num(sim.state(), "create_calls"), calls);
  auto last = ws.rows("SELECT created, already_present, new_members FROM run WHERE run_id > 3");
  ASSERT_EQ(last.size(), 3u);
  for (const auto& r : last) EXPECT_EQ(r, (std::vector<std::string>{"0", "36", "0"}));
}

TEST(SyncEndToEnd, OnlyMembersAddedInTheSimulatorAreCreatedNextTime) {
  Simulator sim({"--contexts", "2", "--members", "30"});
  Workspace ws;
  ws.configure(sim, course_jobs(2, "    page_limit: 10\n"));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  auto before = sim.state();
  sim.post("/_sim/rosters/course-2-key/members",
           R"([{"user_id":"new-1","lis_person_sourcedid":"sis-new-1","roles":["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]},
               {"user_id":"new-2","lis_person_sourcedid":"sis-new-2","roles":["Instructor"],"status":"Active"},
               {"user_id":"new-3","lis_person_sourcedid":"sis-new-3","roles":["Learner"],"status":"Inactive"}])");
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  auto after = sim.state();
  EXPECT_EQ(num(after, "items_received") - num(before, "items_received"), 2);
  auto added = sim_memberships(after);
  for (const auto& m : sim_memberships(before)) added.erase(m);
  EXPECT_EQ(added, (std::set<Triple>{{"h-2", "sis-new-1", "Learner"}, {"h-2", "sis-new-2", "Instructor"}}));
  EXPECT_EQ(ws.count("SELECT new_members FROM run WHERE job='course-2' ORDER BY run_id DESC LIMIT 1"), 3);
  EXPECT_EQ(ws.count("SELECT count(*) FROM roster_member WHERE job='course-2'"), 33);
}

TEST(SyncEndToEnd, SkippedMembersAreCountedPerReason) {
  Simulator sim({"--contexts", "2", "--members", "20", "--mix"});
  Workspace ws;
  ws.configure(sim, course_jobs(2));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  auto runs = ws.rows("SELECT skipped_inactive, skipped_test_user, skipped_no_person_key, skipped_unmapped_role, "
                      "skipped_malformed, created FROM run");
  ASSERT_EQ(runs.size(), 2u);
  for (const auto& r : runs) EXPECT_EQ(r, (std::vector<std::string>{"1", "1", "1", "1", "0", "16"}));
  EXPECT_EQ(ws.count("SELECT count(*) FROM roster_member WHERE outcome='test_user'"), 2);
  EXPECT_EQ(ws.count("SELECT count(*) FROM roster_member WHERE outcome='no_person_key' AND person_key IS NULL"), 2);
}

TEST(SyncEndToEnd, WalkFailingHalfWayRecordsAFailedRun) {
  Simulator sim({"--contexts", "1", "--members", "100"});
  sim.post("/_sim/faults", R"({"fail_page": 3})");
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    page_limit: 20\n"));
  EXPECT_EQ(ws.rostersync({"sync"}), 1);
  auto run = ws.rows("SELECT outcome, pages, members_seen, error FROM run");
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0][0], "failed");
  EXPECT_EQ(run[0][1], "2");
  EXPECT_EQ(run[0][2], "40");
  EXPECT_NE(run[0][3].find("page 3"), std::string::npos) << run[0][3];
  EXPECT_NE(run[0][3].find("HTTP 500"), std::string::npos) << run[0][3];
  EXPECT_NE(run[0][3].find("PLATFORM_ERROR"), std::string::npos) << run[0][3];
  EXPECT_NE(run[0][3].find(sim.base() + "/api/memberships?url="), std::string::npos) << run[0][3];
  // What was read before the failure was provisioned; nothing more.
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE state='created'"), 40);
  EXPECT_EQ(sim.state().at("memberships").as_array().size(), 40u);

  // Once the LMS recovers, the next run completes the roster.
  sim.post("/_sim/faults", R"({"fail_page": 0})");
  EXPECT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(sim.state().at("memberships").as_array().size(), 100u);
}

TEST(SyncEndToEnd, WrongImsesPasswordRecordsTheFaultAndMarksNothingCreated) {
  Simulator sim({"--contexts", "1", "--members", "30"});
  Workspace ws;
  ws.configure(sim, course_jobs(1), "", "not-the-password");
  EXPECT_EQ(ws.rostersync({"sync"}), 1);
  auto state = sim.state();
  EXPECT_EQ(state.at("memberships").as_array().size(), 0u);
  EXPECT_EQ(num(state, "create_calls"), 1);  // a rejected credential is not hammered
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE state='created'"), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE state='pending' AND last_error LIKE '%InvalidSecurity%'"), 10);
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership"), 30);  // ids kept for the resend
  auto run = ws.rows("SELECT outcome, error FROM run");
  EXPECT_EQ(run[0][0], "failed");
  EXPECT_NE(run[0][1].find("SOAP Fault a:InvalidSecurity (HTTP 500): An error occurred when verifying security"), std::string::npos)
      << run[0][1];

  // With the right password, the same stored ids are sent and nothing is duplicated.
  auto ids_before = ws.rows("SELECT membership_id FROM membership ORDER BY 1");
  ws.write("secrets/password", std::string(kImsesPassword) + "\n");
  EXPECT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(ws.rows("SELECT membership_id FROM membership ORDER BY 1"), ids_before);
  EXPECT_EQ(sim.state().at("memberships").as_array().size(), 30u);
}

TEST(SyncEndToEnd, UnknownServiceKeyIsAReadableFailedRun) {
  Simulator sim({"--contexts", "1", "--members", "5"});
  Workspace ws;
  ws.configure(sim, {{"stale", "no-such-key", "h-1", ""}});
  EXPECT_EQ(ws.rostersync({"sync"}), 1);
  auto run = ws.rows("SELECT outcome, error FROM run");
  EXPECT_EQ(run[0][0], "failed");
  EXPECT_NE(run[0][1].find("HTTP 401: Unauthorized: INVALID_SERVICE_KEY_AUTHORIZATION_HEADER"), std::string::npos)
      << run[0][1];
  EXPECT_EQ(run[0][1].find("no-such-key"), std::string::npos);  // the key itself is never recorded
  EXPECT_EQ(run[0][1].find(kApiKey), std::string::npos);
}

TEST(SyncEndToEnd, InFlightBudgetIsNeverExceeded) {
  Simulator sim({"--contexts", "2", "--members", "90", "--imses-latency-ms", "5"});
  Workspace ws;
  ws.configure(sim, course_jobs(2, "    page_limit: 30\n"), "    in_flight_budget: 6\n    batch_size: 3\n");
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  auto state = sim.state();
  EXPECT_EQ(state.at("memberships").as_array().size(), 180u);
  EXPECT_LE(num(state, "max_in_flight_ops"), 6);
  EXPECT_EQ(num(state, "create_calls"), 60);  // batches of 3
}

TEST(SyncEndToEnd, SyncOfOneJobOnly) {
  Simulator sim({"--contexts", "2", "--members", "10"});
  Workspace ws;
  ws.configure(sim, course_jobs(2));
  EXPECT_EQ(ws.rostersync({"sync", "--job", "course-2"}), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM run"), 1);
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE hierarchy_id='h-2'"), 10);
  EXPECT_EQ(ws.rostersync({"sync", "--job", "nope"}), 2);
}

TEST(SyncEndToEnd, TwentyCoursesOfFiveHundredMembers) {
  Simulator sim({"--contexts", "20", "--members", "500"});
  Workspace ws;
  ws.configure(sim, course_jobs(20));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  auto state = sim.state();
  EXPECT_EQ(state.at("memberships").as_array().size(), 10000u);
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE state='created'"), 10000);
  EXPECT_EQ(ws.count("SELECT count(DISTINCT hierarchy_id || '|' || person_key) FROM membership"), 10000);
  auto calls = num(state, "create_calls");
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(num(sim.state(), "create_calls"), calls);
  EXPECT_EQ(ws.count("SELECT sum(created) FROM run WHERE run_id > 20"), 0);
}

TEST(SyncEndToEnd, BadConfigurationExitsWithTwoAndNamesTheKey) {
  Simulator sim({"--contexts", "1", "--members", "5"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    page_limit: many\n"));
  EXPECT_EQ(ws.rostersync({"sync"}), 2);
  EXPECT_FALSE(std::filesystem::exists(ws.db()));  // nothing was touched
}

TEST(Demo, RunsTwoPassesAndSaysWhereTheStateIs) {
  Workspace ws;
  rostersync::daemon::ChildProcess demo(
      {ROSTERSYNC_BIN, "demo", "--courses", "2", "--members", "40", "--dir", (ws.dir() / "demo").string()});
  std::string out;
  while (auto line = demo.read_line(std::chrono::seconds(60))) out += *line + "\n";
  ASSERT_EQ(demo.wait(std::chrono::seconds(30)), 0) << out;
  EXPECT_NE(out.find("72 memberships created"), std::string::npos) << out;
  EXPECT_NE(out.find("0 memberships created, 72 already present"), std::string::npos) << out;
  EXPECT_NE(out.find("nothing to do"), std::string::npos) << out;
  EXPECT_NE(out.find((ws.dir() / "demo" / "state.db").string()), std::string::npos) << out;
}


TEST(Daemon, RunRepeatsEveryJobOnItsIntervalAndStopsCleanlyOnSigterm) {
  Simulator sim({"--contexts", "2", "--members", "10"});
  Workspace ws;
  ws.configure(sim, course_jobs(2, "    interval: 1s\n    jitter: 0s\n"));
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  // Two runs of each job means the schedule came round again.
  ASSERT_TRUE(wait_for_count(ws, "SELECT min(n) FROM (SELECT count(*) AS n FROM run WHERE outcome='ok' GROUP BY job) "
                                 "WHERE (SELECT count(DISTINCT job) FROM run) = 2", 2, std::chrono::seconds(60)));
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(std::chrono::seconds(30)), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE outcome='running'"), 0);
  EXPECT_EQ(sim.state().at("memberships").as_array().size(), 20u);  // created once, never duplicated
}

TEST(Daemon, SigtermDuringALongSyncFinishesInFlightBatchesAndRecordsTheRunAsInterrupted) {
  Simulator sim({"--contexts", "1", "--members", "3000", "--imses-latency-ms", "20"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    page_limit: 50\n"));
  rostersync::daemon::ChildProcess sync({ROSTERSYNC_BIN, "--config", ws.config_path(), "sync"}, false);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM membership WHERE state='created'", 1, std::chrono::seconds(60)));
  sync.signal(SIGTERM);
  EXPECT_EQ(sync.wait(std::chrono::seconds(30)), 1);  // the pass did not complete
  auto run = ws.rows("SELECT outcome, error FROM run");
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0][0], "interrupted");
  // Everything the simulator holds is recorded as created; the rest stays pending for next time.
  auto held = sim.state().at("memberships").as_array().size();
  EXPECT_LT(held, 3000u);
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE state='created'"), static_cast<long long>(held));
  EXPECT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(sim.state().at("memberships").as_array().size(), 3000u);
}

// At SIGTERM `sync` takes no new work: no batch is started after the signal
// (the one in flight, at most budget/batch_size = 1 here, may still land),
// no page is fetched, the run is interrupted and the exit code is 1.
TEST(Daemon, SigtermStartsNoNewBatchAndNoNewPage) {
  Simulator sim({"--contexts", "2", "--members", "3000", "--imses-latency-ms", "40"});
  Workspace ws;
  // One walk at a time, so that the second job is still waiting at the signal.
  ws.configure(sim, course_jobs(2, "    page_limit: 50\n"), "", kImsesPassword, "    max_concurrent_walks: 1\n");
  rostersync::daemon::ChildProcess sync({ROSTERSYNC_BIN, "--config", ws.config_path(), "sync"}, false);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM membership WHERE state='created'", 20, std::chrono::seconds(60)));
  auto before = sim.state();
  sync.signal(SIGTERM);
  EXPECT_EQ(sync.wait(std::chrono::seconds(30)), 1);
  auto after = sim.state();
  EXPECT_LE(after.at("create_calls").as_int64() - before.at("create_calls").as_int64(), 1)
      << "batches were started after SIGTERM";
  EXPECT_LE(after.at("page_requests").as_int64() - before.at("page_requests").as_int64(), 1)
      << "pages were fetched after SIGTERM";
  auto runs = ws.rows("SELECT job, outcome FROM run ORDER BY run_id");
  ASSERT_EQ(runs.size(), 1u) << "the second job must not start after the signal";
  EXPECT_EQ(runs[0], (std::vector<std::string>{"course-1", "interrupted"}));
}

// The simulator, like Moodle's next links, ignores `role`: the filter holds
// because rostersync re-applies it. And the older LTIK-AUTH-V1 scheme works.
TEST(SyncEndToEnd, ARoleFilterHoldsWhenTheServerIgnoresItAndLtikV1Authenticates) {
  Simulator sim({"--contexts", "2", "--members", "40"});
  Workspace ws;
  ws.configure(sim, {{"teachers", "course-1-key", "h-1", "    role_filter: Instructor\n    page_limit: 10\n"},
                     {"v1", "course-2-key", "h-2", "    auth: ltik_v1\n"}});
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  auto held = sim_memberships(sim);
  int teachers = 0, others = 0;
  for (const auto& [group, person, role] : held) {
    if (group == "h-1") (role == "Instructor" || role == "TeachingAssistant" ? teachers : others)++;
  }
  EXPECT_GT(teachers, 0);
  EXPECT_EQ(others, 0) << "members outside role_filter were created";
  EXPECT_GT(ws.count("SELECT skipped_role_filter FROM run WHERE job='teachers'"), 0);
  EXPECT_GT(ws.count("SELECT created FROM run WHERE job='v1'"), 0);
}

TEST(SyncEndToEnd, RostersLoadedFromTheSharedFixturesAreProvisioned) {
  namespace fs = std::filesystem;
  auto fixture = [](const char* name) {
    std::ifstream in(fs::path(ROSTERSYNC_SHARED_DIR) / "fixtures" / "nrps" / name);
    std::stringstream b;
    b << in.rdbuf();
    return json::parse(b.str());
  };
  Workspace ws;
  json::object rosters{{"canvas-key", fixture("canvas-api-docs-example.json")},
                       {"blackboard-key", fixture("blackboard-anthology-docs-example.json")}};
  ws.write("rosters.json", json::serialize(rosters));
  Simulator sim({"--roster-file", (ws.dir() / "rosters.json").string()});
  ws.configure(sim, {{"canvas", "canvas-key", "h-canvas", ""}, {"blackboard", "blackboard-key", "h-bb", ""}});
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(sim_memberships(sim.state()), (std::set<Triple>{{"h-canvas", "1238.8763.00", "Instructor"},
                                                             {"h-canvas", "5790.3390.11", "Learner"},
                                                             {"h-bb", "student-acc", "Learner"}}));
}
