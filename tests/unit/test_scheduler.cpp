// The daemon's Scheduler with synthetic time and draws: placement at
// start-up and after reloads, walk slots per source, intervals with jitter,
// holds, resync and reload requests, removed jobs.
#include <gtest/gtest.h>

#include "sync/machines/scheduler.hpp"

using namespace rostersync::sync;
using Kind = Scheduler::Decision::Kind;
using Timing = Scheduler::JobTiming;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

const Scheduler::Clock::time_point t0 = Scheduler::Clock::time_point() + std::chrono::hours(1000);

Timing job(std::string name, std::string source = "lt", minutes interval = minutes(30), milliseconds jitter = minutes(1)) {
  Timing t;
  t.name = std::move(name);
  t.source = std::move(source);
  t.interval = interval;
  t.jitter = jitter;
  t.has_run = true;
  t.planned_in = milliseconds(0);  // due now
  return t;
}

std::vector<Timing> two_jobs() { return {job("a"), job("b", "lt", minutes(10), milliseconds(0))}; }

Scheduler::Draw fixed(double value) {
  return [value] { return value; };
}

// Starts whatever may start at `now` (without finishing it); returns the jobs started.
std::vector<std::string> start_due(Scheduler& s, Scheduler::Clock::time_point now) {
  std::vector<std::string> started;
  for (auto d = s.next(now); d.kind == Kind::run; d = s.next(now)) started.push_back(d.job);
  return started;
}

// Runs whatever is due at `now` to its end there (draw 0, no hold); returns the jobs run.
std::vector<std::string> run_due(Scheduler& s, Scheduler::Clock::time_point now) {
  std::vector<std::string> ran;
  for (auto d = s.next(now); d.kind == Kind::run; d = s.next(now)) {
    ran.push_back(d.job);
    s.finished(d.job, now, 0.0, std::nullopt);
  }
  return ran;
}

Scheduler started(std::vector<Timing> jobs, std::map<std::string, int> walks = {{"lt", 4}}) {
  Scheduler s(std::move(walks));
  s.start(jobs, t0, fixed(0.0));
  return s;
}

}  // namespace

TEST(Scheduler, AtMostTheSourcesWalksAtOnceAndAFinishedWalkFreesItsSlot) {
  std::vector<Timing> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back(job("j" + std::to_string(i)));
  jobs.push_back(job("other", "second-source"));
  Scheduler s = started(jobs, {{"lt", 2}, {"second-source", 1}});
  EXPECT_EQ(start_due(s, t0), (std::vector<std::string>{"j0", "j1", "other"}));
  EXPECT_EQ(s.running_count(), 3u);
  EXPECT_EQ(s.waiting_count(t0), 4u);
  Scheduler::Decision d = s.next(t0);
  EXPECT_EQ(d.kind, Kind::sleep);
  EXPECT_EQ(d.until, Scheduler::Clock::time_point::max()) << "nothing can start until a slot frees";
  s.walk_finished("j0");  // still sending its last creates: running, but its slot is free
  EXPECT_TRUE(s.running("j0"));
  EXPECT_EQ(start_due(s, t0), (std::vector<std::string>{"j2"}));
  s.finished("j1", t0, 0.0, std::nullopt);
  EXPECT_EQ(start_due(s, t0), (std::vector<std::string>{"j3"}));
  s.walk_finished("j0");  // twice: no extra slot
  EXPECT_EQ(start_due(s, t0), std::vector<std::string>{});
}

