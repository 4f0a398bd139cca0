// The daemon's Scheduler with synthetic time: first pass, intervals with
// jitter, holds, resync and reload requests, ties and removed jobs.
#include <gtest/gtest.h>

#include "sync/machines/scheduler.hpp"

using namespace rostersync::sync;
using Kind = Scheduler::Decision::Kind;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

const Scheduler::Clock::time_point t0 = Scheduler::Clock::time_point() + std::chrono::hours(1000);

std::vector<Scheduler::JobTiming> two_jobs() {
  return {{"a", minutes(30), minutes(1)}, {"b", minutes(10), milliseconds(0)}};
}

// Runs whatever is due at `now` and finishes it there (draw 0, no hold); returns the jobs run.
std::vector<std::string> run_due(Scheduler& s, Scheduler::Clock::time_point now) {
  std::vector<std::string> ran;
  for (auto d = s.next(now); d.kind == Kind::run; d = s.next(now)) {
    ran.push_back(d.job);
    s.finished(d.job, now, 0.0, std::nullopt);
  }
  return ran;
}

}  // namespace

TEST(Scheduler, EveryJobRunsOnceAtStartInConfigurationOrder) {
  Scheduler s(two_jobs(), t0);
  EXPECT_EQ(run_due(s, t0), (std::vector<std::string>{"a", "b"}));
  Scheduler::Decision d = s.next(t0);
  EXPECT_EQ(d.kind, Kind::sleep);
  EXPECT_EQ(d.job, "b");
  EXPECT_EQ(d.until, t0 + minutes(10));
}

TEST(Scheduler, IntervalPlusADrawnShareOfTheJitter) {
  Scheduler s(two_jobs(), t0);
  s.next(t0);
  EXPECT_EQ(s.finished("a", t0, 0.5, std::nullopt), minutes(30) + seconds(30));
  EXPECT_EQ(s.finished("a", t0, 0.0, std::nullopt), minutes(30));
  EXPECT_EQ(s.finished("a", t0, 0.999999, std::nullopt), minutes(30) + milliseconds(59'999));
}

TEST(Scheduler, AHoldSetsTheNextTryEvenSoonerButNotUnderASecond) {
  Scheduler s(two_jobs(), t0);
  EXPECT_EQ(s.finished("a", t0, 0.5, milliseconds(5000)), milliseconds(5000));
  EXPECT_EQ(s.finished("a", t0, 0.5, milliseconds(3'600'000)), milliseconds(3'600'000));
  EXPECT_EQ(s.finished("a", t0, 0.5, milliseconds(0)), seconds(1));
  EXPECT_EQ(s.due("a"), t0 + seconds(1));
}

TEST(Scheduler, SleepsUntilTheEarliestDueJobThenRunsIt) {
  Scheduler s(two_jobs(), t0);
  run_due(s, t0);
  EXPECT_EQ(s.next(t0 + minutes(9)).kind, Kind::sleep);
  EXPECT_EQ(run_due(s, t0 + minutes(10)), (std::vector<std::string>{"b"}));
  EXPECT_EQ(run_due(s, t0 + minutes(30)), (std::vector<std::string>{"b", "a"}));
}

TEST(Scheduler, ResyncOfOneJobOrAllMakesThemDueNow) {
  Scheduler s(two_jobs(), t0);
  run_due(s, t0);
  EXPECT_TRUE(s.request_resync("a"));
  EXPECT_FALSE(s.request_resync("nosuch"));
  EXPECT_EQ(run_due(s, t0 + seconds(5)), (std::vector<std::string>{"a"}));
  s.request_resync_all();
  EXPECT_EQ(run_due(s, t0 + seconds(6)), (std::vector<std::string>{"a", "b"}));
}

TEST(Scheduler, AResyncRequestedDuringARunIsServedAfterIt) {
  Scheduler s(two_jobs(), t0);
  auto d = s.next(t0);
  ASSERT_EQ(d.kind, Kind::run);
  s.request_resync(d.job);  // arrives while "a" runs
  s.finished(d.job, t0 + seconds(1), 0.0, std::nullopt);
  EXPECT_EQ(s.due("a"), t0 + seconds(1) + minutes(30)) << "the interval, until the request is served";
  // The request makes "a" due again right away (after "b", which has waited since t0).
  EXPECT_EQ(run_due(s, t0 + seconds(1)), (std::vector<std::string>{"b", "a"}));
}

TEST(Scheduler, AReloadComesFirstAndARejectedOneRunsNothingExtra) {
  Scheduler s(two_jobs(), t0);
  run_due(s, t0);
  s.request_reload();
  EXPECT_EQ(s.next(t0 + seconds(1)).kind, Kind::reload);
  // The reload was rejected: no set_jobs(), and the schedule stands.
  EXPECT_EQ(run_due(s, t0 + seconds(1)), std::vector<std::string>{});
  EXPECT_EQ(s.next(t0 + seconds(1)).until, t0 + minutes(10));
  // An accepted one makes every job of the new configuration due.
  s.request_reload();
  EXPECT_EQ(s.next(t0 + seconds(2)).kind, Kind::reload);
  s.set_jobs(two_jobs(), t0 + seconds(2));
  EXPECT_EQ(run_due(s, t0 + seconds(2)), (std::vector<std::string>{"a", "b"}));
}

TEST(Scheduler, ReloadedJobsReplaceTheOldOnes) {
  Scheduler s(two_jobs(), t0);
  run_due(s, t0);
  s.request_resync("b");
  s.set_jobs({{"c", minutes(5), milliseconds(0)}}, t0 + seconds(2));
  EXPECT_FALSE(s.due("a"));
  EXPECT_FALSE(s.request_resync("a"));
  EXPECT_EQ(run_due(s, t0 + seconds(2)), (std::vector<std::string>{"c"}));
  EXPECT_EQ(s.finished("a", t0, 0.0, std::nullopt), milliseconds(0)) << "a removed job is not rescheduled";
  EXPECT_FALSE(s.due("a"));
}

TEST(Scheduler, NoJobsMeansSleepUntilWoken) {
  Scheduler s({}, t0);
  Scheduler::Decision d = s.next(t0);
  EXPECT_EQ(d.kind, Kind::sleep);
  EXPECT_EQ(d.until, Scheduler::Clock::time_point::max());
}
