// decide_start and decide_outcome: which holds keep a job from running and
// how every combination of walk, target and stop ends a run.
#include <gtest/gtest.h>

#include "sync/policy/run_outcome.hpp"

using namespace rostersync;
using namespace rostersync::sync;
using std::chrono::milliseconds;

namespace {

Hold hold(HoldScope scope, HoldKind kind, milliseconds remaining) {
  Hold h;
  h.scope = scope;
  h.name = scope == HoldScope::job ? "course-1" : "its";
  h.kind = kind;
  h.reason = "a:InvalidSecurity";
  h.remaining = remaining;
  return h;
}

}  // namespace

TEST(RunStartRule, NoHoldRuns) {
  RunStart s = decide_start(std::nullopt, std::nullopt);
  EXPECT_TRUE(s.run);
  EXPECT_FALSE(s.probing);
}

TEST(RunStartRule, AnActiveHoldOnTheJobOrTargetKeepsItFromRunning) {
  RunStart job = decide_start(hold(HoldScope::job, HoldKind::blocked, milliseconds(5000)), std::nullopt);
  EXPECT_FALSE(job.run);
  EXPECT_EQ(job.held_because, "blocked: job course-1: a:InvalidSecurity");
  EXPECT_EQ(job.retry_in, milliseconds(5000));

  RunStart target = decide_start(std::nullopt, hold(HoldScope::target, HoldKind::breaker, milliseconds(900)));
  EXPECT_FALSE(target.run);
  EXPECT_EQ(target.held_because, "circuit breaker open for target its: a:InvalidSecurity");
}

TEST(RunStartRule, AHeldSourceKeepsEveryJobOfItFromRunningBeforeTheTargetIsConsidered) {
  Hold source = hold(HoldScope::source, HoldKind::blocked, milliseconds(3000));
  source.name = "canvas";
  source.reason = "token endpoint: invalid_client";
  RunStart s = decide_start(std::nullopt, hold(HoldScope::target, HoldKind::breaker, milliseconds(-1)), source);
  EXPECT_FALSE(s.run);
  EXPECT_EQ(s.held_because, "blocked: source canvas: token endpoint: invalid_client");
  EXPECT_EQ(s.retry_in, milliseconds(3000));
  source.remaining = milliseconds(-1);  // lapsed: the job runs (and probes the target)
  EXPECT_TRUE(decide_start(std::nullopt, hold(HoldScope::target, HoldKind::breaker, milliseconds(-1)), source).probing);
}

TEST(RunStartRule, ALapsedBreakerHoldRunsAsAProbeALapsedBlockRunsNormally) {
  RunStart probe = decide_start(std::nullopt, hold(HoldScope::target, HoldKind::breaker, milliseconds(-1)));
  EXPECT_TRUE(probe.run);
  EXPECT_TRUE(probe.probing);
  RunStart lapsed = decide_start(hold(HoldScope::job, HoldKind::blocked, milliseconds(-1)),
                                 hold(HoldScope::target, HoldKind::blocked, milliseconds(0)));
  EXPECT_TRUE(lapsed.run);
  EXPECT_FALSE(lapsed.probing);
}

TEST(RunOutcomeRule, CompleteAndEverythingSentIsOkAndPrunes) {
  RunVerdict v = decide_outcome({true, "", "", false, 0, 0});
  EXPECT_EQ(v.outcome, RunOutcome::ok);
  EXPECT_TRUE(v.prune_snapshot);
  EXPECT_EQ(v.error, "");
}

TEST(RunOutcomeRule, RefusedOrUnansweredItemsMakeItPartial) {
  EXPECT_EQ(decide_outcome({true, "", "", false, 0, 2}).outcome, RunOutcome::partial);
  EXPECT_EQ(decide_outcome({true, "", "", false, 3, 0}).outcome, RunOutcome::partial);
}

TEST(RunOutcomeRule, AnyErrorFailsTheRunAndOnlyACompleteWalkPrunes) {
  RunVerdict walk = decide_outcome({false, "roster walk failed at page 2: HTTP 503", "", false, 0, 0});
  EXPECT_EQ(walk.outcome, RunOutcome::failed);
  EXPECT_FALSE(walk.prune_snapshot);
  RunVerdict both = decide_outcome({false, "walk broke", "blocked: target its: x", false, 4, 0});
  EXPECT_EQ(both.error, "walk broke; blocked: target its: x");
  RunVerdict target_only = decide_outcome({true, "", "blocked: target its: x", false, 4, 0});
  EXPECT_EQ(target_only.outcome, RunOutcome::failed);
  EXPECT_TRUE(target_only.prune_snapshot) << "the walk itself was complete";
}

TEST(RunOutcomeRule, AStopWithWorkLeftIsInterruptedButAFinishedRunStaysOk) {
  RunVerdict mid_walk = decide_outcome({false, "", "", true, 0, 0});
  EXPECT_EQ(mid_walk.outcome, RunOutcome::interrupted);
  EXPECT_EQ(mid_walk.error, "stopped before the walk completed");
  RunVerdict unsent = decide_outcome({true, "", "", true, 5, 0});
  EXPECT_EQ(unsent.outcome, RunOutcome::interrupted);
  EXPECT_EQ(unsent.error, "stopped with 5 item(s) not sent or unanswered");
  EXPECT_EQ(decide_outcome({true, "", "", true, 0, 0}).outcome, RunOutcome::ok);
  EXPECT_EQ(decide_outcome({false, "store failed", "", true, 0, 0}).outcome, RunOutcome::failed);
}