TEST(Scheduler, AJobNeverRunsTwiceAtOnceEvenWhenResyncedDuringItsRun) {
  Scheduler s = started(two_jobs());
  EXPECT_EQ(start_due(s, t0), (std::vector<std::string>{"a", "b"}));
  s.request_resync("a");
  s.request_resync_all();
  EXPECT_EQ(start_due(s, t0 + seconds(1)), std::vector<std::string>{}) << "both still run";
  EXPECT_EQ(s.finished("a", t0 + seconds(2), 0.0, std::nullopt), minutes(30));
  EXPECT_EQ(start_due(s, t0 + seconds(2)), (std::vector<std::string>{"a"})) << "the request is served when it ends";
  s.finished("b", t0 + seconds(3), 0.0, std::nullopt);
  EXPECT_EQ(start_due(s, t0 + seconds(3)), (std::vector<std::string>{"b"})) << "resync-all covered b too";
}

TEST(Scheduler, OnceModeRunsEveryJobOnceAsSlotsAllow) {
  Scheduler s({{"lt", 1}}, Scheduler::Mode::once);
  s.start(two_jobs(), t0, fixed(0.9));
  EXPECT_EQ(start_due(s, t0), (std::vector<std::string>{"a"}));
  EXPECT_EQ(s.finished("a", t0, 0.0, std::nullopt), std::nullopt);
  EXPECT_EQ(start_due(s, t0), (std::vector<std::string>{"b"}));
  s.finished("b", t0, 0.0, std::nullopt);
  EXPECT_EQ(s.job_count(), 0u);
  EXPECT_EQ(s.next(t0).until, Scheduler::Clock::time_point::max());
}

