// The daemon under its control protocol: sd_notify datagrams received on a
// NOTIFY_SOCKET this test creates, SIGUSR1 resyncs, SIGHUP reloads (a broken
// file keeps the old configuration running), SIGTERM stops with STOPPING=1.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <algorithm>
#include <functional>
#include <thread>

#include "harness.hpp"

using namespace rostersync::testing;
using namespace std::chrono_literals;

namespace {

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }


}  // namespace

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

  // SIGHUP with a broken file: the daemon keeps running the old configuration.
  ws.write("rostersync.yaml", "jobs: [\n");
  daemon.signal(SIGHUP);
  auto runs_before = ws.count("SELECT count(*) FROM run");
  daemon.signal(SIGUSR1);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", runs_before + 2, 30s));
  EXPECT_FALSE(daemon.wait(0ms).has_value());  // still alive

  // SIGTERM: STOPPING=1 and a clean exit.
  notify.seen.clear();
  daemon.signal(SIGTERM);
  EXPECT_TRUE(notify.wait_for([](const std::string& m) { return m == "STOPPING=1"; }, 30s))
      << ::testing::PrintToString(notify.seen);
  EXPECT_EQ(daemon.wait(30s), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE outcome='running'"), 0);
}
