// The retry policy: which failures are worth another try, how long to wait,
// when an item is parked, and when a target's breaker trips.
//
// Pure functions and one small state machine (Breaker), no I/O and no clock
// reads: callers pass the random draw and "now", so every rule is unit-tested.
//
//  - Transient: transport errors and timeouts, HTTP 408, 429 and 5xx, SOAP
//    faults other than security/deserialization, and answers whose outcome is
//    unknown (truncated, unreadable, miscounted). Retried within the run with
//    exponential back-off and full jitter, never sooner than Retry-After.
//  - Configuration errors: any other 4xx and InvalidSecurity/Client faults.
//    Resending cannot help; the peer is blocked until a reload or
//    blocked_retry_interval.
//  - Per-item refusals: the item waits item_retry_delay x 4^(n-1) (capped)
//    before its next send; after item_max_failures refusals it is parked.
#pragma once

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace rostersync::sync {

using Millis = std::chrono::milliseconds;

enum class FailureClass { transient, configuration };

// How an HTTP status other than 2xx is treated.
FailureClass classify_http_status(int status);

// The same, for a whole answer: a 403 that says it is throttling (Canvas
// answers "403 Forbidden (Rate Limit Exceeded)" with X-Rate-Limit-Remaining: 0)
// is transient, not a configuration error.
FailureClass classify_http_response(int status, std::string_view body, std::string_view rate_limit_remaining);

// Retry-After as delta-seconds or an HTTP-date (RFC 9110), relative to `now`.
// nullopt when absent or malformed; a date in the past gives 0.
std::optional<Millis> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now);

// The wait before send number `attempt` (2 = first retry): a uniform draw
// (`unit_random` in [0,1)) below min(max_retry_delay, retry_delay x 2^(attempt-2)),
// but never less than `retry_after`. nullopt when Retry-After asks for longer
// than max_retry_delay: the run stops trying and the next run sends again.
std::optional<Millis> retry_wait(const config::RetrySettings& settings, int attempt, double unit_random,
                                 std::optional<Millis> retry_after);

// After the n-th refusal of one item (n >= 1): parked, or the wait before its next send.
struct ItemVerdict {
  bool parked = false;
  Millis wait{0};
};
ItemVerdict item_verdict(const config::ItemRetrySettings& settings, int refusals);

// Per target, within a run: trips when the share of failed items in the most
// recent window, or a run of wholly failed batches, crosses the limits.
class Breaker {
 public:
  explicit Breaker(config::BreakerSettings settings) : settings_(settings) {}

  // One batch's result: `items` sent, `failed` of them refused or lost.
  // `batch_failed`: no per-item answer at all (all attempts failed).
  void record(int items, int failed, bool batch_failed);
  bool tripped() const { return !reason_.empty(); }
  const std::string& reason() const { return reason_; }

 private:
  config::BreakerSettings settings_;
  std::deque<std::pair<int, int>> window_;  // (items, failed) per batch, newest last
  int window_items_ = 0;
  int window_failed_ = 0;
  int consecutive_failed_batches_ = 0;
  std::string reason_;
};

}  // namespace rostersync::sync
