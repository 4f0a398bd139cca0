// The daemon under its control protocol: sd_notify datagrams received on a
// NOTIFY_SOCKET this test creates, SIGUSR1 resyncs, SIGHUP reloads (a broken
// file keeps the old configuration running), SIGTERM stops with STOPPING=1.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <algorithm>
#include <fstream>
#include <functional>
#include <thread>

#include <sqlite3.h>

#include "harness.hpp"

using namespace rostersync::testing;
using namespace std::chrono_literals;


TEST(DaemonControl, NotifiesSystemdAndObeysSigusr1SighupAndSigterm) {
  Simulator sim({"--contexts", "2", "--members", "10"});
  Workspace ws;
  ws.configure(sim, {course_jobs(2, "    interval: 1h\n")[0]});
  DatagramSocket notify((ws.dir() / "notify.sock").string());
  setenv("NOTIFY_SOCKET", (ws.dir() / "notify.sock").c_str(), 1);
  setenv("WATCHDOG_USEC", "400000", 1);  // systemd's WatchdogSec=400ms: pings every 200 ms
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");

  // READY=1 comes first: config, database and signal handlers are in place.
  ASSERT_TRUE(notify.wait_for([](const std::string& m) { return has(m, "READY=1"); }, 30s));
  EXPECT_EQ(notify.seen.front(), "READY=1");
  // While it runs, STATUS= shows the pass as a whole; at its end, the totals.
  ASSERT_TRUE(notify.wait_for([](const std::string& m) { return has(m, "STATUS=pass: 0 / 1 courses"); }, 30s));
  ASSERT_TRUE(notify.wait_for(
      [](const std::string& m) { return has(m, "STATUS=pass: 1 / 1 courses, 10 members, 10 created"); }, 30s));
  ASSERT_TRUE(notify.wait_for([](const std::string& m) { return has(m, "STATUS=idle; next sync course-1 at "); }, 30s));
  EXPECT_TRUE(has(notify.seen.back(), "last run course-1 ok: 10 created, 0 failed, 0 pending")) << notify.seen.back();
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE job='course-1'"), 1);

  // Watchdog pings keep coming from the idle event loop.
  notify.seen.clear();
  ASSERT_TRUE(notify.wait_for([](const std::string& m) { return m == "WATCHDOG=1"; }, 10s));
  ASSERT_TRUE(notify.wait_for([](const std::string& m) { return m == "WATCHDOG=1"; }, 10s));

  // SIGUSR1: a sync now, although the interval is an hour.
  daemon.signal(SIGUSR1);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE job='course-1' AND outcome='ok'", 2, 30s));

  // SIGHUP with a new job: RELOADING=1 (with MONOTONIC_USEC), READY=1, and the new job runs.
  ws.configure(sim, course_jobs(2, "    interval: 1h\n"));
  notify.seen.clear();
  daemon.signal(SIGHUP);
  ASSERT_TRUE(notify.wait_for([](const std::string& m) { return has(m, "READY=1"); }, 30s));
  // (a STATUS of the SIGUSR1 run may still arrive first: look at the order, not the position)
  auto reloading = std::find_if(notify.seen.begin(), notify.seen.end(),
                                [](const std::string& m) { return has(m, "RELOADING=1\nMONOTONIC_USEC="); });
  ASSERT_NE(reloading, notify.seen.end()) << ::testing::PrintToString(notify.seen);
  EXPECT_EQ(notify.seen.back(), "READY=1");
  EXPECT_LT(reloading - notify.seen.begin(), static_cast<long>(notify.seen.size()) - 1);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE job='course-2' AND outcome='ok'", 1, 30s));
  EXPECT_EQ(sim.state().at("memberships").as_array().size(), 20u);

  // SIGHUP with a broken file: the daemon keeps running the old
  // configuration, and a rejected reload runs nothing extra: after it and
  // one SIGUSR1, exactly one run per job, then idle.
  ASSERT_TRUE(notify.wait_for([](const std::string& m) { return has(m, "STATUS=idle"); }, 30s));
  auto runs_before = ws.count("SELECT count(*) FROM run");
  ws.write("rostersync.yaml", "jobs: [\n");
  notify.seen.clear();
  daemon.signal(SIGHUP);
  ASSERT_TRUE(notify.wait_for([](const std::string& m) { return has(m, "READY=1"); }, 30s));
  daemon.signal(SIGUSR1);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", runs_before + 2, 30s));
  notify.seen.clear();
  ASSERT_TRUE(notify.wait_for([](const std::string& m) { return has(m, "STATUS=idle"); }, 30s));
  EXPECT_EQ(ws.count("SELECT count(*) FROM run"), runs_before + 2);
  EXPECT_FALSE(daemon.wait(0ms).has_value());  // still alive

  // SIGTERM: STOPPING=1 and a clean exit.
  notify.seen.clear();
  daemon.signal(SIGTERM);
  EXPECT_TRUE(notify.wait_for([](const std::string& m) { return m == "STOPPING=1"; }, 30s))
      << ::testing::PrintToString(notify.seen);
  EXPECT_EQ(daemon.wait(30s), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE outcome='running'"), 0);
}

// Another process (a backup, an operator's sqlite3 shell) holds the write lock
// on the state database for longer than the busy timeout. The run that cannot
// write fails visibly with SQLite's message; the scheduler lives on, the next
// resync runs once the lock is gone, and SIGTERM still stops the daemon.
TEST(DaemonControl, LockedDatabaseFailsTheRunVisiblyAndTheDaemonGoesOn) {
  Simulator sim({"--contexts", "1", "--members", "5"});
  Workspace ws;
  ws.configure(sim, {course_jobs(1, "    interval: 1h\n")[0]});
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, true, true);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", 1, 30s));
  // While it runs, status shows its schedule as live.
  auto [status_rc, status] = ws.rostersync_output({"status", "--json"});
  ASSERT_EQ(status_rc, 0) << status;
  auto schedule = boost::json::parse(status).as_array().at(0).at("schedule");
  EXPECT_EQ(std::string(schedule.as_string()).rfind("planned 20", 0), 0u) << status;

  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open(ws.db().c_str(), &blocker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto [rc, out] = ws.rostersync_output({"resync"});
  EXPECT_EQ(rc, 0) << out;
  bool reported = false;
  while (auto line = daemon.read_line(30s)) {
    if (has(*line, "database is locked")) {
      reported = true;
      EXPECT_TRUE(has(*line, "course-1")) << *line;
      break;
    }
  }
  EXPECT_TRUE(reported) << "the failed run was not logged";
  sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(blocker);

  // Alive and working: the next resync really runs.
  auto [rc2, out2] = ws.rostersync_output({"resync"});
  EXPECT_EQ(rc2, 0) << out2;
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", 2, 30s));
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(30s), 0);
  // Gone: the schedule it left is marked stale.
  auto [after_rc, after] = ws.rostersync_output({"status", "--json"});
  ASSERT_EQ(after_rc, 0) << after;
  auto stale = boost::json::parse(after).as_array().at(0).at("schedule");
  EXPECT_EQ(std::string(stale.as_string()).rfind("stale: no rostersync runs; planned 20", 0), 0u) << after;
}

