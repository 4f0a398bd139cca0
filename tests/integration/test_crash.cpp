// Crash safety: SIGKILL the real binary again and again in the middle of a
// large sync (batches in flight, commits under way), restart it each time,
// and require the end state to be exact: one membership per eligible member
// in itslearning, one id per pair, every id itslearning holds stored as
// created, and an intact database.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <random>
#include <thread>

#include "harness.hpp"

using namespace rostersync::testing;
using namespace std::chrono_literals;

TEST(Crash, TwentyFiveKillsDuringALargeSyncLoseAndDuplicateNothing) {
  constexpr int kCourses = 8;
  // Large enough that 25 short lives cannot finish it (each sends a few hundred items).
  Simulator sim({"--contexts", std::to_string(kCourses), "--members", "800", "--imses-latency-ms", "15"});
  Workspace ws;
  ws.configure(sim, course_jobs(kCourses, "    page_limit: 50\n"), "    in_flight_budget: 20\n    batch_size: 10\n");
  std::mt19937 rng(20261123);
  int kills_with_sends_unrecorded = 0;
  for (int kill = 0; kill < 25; ++kill) {
    // Each life is killed a random 0-150 ms after it has sent its first batch,
    // so every kill lands mid-run however slow start-up is (a sanitizer
    // build starts several times slower).
    long long calls_before = sim.state().at("create_calls").as_int64();
    rostersync::daemon::ChildProcess p({ROSTERSYNC_BIN, "--config", ws.config_path(), "sync"}, false);
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (sim.state().at("create_calls").as_int64() == calls_before) {
      ASSERT_FALSE(p.wait(2ms).has_value()) << "life " << kill << " ended before sending: the sync is too small";
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "life " << kill << " sent nothing in 60 s";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 150)(rng)));
    p.signal(SIGKILL);
    ASSERT_TRUE(p.wait(10s).has_value());
    // itslearning applied more than the database recorded: the kill landed
    // between a send and its commit (the ids must be reused next time).
    std::size_t ids = 0;
    sim_memberships(sim, &ids);
    if (static_cast<long long>(ids) > ws.count("SELECT count(*) FROM membership WHERE state='created'")) {
      ++kills_with_sends_unrecorded;
    }
  }
  EXPECT_GT(kills_with_sends_unrecorded, 0);

  int runs = 0;
  while (ws.rostersync({"sync"}) != 0 && ++runs < 5) {
  }
  ASSERT_LT(runs, 5);

  expect_exact_state(sim, ws, kCourses);
  EXPECT_EQ(ws.rows("PRAGMA integrity_check")[0][0], "ok");
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE outcome='running'"), 0);
  EXPECT_GE(ws.count("SELECT count(*) FROM run WHERE outcome='interrupted'"), 20);  // the killed runs, closed on restart
}
