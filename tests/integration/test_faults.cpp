// Hostile and broken peers: the simulator injects faults (sim/simulator.hpp)
// and the real binary must end in exactly the expected state: nothing lost,
// nothing created twice, one bad item or page never blocking the rest.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>

#include "harness.hpp"

using namespace rostersync::testing;
using namespace std::chrono_literals;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace
namespace json = boost::json;

namespace {

// Quick retries so a test spends its time on behaviour, not on waiting.
const std::string kFastTarget =
    "    max_retry_delay: 2s\n    item_retry_delay: 0s\n    http:\n      request_timeout: 2s\n";
const std::string kFastSource = "    retry_delay: 50ms\n    max_retry_delay: 2s\n    http:\n      request_timeout: 2s\n";

std::string rule(const std::string& endpoint, const std::string& kind, const std::string& when) {
  return R"({"endpoint":")" + endpoint + R"(","kinds":[")" + kind + R"("],)" + when + "}";
}

// The `hold` column of `rostersync status` for the first job.
std::string first_job_hold(const Workspace& ws) {
  auto [rc, status] = ws.rostersync_output({"status", "--json"});
  EXPECT_EQ(rc, 0) << status;
  return std::string(json::parse(status).as_array().at(0).at("hold").as_string());
}

// Once the cause of a hold is gone, the `run` daemon of a one-course setup
// creates all `members`, the hold is lifted, and SIGTERM stops it cleanly.
void expect_held_job_completes(rostersync::daemon::ChildProcess& daemon, const Simulator& sim, const Workspace& ws,
                               long long members) {
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM membership WHERE state='created'", members, 30s));
  EXPECT_EQ(ws.count("SELECT count(*) FROM hold"), 0);
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(30s), 0);
  expect_exact_state(sim, ws, 1);
}

long long injected(const Simulator& sim, const std::string& kind) {
  json::object state = sim.state();
  const auto& f = state.at("faults_injected").as_object();
  return f.contains(kind) ? f.at(kind).as_int64() : 0;
}

}  // namespace

// Every fault on itslearning's side short of a refusal, alone on the first
// call. Transient ones: the batch is resent with the same ids (2 calls).
// Slow ones within request_timeout: waited for, nothing resent (1 call).
class ImsesFault : public ::testing::TestWithParam<std::pair<const char*, int>> {};

TEST_P(ImsesFault, EndsOkWithTheSameIds) {
  auto [kind, calls] = GetParam();
  Simulator sim({"--contexts", "1", "--members", "10"});
  Workspace ws;
  ws.configure(sim, course_jobs(1), kFastTarget, kImsesPassword, kFastSource);
  sim.post("/_sim/faults", R"({"rules":[)" + rule("imses", kind, R"("on_request":1,"latency_ms":300)") + "]}");
  EXPECT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(injected(sim, kind), 1);
  EXPECT_EQ(sim.state().at("create_calls").as_int64(), calls);
  expect_exact_state(sim, ws, 1);
}

INSTANTIATE_TEST_SUITE_P(Faults, ImsesFault,
                         ::testing::Values(std::pair{"status_500", 2}, std::pair{"status_502", 2},
                                           std::pair{"status_503", 2}, std::pair{"throttle", 2},
                                           std::pair{"reset_before", 2}, std::pair{"reset_after", 2},
                                           std::pair{"truncate", 2}, std::pair{"malformed", 2}, std::pair{"empty", 2},
                                           std::pair{"oversized", 2}, std::pair{"wrong_count", 2},
                                           std::pair{"latency", 1}, std::pair{"drip", 1}),
                         [](const auto& info) { return std::string(info.param.first); });

// Transient faults on the roster side: the page is fetched again.
class TransientRosterFault : public ::testing::TestWithParam<const char*> {};