TEST(DaemonControl, HeldRemovalsShowInStatusUntilApproved) {
  Simulator sim({"--contexts", "1", "--members", "20"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    interval: 1h\n    remove_departed: true\n    departure_grace: 1\n"
                                   "    max_delete_percent: 10\n"));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  boost::json::object rosters = sim.rosters();
  const auto& members = rosters.at("course-1-key").as_object().at("members").as_array();
  for (int j = 10; j < 15; ++j) {
    sim.remove_member("course-1-key", std::string(members[j].as_object().at("user_id").as_string()));
  }

  DatagramSocket notify((ws.dir() / "notify.sock").string());
  setenv("NOTIFY_SOCKET", (ws.dir() / "notify.sock").c_str(), 1);
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  unsetenv("NOTIFY_SOCKET");
  ASSERT_TRUE(notify.wait_for([](const std::string& m) { return has(m, "READY=1"); }, 30s));
  // A sync now: its 5 deletions (25 %) are held.
  daemon.signal(SIGUSR1);
  ASSERT_TRUE(notify.wait_for(
      [](const std::string& m) { return has(m, "1 job(s) awaiting approval of 5 held write(s) (course-1;"); }, 30s))
      << ::testing::PrintToString(notify.seen);
  EXPECT_EQ(sim.state().at("memberships").as_array().size(), 20u);

  // approve asks the daemon for a run now; the deletions go and the note goes away.
  auto [lrc, listed] = ws.rostersync_output({"approve", "--job", "course-1"});
  ASSERT_NE(listed.find("hold "), std::string::npos) << listed;
  const std::string id = listed.substr(listed.find("hold ") + 5, 12);
  auto [rc, out] = ws.rostersync_output({"approve", "--job", "course-1", "--hold", id});
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(has(out, "the daemon resyncs now")) << out;
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM membership WHERE state='deleted'", 5, 30s));
  // (STATUS lines of the held run may still be queued: wait for the first without the note)
  ASSERT_TRUE(notify.wait_for(
      [](const std::string& m) { return has(m, "STATUS=idle") && !has(m, "awaiting approval"); }, 30s))
      << ::testing::PrintToString(notify.seen);
  EXPECT_EQ(sim.state().at("memberships").as_array().size(), 15u);
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(30s), 0);
}

