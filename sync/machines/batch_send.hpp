// Sending creates to itslearning, as sans-I/O pieces the engine drives:
//
//  - BatchQueue cuts planned writes into batches of one operation each
//    (create, update or delete: one SOAP call each): full batches as soon as
//    they fill, the last partial one when the walk is over, one at a time
//    while the target's breaker is half-open, none once the target stopped.
//    It also says when the walk must pause so memory stays bounded.
//  - BatchSendMachine sends one batch with retries: resume() returns `send`
//    (attempt n), `wait` (back-off) or `finish`; at the finish, result() says
//    what became of every item (created, waiting or parked per the item
//    retry policy, or unknown and left pending), whether the target must be
//    held (credentials or request rejected), and what the breaker should judge.
//  - judge_batch() feeds that sample to the target's breaker, closing it
//    after a good probe and tripping it (with the hold to set) past its limits.
//
// No clock reads, no randomness, no I/O: tests replay any event sequence.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "domain/http_message.hpp"
#include "domain/result.hpp"
#include "domain/roster.hpp"
#include "domain/run.hpp"
#include "sync/policy/retry_policy.hpp"

namespace rostersync::sync {

class BatchQueue {
 public:
  // `high_water`: items queued or in batches beyond which the walk pauses.
  BatchQueue(std::size_t batch_size, std::size_t high_water) : batch_size_(batch_size), high_water_(high_water) {}

  void push(PlannedWrite write);
  // No more items will come: a partial last batch may go.
  void close() { closed_ = true; }
  // More items after all (the deletions decided once the walk is complete).
  void reopen() { closed_ = false; }

  // The next batch to send now, or nullopt. While `probing`, only one batch
  // is out at a time; once `sending_stopped` (the target is held, or the
  // process is stopping), none: queued items stay pending with their ids.
  std::optional<std::vector<PlannedWrite>> take(bool probing, bool sending_stopped);
  // A batch taken earlier is over (answered, given up or failed).
  void finished(std::size_t items);

  bool over_high_water() const { return queued_ + in_batches_ > high_water_; }
  int active_batches() const { return active_; }

 private:
  std::size_t batch_size_;
  std::size_t high_water_;
  std::array<std::deque<PlannedWrite>, 3> queues_;  // by MembershipOp
  std::size_t queued_ = 0;
  std::size_t in_batches_ = 0;
  int active_ = 0;
  bool closed_ = false;
};

struct BatchItem {
  std::string membership_id;
  int refusals = 0;  // refusals stored so far
};

// What the breaker is told about one batch.
struct BreakerSample {
  int items = 0;
  int failed = 0;            // refused or lost
  bool batch_failed = false;  // no per-item answer at all
};

// A hold the driver must set.
struct HoldRequest {
  HoldKind kind = HoldKind::blocked;
  std::string reason;
  std::chrono::milliseconds duration{0};
};

struct BatchResult {
  std::vector<ItemResult> items;  // one per item, to record
  bool answered = false;          // a per-item answer came back
  int confirmed = 0, refused = 0, parked = 0, unknown = 0;  // items by fate (confirmed: itslearning did the write)
  std::string error;              // no per-item answer: the last failure
  bool gave_up = false;           // stopped on purpose (stop, target stopped, rejected), not for failing
  std::optional<HoldRequest> hold;             // rejected: hold the target
  std::optional<BreakerSample> breaker_sample;  // what the breaker judges, if anything
  // The state database failed before the send (its attempt not marked):
  // nothing was sent, every item stays pending, and the caller stops the
  // target for this run. Never retried here, never a breaker sample.
  std::optional<Failure> store_failure;
};

struct BatchSendAction {
  enum class Kind {
    send,    // mark the attempt, POST the batch, then resume(Responded); a store failure
             // marking it is resumed as the Responded failure (kind store/store_busy)
    wait,    // sleep `delay`, then resume(Waited)
    finish,  // result() is final
  };
  Kind kind = Kind::send;
  int attempt = 0;
  std::chrono::milliseconds delay{0};
};

class BatchSendMachine {
 public:
  // Sent once the batch holds its share of the budget (which may take a while).
  struct Start {
    bool stopping = false;
    bool target_stopped = false;
  };
  struct Responded {
    const Result<HttpResponse>& response;
    double unit_random = 0;
    std::chrono::system_clock::time_point now{};
    bool stopping = false;
    bool target_stopped = false;
  };
  struct Waited {
    bool stopping = false;
    bool target_stopped = false;
  };

  // `endpoint_for_messages`: the target endpoint, already redacted, for error texts.
  BatchSendMachine(const config::Target& target, std::string endpoint_for_messages, std::vector<BatchItem> items);

  BatchSendAction resume(Start event);
  BatchSendAction resume(const Responded& event);
  BatchSendAction resume(Waited event);

  const BatchResult& result() const { return result_; }

 private:
  BatchSendAction next_attempt(bool stopping, bool target_stopped);
  BatchSendAction give_up();
  BatchSendAction unanswered();
  void answered(const std::vector<ItemResult::Fate>& fates, const std::vector<std::string>& errors);

  config::RetrySettings retry_;
  config::ItemRetrySettings item_retry_;
  std::string endpoint_;
  std::vector<BatchItem> items_;
  int attempt_ = 0;
  double unit_random_ = 0;
  std::optional<std::chrono::milliseconds> retry_after_;
  BatchResult result_;
};

struct BreakerVerdict {
  enum class Kind {
    none,   // nothing changes
    close,  // the probe succeeded: lift the target's breaker hold, stop probing
    trip,   // hold the target (kind breaker) for `hold.duration`
  };
  Kind kind = Kind::none;
  HoldRequest hold;
};

// Judges one batch for its target. While `probing` (the breaker was open), the
// sample alone decides: good closes it, bad trips it again. Otherwise it
// feeds `breaker`, which is replaced by a fresh one when it trips.
BreakerVerdict judge_batch(Breaker& breaker, const config::BreakerSettings& settings, bool probing,
                           bool target_stopped, const BreakerSample& sample);

}  // namespace rostersync::sync