TEST_P(TransientRosterFault, RefetchesThePage) {
  Simulator sim({"--contexts", "1", "--members", "30"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    page_limit: 10\n"), kFastTarget, kImsesPassword, kFastSource);
  sim.post("/_sim/faults", R"({"rules":[)" + rule("roster", GetParam(), R"("on_request":2)") + "]}");  // page 2
  EXPECT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(injected(sim, GetParam()), 1);
  EXPECT_EQ(sim.state().at("page_requests").as_int64(), 4);  // 3 pages, page 2 twice
  EXPECT_EQ(ws.rows("SELECT outcome, pages FROM run")[0], (std::vector<std::string>{"ok", "3"}));
  expect_exact_state(sim, ws, 1);
}

INSTANTIATE_TEST_SUITE_P(Faults, TransientRosterFault,
                         ::testing::Values("status_502", "status_503", "throttle", "reset_before", "truncate", "malformed",
                                           "empty", "no_members"),
                         [](const auto& info) { return std::string(info.param); });

// Faults that make the walk untrustworthy: the run fails with the reason;
// members already read are still created; nothing is treated as "left".
class WalkBreakingFault : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(WalkBreakingFault, FailsTheWalkWithTheReason) {
  auto [kind, reason] = GetParam();
  Simulator sim({"--contexts", "1", "--members", "30"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    page_limit: 10\n"), kFastTarget, kImsesPassword, kFastSource);
  sim.post("/_sim/faults", R"({"rules":[)" + rule("roster", kind, R"("probability":1)") + "]}");
  EXPECT_EQ(ws.rostersync({"sync"}), 1);
  auto run = ws.rows("SELECT outcome, error FROM run");
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0][0], "failed");
  EXPECT_TRUE(has(run[0][1], reason)) << run[0][1];
  // The request is named once, not once per layer.
  auto first = run[0][1].find("GET ");
  EXPECT_TRUE(first == std::string::npos || run[0][1].find("GET ", first + 1) == std::string::npos) << run[0][1];
  // The next run (fault gone) completes the roster.
  sim.post("/_sim/faults", R"({"rules":[]})");
  EXPECT_EQ(ws.rostersync({"sync"}), 0);
  expect_exact_state(sim, ws, 1);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, WalkBreakingFault,
    ::testing::Values(std::pair{"next_loop", "`next` repeats an already visited page"},
                      std::pair{"next_other_origin", "`next` points to https://collector.attacker.example:443"},
                      std::pair{"oversized", "response larger than 16777216 bytes"}),
    [](const auto& info) { return std::string(info.param.first); });

TEST(Faults, ProcessingItemsStayPendingAndAreResentWithTheSameIds) {
  Simulator sim({"--contexts", "1", "--members", "10"});
  Workspace ws;
  ws.configure(sim, course_jobs(1), kFastTarget, kImsesPassword, kFastSource);
  sim.post("/_sim/faults", R"({"rules":[)" + rule("imses", "processing", R"("on_request":1)") + "]}");
  EXPECT_EQ(ws.rostersync({"sync"}), 1);  // partial: outcome not final
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE state='pending'"), 10);
  EXPECT_EQ(ws.rostersync({"sync"}), 0);
  expect_exact_state(sim, ws, 1);
}

TEST(Faults, ARefusedItemWaitsIsParkedAndComesBackWithRetry) {
  Simulator sim({"--contexts", "1", "--members", "10"});
  Workspace ws;
  ws.configure(sim, course_jobs(1), kFastTarget + "    item_max_failures: 2\n", kImsesPassword, kFastSource);
  std::string person = std::string(sim.rosters().at("course-1-key").at("members").at(0).at("lis_person_sourcedid").as_string());
  sim.post("/_sim/faults", R"({"reject_persons":[")" + person + R"("]})");
  EXPECT_EQ(ws.rostersync({"sync"}), 1);  // 9 created, 1 refused
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE state='created'"), 9);
  EXPECT_EQ(ws.rostersync({"sync"}), 1);  // refused again: now parked
  EXPECT_EQ(ws.rows("SELECT state, refusals FROM membership WHERE person_key='" + person + "'")[0],
            (std::vector<std::string>{"failed", "2"}));
  auto calls = sim.state().at("create_calls").as_int64();
  EXPECT_EQ(ws.rostersync({"sync"}), 0);  // a parked item is not sent again
  EXPECT_EQ(sim.state().at("create_calls").as_int64(), calls);
  auto [frc, failures] = ws.rostersync_output({"failures"});
  EXPECT_TRUE(has(failures, "parked")) << failures;

  sim.post("/_sim/faults", R"({"reject_persons":[]})");  // the person now exists in itslearning
  auto [rc, out] = ws.rostersync_output({"retry", "--job", "course-1"});
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(has(out, "1 item(s) back in the queue")) << out;
  EXPECT_EQ(ws.rostersync({"sync"}), 0);
  expect_exact_state(sim, ws, 1);
}

TEST(Faults, AWrongPasswordBlocksTheJobVisiblyUntilAReload) {
  Simulator sim({"--contexts", "1", "--members", "10"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    interval: 1s\n    jitter: 0s\n"), kFastTarget, "rotated-elsewhere", kFastSource);
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM hold WHERE kind='blocked'", 1, 30s));
  // The next run is scheduled at the hold's end (blocked_retry_interval, 1 h), not after the 1 s interval.
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM job_schedule WHERE next_run_at > "
                                 "strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+3000 seconds')", 1, 30s));
  EXPECT_EQ(sim.state().at("create_calls").as_int64(), 1);
  EXPECT_EQ(ws.count("SELECT count(*) FROM run"), 1);
  std::string hold = first_job_hold(ws);
  EXPECT_TRUE(has(hold, "blocked until ")) << hold;
  EXPECT_TRUE(has(hold, "a:InvalidSecurity")) << hold;

  ws.configure(sim, course_jobs(1, "    interval: 1s\n    jitter: 0s\n"), kFastTarget, kImsesPassword, kFastSource);
  daemon.signal(SIGHUP);  // the reload lifts the hold
  expect_held_job_completes(daemon, sim, ws, 10);
}

TEST(Faults, ATargetFailingEverythingTripsTheBreakerThenAProbeClosesIt) {
  Simulator sim({"--contexts", "1", "--members", "60"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    interval: 1h\n"),
               kFastTarget + "    max_attempts: 1\n    breaker_probe_interval: 2s\n",
               kImsesPassword, kFastSource);
  sim.post("/_sim/faults", R"({"rules":[)" + rule("imses", "status_503", R"("probability":1)") + "]}");
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM hold WHERE kind='breaker'", 1, 30s));
  // One batch at a time (budget 10 = batch 10): two failed batches are 20 of 20 items
  // (breaker_min_items), so it stopped after exactly 2 calls instead of hammering.
  EXPECT_EQ(sim.state().at("create_calls").as_int64(), 2);
  std::string hold = first_job_hold(ws);
  EXPECT_TRUE(has(hold, "breaker open until ")) << hold;
  EXPECT_TRUE(has(hold, "20 of the last 20 items failed")) << hold;

  sim.post("/_sim/faults", R"({"rules":[]})");  // itslearning recovers
  // Within the probe interval (not the 1 h job interval) a probe batch goes out and closes the breaker.
  expect_held_job_completes(daemon, sim, ws, 60);
}

TEST(Faults, TwentyPercentMixedFaultsConvergeToTheExactState) {
  constexpr int kCourses = 8;
  Simulator sim({"--contexts", std::to_string(kCourses), "--members", "100", "--mix"});
  Workspace ws;
  ws.configure(sim, course_jobs(kCourses, "    page_limit: 10\n"),
               kFastTarget + "    item_max_failures: 100\n    batch_size: 5\n",
               kImsesPassword, kFastSource);
  sim.post("/_sim/faults", R"({"seed": 42, "rules":[
      {"endpoint":"imses","probability":0.2,"latency_ms":100,"retry_after":"1","kinds":["latency","status_500",
       "status_502","status_503","throttle","reset_before","reset_after","truncate","malformed","empty","wrong_count",
       "processing","item_failure"]},
      {"endpoint":"roster","probability":0.2,"latency_ms":100,"retry_after":"1","kinds":["latency","status_502",
       "status_503","throttle","reset_before","truncate","malformed","empty","no_members"]}]})");
  int runs = 0;
  while (ws.rostersync({"sync"}) != 0 && ++runs < 30) {
  }
  ASSERT_LT(runs, 30) << "did not converge";
  long long kinds = 0;
  json::object state = sim.state();
  for (const auto& [kind, n] : state.at("faults_injected").as_object()) kinds += n.as_int64() > 0;
  EXPECT_GE(kinds, 12) << json::serialize(state.at("faults_injected"));  // of the 22 kinds in play
  expect_exact_state(sim, ws, kCourses);
}

// A wrong LTIAAS API key: every job is refused (401) and none accepted. One
// source hold names api_key_file and says to restart (systemd copies
// credentials only at a start); the rotation as documented (fix the file,
// restart) brings every job back at once.
TEST(Faults, AWrongApiKeyIsOneSourceHoldAndARestartAfterTheFixEndsIt) {
  Simulator sim({"--contexts", "3", "--members", "5"});
  Workspace ws;
  ws.configure(sim, course_jobs(3, "    interval: 1h\n    jitter: 0s\n"), kFastTarget, kImsesPassword, kFastSource);
  // The credential as the shipped unit hands it over.
  std::string config = read_text(ws.config_path());
  config.replace(config.find("api_key_file: secrets/api-key"), 29, "api_key_file: ${CREDENTIALS_DIRECTORY}/ltiaas-api-key");
  ws.write("rostersync.yaml", config);
  ws.write("creds/ltiaas-api-key", "an-old-api-key\n");
  setenv("CREDENTIALS_DIRECTORY", (ws.dir() / "creds").c_str(), 1);
  {
    rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
    ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM hold WHERE scope='source' AND name='ltiaas'", 1, 30s));
    ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome<>'running'", 2, 30s));
    daemon.signal(SIGTERM);
    EXPECT_EQ(daemon.wait(30s), 0);
  }
  EXPECT_EQ(ws.count("SELECT count(*) FROM hold WHERE scope='job'"), 0) << "one source hold, not one per job";
  const std::string reason = ws.rows("SELECT reason FROM hold WHERE scope='source'").at(0).at(0);
  EXPECT_TRUE(has(reason, "sources.ltiaas.api_key_file (${CREDENTIALS_DIRECTORY}/ltiaas-api-key)")) << reason;
  EXPECT_TRUE(has(reason, "/etc/rostersync/credentials/ltiaas-api-key")) << reason;
  EXPECT_TRUE(has(reason, "sudo systemctl restart rostersync")) << reason;
  auto [check_rc, check] = ws.rostersync_output({"status", "--check"});
  EXPECT_EQ(check_rc, 2) << check;
  EXPECT_EQ(check.find("api_key_file"), check.rfind("api_key_file")) << "one line for the source: " << check;

  ws.write("creds/ltiaas-api-key", std::string(kApiKey) + "\n");  // the fix, then the restart
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE job='course-" + std::to_string(i) + "' AND outcome='ok'",
                               1, 30s)) << "course-" << i << " still held after the restart";
  }
  EXPECT_EQ(ws.count("SELECT count(*) FROM hold"), 0);
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(30s), 0);
  unsetenv("CREDENTIALS_DIRECTORY");
}

