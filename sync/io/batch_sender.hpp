// The batch sender: a run's writes (creates, updates, deletes) go to
// itslearning in batches, through BatchQueue and one BatchSendMachine per
// batch, at most the target's budget of operations in flight (retries
// included: a retry keeps its budget). Every answer is recorded before the
// batch counts as finished; the breaker judges each batch.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "sync/io/engine_impl.hpp"

namespace rostersync::sync::io {

// Drives one BatchSendMachine to its finish: `attempt(n)` makes the n-th
// request and returns its answer, back-offs sleep (cut short by a stop).
// Shared by the write batches and the group read. `what` names the request
// in the debug line of a failed attempt.
using Attempt = std::function<asio::awaitable<Result<HttpResponse>>(int attempt)>;
asio::awaitable<void> drive_batch(RunState& run, BatchSendMachine& machine, const std::string& what,
                                  const Attempt& attempt);

class BatchSender {
 public:
  BatchSender(asio::any_io_executor ex, RunState& run);

  void enqueue(PlannedWrite write);

  // Waits until few enough items are queued or in flight (bounds memory).
  asio::awaitable<void> wait_for_room();

  // Sends the last partial batches and waits for all. Items may still be
  // enqueued after it (the deletions decided once the walk is complete);
  // call it again for them.
  asio::awaitable<void> finish();

 private:
  void pump();
  asio::awaitable<void> send_batch(std::vector<PlannedWrite> batch, int sequence);
  // Applies the breaker's verdict on one batch.
  void judge(const BreakerSample& sample);
  void stop_for_store(const Failure& failure);
  asio::awaitable<void> send_with_retries(const std::vector<PlannedWrite>& batch, int sequence,
                                          const std::function<void()>& answered);

  asio::any_io_executor ex_;
  RunState& run_;
  AsyncSignal changed_;
  BatchQueue queue_;
  int sequence_ = 0;
};

}  // namespace rostersync::sync::io