// Garbage pages in state.db while `run` runs: the daemon stops visibly with
// exit 3 and a critical line naming the file, instead of failing run after
// run at warning level while nothing is created any more.
TEST(DaemonControl, ACorruptDatabaseFoundWhileRunningEndsTheDaemonWithExit3) {
  Simulator sim({"--contexts", "1", "--members", "200"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    interval: 1h\n    page_limit: 20\n"));
  DatagramSocket notify((ws.dir() / "notify.sock").string());
  setenv("NOTIFY_SOCKET", (ws.dir() / "notify.sock").c_str(), 1);
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, true, true);
  unsetenv("NOTIFY_SOCKET");
  ASSERT_TRUE(notify.wait_for([](const std::string& m) { return has(m, "STATUS=idle; next sync course-1 at "); }, 30s));
  // Everything in the database file itself (a checkpoint by another
  // connection, as the sqlite3 shell or a backup makes), then garbage over
  // every page but the first.
  ws.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  {
    std::fstream f(ws.dir() / "state.db", std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f);
    f.seekg(0, std::ios::end);
    const std::streamoff size = f.tellg();
    ASSERT_GT(size, 8192);
    std::string garbage(static_cast<std::size_t>(size - 4096), '\x5a');
    f.seekp(4096);
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  sim.post("/_sim/rosters/course-1-key/members",
           R"([{"user_id": "u-new", "lis_person_sourcedid": "sis-new", "roles": ["Learner"]}])");
  daemon.signal(SIGUSR1);
  std::optional<int> rc = daemon.wait(30s);
  if (!rc) {
    daemon.signal(SIGKILL);
    daemon.wait(5s);
  }
  std::string out;
  while (auto line = daemon.read_line(2s)) out += *line + "\n";
  ASSERT_TRUE(rc.has_value()) << "the daemon went on with a corrupt database\n" << out;
  EXPECT_EQ(*rc, 3);
  EXPECT_TRUE(has(out, "state database unusable")) << out;
  EXPECT_TRUE(has(out, "state.db")) << out;
}

// A run whose end cannot be recorded (another process holds the database
// while it ends) does not stay `running` for the daemon's lifetime: its end
// is written, failed with the error, as soon as the database works again.
TEST(DaemonControl, ARunThatEndedOnADatabaseErrorIsRecordedWhenTheDatabaseWorksAgain) {
  Simulator sim({"--contexts", "1", "--members", "60", "--imses-latency-ms", "200"});
  Workspace ws;
  ws.configure(sim, {course_jobs(1, "    interval: 1h\n    page_limit: 10\n")[0]}, "    in_flight_budget: 10\n    batch_size: 10\n");
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, true, true);
  // The first run has started and is sending: take the database from it.
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='running'", 1, 30s));
  const std::string first_run = ws.rows("SELECT run_id FROM run WHERE outcome='running'")[0][0];
  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open(ws.db().c_str(), &blocker), SQLITE_OK);
  sqlite3_busy_timeout(blocker, 30000);  // the daemon may be committing right now: wait for the lock
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  bool ended = false;
  while (auto line = daemon.read_line(60s)) {
    if (has(*line, "job course-1 run " + first_run + " failed")) {
      ended = true;
      break;
    }
  }
  ASSERT_TRUE(ended) << "the run did not end on the locked database";
  EXPECT_EQ(ws.rows("SELECT outcome FROM run WHERE run_id=" + first_run)[0][0], "running") << "its end could not be written";
  sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(blocker);

  auto [rc, out] = ws.rostersync_output({"resync"});
  EXPECT_EQ(rc, 0) << out;
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE run_id=" + first_run + " AND outcome='failed'", 1, 30s));
  EXPECT_TRUE(has(ws.rows("SELECT error FROM run WHERE run_id=" + first_run)[0][0], "database is locked"));
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(30s), 0);
}

// Another process holds the database: the run fails visibly with SQLite's
// message and is retried soon (the target's max_retry_delay), not an
// interval later; the event loop keeps answering meanwhile.
TEST(DaemonControl, ARunThatFoundTheDatabaseBusyIsRetriedSoonWithoutAResync) {
  Simulator sim({"--contexts", "1", "--members", "5"});
  Workspace ws;
  ws.configure(sim, {course_jobs(1, "    interval: 1h\n")[0]}, "    max_retry_delay: 1s\n");
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, true, true);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", 1, 30s));
  sim.post("/_sim/rosters/course-1-key/members",
           R"([{"user_id": "u-new", "lis_person_sourcedid": "sis-new", "roles": ["Learner"]}])");
  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open(ws.db().c_str(), &blocker), SQLITE_OK);
  sqlite3_busy_timeout(blocker, 30000);
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto [rc, out] = ws.rostersync_output({"resync"});
  EXPECT_EQ(rc, 0) << out;
  bool retried_soon = false;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (auto line = daemon.read_line(30s)) {
    if (std::chrono::steady_clock::now() > deadline) break;
    if (has(*line, "state database was busy") && has(*line, "retried in 1 s")) {
      retried_soon = true;
      break;
    }
  }
  EXPECT_TRUE(retried_soon);
  auto [rc2, out2] = ws.rostersync_output({"resync"});  // the control socket still answers
  EXPECT_EQ(rc2, 0) << out2;
  sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(blocker);
  // No resync needed: the retry creates the new member.
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM membership WHERE person_key='sis-new' AND state='created'", 1, 30s));
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(30s), 0);
}