// From a shell, outside the unit: --credentials-dir stands for
// ${CREDENTIALS_DIRECTORY}, for every command that reads secrets.
TEST(Credentials, PlanAndSyncReadTheUnitsCredentialsFromADirectory) {
  Simulator sim({"--contexts", "1", "--members", "5"});
  Workspace ws;
  ws.configure(sim, course_jobs(1));
  std::string config = read_text(ws.config_path());
  config.replace(config.find("api_key_file: secrets/api-key"), 29, "api_key_file: ${CREDENTIALS_DIRECTORY}/ltiaas-api-key");
  ws.write("rostersync.yaml", config);
  ws.write("creds/ltiaas-api-key", std::string(kApiKey) + "\n");
  auto [no_dir_rc, no_dir] = ws.rostersync_output({"plan"}, true);
  EXPECT_EQ(no_dir_rc, 2) << no_dir;
  EXPECT_TRUE(has(no_dir, "CREDENTIALS_DIRECTORY")) << no_dir;
  const std::string dir = (ws.dir() / "creds").string();
  auto [plan_rc, plan] = ws.rostersync_output({"plan", "--credentials-dir", dir}, true);
  EXPECT_EQ(plan_rc, 0) << plan;
  auto [sync_rc, synced] = ws.rostersync_output({"sync", "--credentials-dir", dir}, true);
  EXPECT_EQ(sync_rc, 0) << synced;
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE outcome='ok'"), 1);
}
