// The retry policy: failure classes, back-off with full jitter and
// Retry-After, per-item parking, and the target breaker.
#include <gtest/gtest.h>

#include "sync/policy/retry_policy.hpp"
#include "sync/policy/source_refusals.hpp"

using namespace rostersync;
using namespace rostersync::sync;
using namespace std::chrono_literals;

TEST(RetryPolicy, ServerTroubleIsTransientClientMistakesAreConfiguration) {
  for (int s : {408, 429, 500, 502, 503, 504}) EXPECT_EQ(classify_http_status(s), FailureClass::transient) << s;
  for (int s : {400, 401, 403, 404, 405, 413}) EXPECT_EQ(classify_http_status(s), FailureClass::configuration) << s;
}

TEST(RetryPolicy, RetryAfterTakesSecondsOrAnHttpDate) {
  auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(parse_retry_after("120", now), Millis(120'000));
  EXPECT_EQ(parse_retry_after(" 0 ", now), Millis(0));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), Millis(30'000));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), Millis(0));  // already past
  EXPECT_FALSE(parse_retry_after("", now));
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("-5", now));
  EXPECT_FALSE(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now));  // obsolete form: ignored, not guessed
}

TEST(RetryPolicy, BackoffDoublesUnderACapWithFullJitter) {
  config::RetrySettings s;
  s.retry_delay = 1s;
  s.max_retry_delay = 10s;
  // The draw scales the ceiling: 0 -> no wait, just below 1 -> almost the ceiling.
  EXPECT_EQ(retry_wait(s, 2, 0.0, std::nullopt), Millis(0));
  EXPECT_EQ(retry_wait(s, 2, 0.5, std::nullopt), Millis(500));
  EXPECT_EQ(retry_wait(s, 3, 0.5, std::nullopt), Millis(1000));
  EXPECT_EQ(retry_wait(s, 4, 0.5, std::nullopt), Millis(2000));
  EXPECT_EQ(retry_wait(s, 9, 0.5, std::nullopt), Millis(5000));   // 128 s capped at 10 s
  EXPECT_EQ(retry_wait(s, 60, 0.999, std::nullopt), Millis(9990));  // no overflow at high attempts
}

TEST(RetryPolicy, RetryAfterIsAFloorAndTooLongOneEndsTheRunsTries) {
  config::RetrySettings s;
  s.retry_delay = 1s;
  s.max_retry_delay = 60s;
  EXPECT_EQ(retry_wait(s, 2, 0.1, Millis(7000)), Millis(7000));
  EXPECT_EQ(retry_wait(s, 2, 0.9, Millis(100)), Millis(900));
  EXPECT_EQ(retry_wait(s, 2, 0.5, Millis(60'000)), Millis(60'000));
  EXPECT_FALSE(retry_wait(s, 2, 0.5, Millis(3'600'000)));  // an hour: leave it to the next run
}

TEST(RetryPolicy, RefusedItemsWaitLongerEachTimeThenPark) {
  config::ItemRetrySettings s;
  s.max_failures = 4;
  s.retry_delay = 15min;
  s.max_retry_delay = 2h;
  EXPECT_EQ(item_verdict(s, 1).wait, Millis(15min));
  EXPECT_EQ(item_verdict(s, 2).wait, Millis(60min));
  EXPECT_EQ(item_verdict(s, 3).wait, Millis(2h));  // 4 h capped
  EXPECT_FALSE(item_verdict(s, 3).parked);
  EXPECT_TRUE(item_verdict(s, 4).parked);
  EXPECT_TRUE(item_verdict(s, 9).parked);
}

TEST(Breaker, TripsOnTheShareOfFailedItemsInTheWindow) {
  config::BreakerSettings s;
  s.failure_percent = 40;
  s.min_items = 20;
  s.window_items = 50;
  Breaker b(s);
  b.record(10, 5, false);  // 50%, but 10 items are too few to judge
  EXPECT_FALSE(b.tripped());
  for (int i = 0; i < 4; ++i) b.record(10, 0, false);  // 5 of 50
  b.record(10, 0, false);  // the early failures slide out: 0 of the last 50
  b.record(10, 9, false);
  b.record(10, 9, false);  // 18 of the last 50 = 36%
  EXPECT_FALSE(b.tripped());
  b.record(10, 9, false);  // 27 of 50 = 54% (without the window, 32 of 90 = 36% would not trip)
  EXPECT_TRUE(b.tripped());
  EXPECT_EQ(b.reason(), "27 of the last 50 items failed");
}

TEST(Breaker, TripsOnConsecutiveFailedBatchesAndASuccessResetsTheCount) {
  config::BreakerSettings s;
  s.consecutive_failed_batches = 3;
  s.min_items = 1000;  // keep the ratio rule out of this test
  s.window_items = 1000;
  Breaker b(s);
  b.record(10, 10, true);
  b.record(10, 10, true);
  b.record(10, 0, false);
  b.record(10, 10, true);
  b.record(10, 10, true);
  EXPECT_FALSE(b.tripped());
  b.record(10, 10, true);
  EXPECT_TRUE(b.tripped());
  EXPECT_EQ(b.reason(), "3 batches in a row failed");
}

// LTIAAS's 401 does not say which key it refused: one job is its service
// key, several jobs of the source with nothing accepted is the API key.
TEST(SourceRefusals, SeveralJobsRefusedWithNothingAcceptedBlameTheApiKey) {
  SourceRefusals s;
  EXPECT_FALSE(s.refused("a")) << "one job: its own service key";
  EXPECT_FALSE(s.refused("a")) << "the same job again";
  EXPECT_TRUE(s.refused("b"));
  EXPECT_EQ(s.jobs_refused(), 2u);
}

TEST(SourceRefusals, AnAcceptedPageClearsTheSuspicionInEitherOrder) {
  SourceRefusals s;
  EXPECT_FALSE(s.refused("a"));
  s.accepted();  // another job's page went through: the API key works
  EXPECT_FALSE(s.refused("b")) << "a, then an accepted page, then b: a's refusal was a's service key";
  EXPECT_TRUE(s.refused("c")) << "b and c refused with nothing accepted since: the API key changed";
  SourceRefusals t;
  EXPECT_FALSE(t.refused("a"));
  EXPECT_FALSE(t.refused("a"));
  t.accepted();
  t.accepted();
  EXPECT_FALSE(t.refused("a"));
  EXPECT_EQ(t.jobs_refused(), 1u);
}