TEST(Scheduler, StartUpKeepsThePlannedTimeStartsNewJobsSoonAndSpreadsOverdueOnes) {
  Timing planned = job("planned");
  planned.planned_in = minutes(7);
  Timing too_far = job("too-far");
  too_far.planned_in = std::chrono::hours(5);  // planned under an older, longer interval
  Timing fresh = job("fresh");
  fresh.has_run = false;
  fresh.planned_in.reset();
  Timing overdue = job("overdue");
  overdue.planned_in = milliseconds(-60'000);
  Timing unrecorded = job("unrecorded");
  unrecorded.planned_in.reset();
  Scheduler s({{"lt", 4}});
  s.start({planned, too_far, fresh, overdue, unrecorded}, t0, fixed(0.5));
  EXPECT_EQ(s.due("planned"), t0 + minutes(7));
  EXPECT_EQ(s.due("too-far"), t0 + minutes(31)) << "at most interval + jitter";
  EXPECT_EQ(s.due("fresh"), t0 + seconds(30)) << "within its jitter";
  EXPECT_EQ(s.due("overdue"), t0 + minutes(15)) << "spread over its interval";
  EXPECT_EQ(s.due("unrecorded"), t0 + minutes(15));
}

// Starts `job` (resynced, at `now`) and ends its run there, as the loop would.
std::optional<milliseconds> run_once(Scheduler& s, const std::string& job, double draw, std::optional<milliseconds> hold) {
  s.request_resync(job);
  start_due(s, t0);
  EXPECT_TRUE(s.running(job));
  return s.finished(job, t0, draw, hold);
}

TEST(Scheduler, IntervalPlusADrawnShareOfTheJitter) {
  Scheduler s = started(two_jobs());
  EXPECT_EQ(run_once(s, "a", 0.5, std::nullopt), minutes(30) + seconds(30));
  EXPECT_EQ(run_once(s, "a", 0.0, std::nullopt), minutes(30));
  EXPECT_EQ(run_once(s, "a", 0.999999, std::nullopt), minutes(30) + milliseconds(59'999));
  EXPECT_EQ(s.finished("a", t0, 0.0, std::nullopt), std::nullopt) << "not running: nothing to finish";
}

TEST(Scheduler, AHoldSetsTheNextTryEvenSoonerButNotUnderASecond) {
  Scheduler s = started(two_jobs());
  EXPECT_EQ(run_once(s, "a", 0.5, milliseconds(5000)), milliseconds(5000));
  EXPECT_EQ(run_once(s, "a", 0.5, milliseconds(3'600'000)), milliseconds(3'600'000));
  EXPECT_EQ(run_once(s, "a", 0.5, milliseconds(0)), seconds(1));
  EXPECT_EQ(s.due("a"), t0 + seconds(1));
}

TEST(Scheduler, AtMostTwiceTheWalksRunInAllWhileOthersOnlyWaitForTheirSends) {
  std::vector<Timing> jobs;
  for (int i = 0; i < 6; ++i) jobs.push_back(job("j" + std::to_string(i)));
  Scheduler s = started(jobs, {{"lt", 2}});
  EXPECT_EQ(start_due(s, t0), (std::vector<std::string>{"j0", "j1"}));
  s.walk_finished("j0");
  s.walk_finished("j1");
  EXPECT_EQ(start_due(s, t0), (std::vector<std::string>{"j2", "j3"}));
  s.walk_finished("j2");
  EXPECT_EQ(start_due(s, t0), std::vector<std::string>{}) << "four running: j0..j3 still sending";
  s.finished("j0", t0, 0.0, std::nullopt);
  EXPECT_EQ(start_due(s, t0), (std::vector<std::string>{"j4"}));
}

TEST(Scheduler, SleepsUntilTheEarliestDueJobThenRunsIt) {
  Scheduler s = started(two_jobs());
  EXPECT_EQ(run_due(s, t0), (std::vector<std::string>{"a", "b"}));
  Scheduler::Decision d = s.next(t0 + minutes(9));
  EXPECT_EQ(d.kind, Kind::sleep);
  EXPECT_EQ(d.job, "b");
  EXPECT_EQ(d.until, t0 + minutes(10));
  EXPECT_EQ(run_due(s, t0 + minutes(10)), (std::vector<std::string>{"b"}));
  EXPECT_EQ(run_due(s, t0 + minutes(30)), (std::vector<std::string>{"b", "a"}));
}

TEST(Scheduler, ResyncOfOneJobOrAllMakesThemDueNow) {
  Scheduler s = started(two_jobs());
  run_due(s, t0);
  EXPECT_TRUE(s.request_resync("a"));
  EXPECT_FALSE(s.request_resync("nosuch"));
  EXPECT_EQ(run_due(s, t0 + seconds(5)), (std::vector<std::string>{"a"}));
  s.request_resync_all();
  EXPECT_EQ(run_due(s, t0 + seconds(6)), (std::vector<std::string>{"a", "b"}));
}

TEST(Scheduler, AReloadComesFirstAndARejectedOneRunsNothingExtra) {
  Scheduler s = started(two_jobs());
  run_due(s, t0);
  s.request_reload();
  EXPECT_EQ(s.next(t0 + seconds(1)).kind, Kind::reload);
  // Rejected: no update(), and the schedule stands.
  EXPECT_EQ(run_due(s, t0 + seconds(1)), std::vector<std::string>{});
  EXPECT_EQ(s.next(t0 + seconds(1)).until, t0 + minutes(10));
}

TEST(Scheduler, AnAcceptedReloadRunsOnlyWhatChanged) {
  Scheduler s = started(two_jobs());
  run_due(s, t0);  // a due at +30m, b at +10m
  std::vector<Timing> jobs = two_jobs();
  jobs.push_back(job("new"));
  s.update(jobs, {"b"}, t0 + seconds(2), fixed(0.5), {{"lt", 4}});
  EXPECT_EQ(s.due("a"), t0 + minutes(30)) << "unchanged: keeps its time";
  EXPECT_EQ(s.due("b"), t0 + seconds(2)) << "changed: within its jitter (0 here)";
  EXPECT_EQ(s.due("new"), t0 + seconds(32)) << "new: within its jitter";
  EXPECT_EQ(run_due(s, t0 + seconds(2)), (std::vector<std::string>{"b"}));
  EXPECT_EQ(run_due(s, t0 + seconds(32)), (std::vector<std::string>{"new"}));
}

TEST(Scheduler, AJobDueWithinItsJitterStillWaitsForThePass) {
  // Three jobs of one round, spread by a 1 min jitter; one a whole interval away.
  Scheduler s = started({job("a", "lt", minutes(30), minutes(1)), job("b", "lt", minutes(30), minutes(1)),
                         job("c", "lt", minutes(30), minutes(1)), job("d", "lt", minutes(30), milliseconds(0))});
  EXPECT_EQ(run_due(s, t0), (std::vector<std::string>{"a", "b", "c", "d"}));  // all due at t0 (draw 0)
  s.update({job("a", "lt", minutes(30), minutes(1)), job("b", "lt", minutes(30), minutes(1)),
            job("c", "lt", minutes(30), minutes(1)), job("d", "lt", minutes(30), milliseconds(0))},
           {"a", "b"}, t0 + minutes(1), fixed(0.5), {{"lt", 4}});  // a, b due within their jitter: +30 s
  EXPECT_EQ(s.waiting_count(t0 + minutes(1)), 2u) << "due 30 s later, within their jitter: the pass waits for them";
  EXPECT_EQ(s.waiting_count(t0 + minutes(1) + seconds(30)), 2u);
  EXPECT_EQ(s.waiting_count(t0 + minutes(20)), 2u) << "c and d are due at +30 min: not within a jitter of +20 min";
}

TEST(Scheduler, AJobChangedWhileItRunsRunsSoonAfterThatRunNotAnIntervalLater) {
  Scheduler s = started(two_jobs());
  EXPECT_EQ(start_due(s, t0), (std::vector<std::string>{"a", "b"}));
  s.update(two_jobs(), {"a"}, t0 + seconds(5), fixed(0.5), {{"lt", 4}});  // a changed while running
  s.finished("b", t0 + seconds(6), 0.0, std::nullopt);
  EXPECT_EQ(s.due("b"), t0 + seconds(6) + minutes(10)) << "unchanged: its interval";
  s.finished("a", t0 + seconds(10), 0.5, std::nullopt);
  EXPECT_EQ(s.due("a"), t0 + seconds(10) + seconds(30)) << "changed: within its jitter after the run, not 30 min";
  // Only that once: the next run is an interval later again.
  EXPECT_EQ(run_due(s, t0 + seconds(40)), (std::vector<std::string>{"a"}));
  EXPECT_EQ(s.due("a"), t0 + seconds(40) + minutes(30));
}

TEST(Scheduler, ARemovedJobStopsAndItsRunningWalkStillFreesItsSlot) {
  Scheduler s = started({job("a"), job("b")}, {{"lt", 1}});
  EXPECT_EQ(start_due(s, t0), (std::vector<std::string>{"a"}));
  s.request_resync("a");
  s.update({job("b")}, {}, t0 + seconds(1), fixed(0.0), {{"lt", 1}});  // a removed while it walks
  EXPECT_FALSE(s.due("a"));
  EXPECT_FALSE(s.request_resync("a"));
  EXPECT_EQ(start_due(s, t0 + seconds(1)), std::vector<std::string>{}) << "a still holds the only slot";
  EXPECT_EQ(s.finished("a", t0 + seconds(2), 0.0, std::nullopt), std::nullopt) << "not rescheduled";
  EXPECT_EQ(start_due(s, t0 + seconds(2)), (std::vector<std::string>{"b"}));
  s.finished("b", t0 + seconds(3), 0.0, std::nullopt);
  EXPECT_EQ(run_due(s, t0 + std::chrono::hours(2)), (std::vector<std::string>{"b"})) << "a never again";
}

TEST(Scheduler, NoJobsMeansSleepUntilWoken) {
  Scheduler s = started({});
  Scheduler::Decision d = s.next(t0);
  EXPECT_EQ(d.kind, Kind::sleep);
  EXPECT_EQ(d.until, Scheduler::Clock::time_point::max());
}
