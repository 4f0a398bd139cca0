#include "sync/io/batch_sender.hpp"

#include "store/attempt.hpp"

#include <boost/asio/co_spawn.hpp>

#include <spdlog/spdlog.h>

#include "domain/text.hpp"
#include "sync/imses/request.hpp"
#include "sync/imses/soap.hpp"

namespace rostersync::sync::io {

asio::awaitable<void> drive_batch(RunState& run, BatchSendMachine& machine, const std::string& what,
                                  const Attempt& attempt) {
  struct Ops {
    RunState& run;
    BatchSendMachine& machine;
    const std::string& what;
    const Attempt& send;
    int last = 0;
    asio::awaitable<Result<HttpResponse>> attempt(const BatchSendAction& action) {
      last = action.attempt;
      co_return co_await send(action.attempt);
    }
    BatchSendMachine::Responded responded(const Result<HttpResponse>& r) {
      return {r, run.engine.draw(), std::chrono::system_clock::now(), run.engine.stopping, run.target_stopped};
    }
    BatchSendMachine::Waited waited() { return {run.engine.stopping, run.target_stopped}; }
    void retrying() { run.log->debug("job {} {} attempt {}: {}", run.job.name, what, last, machine.result().error); }
  };
  BatchSendAction first = machine.resume(BatchSendMachine::Start{run.engine.stopping, run.target_stopped});
  co_await run.engine.perform_attempts(machine, first, Ops{run, machine, what, attempt});
}

BatchSender::BatchSender(asio::any_io_executor ex, RunState& run)
    : ex_(ex), run_(run), changed_(ex),
      queue_(static_cast<std::size_t>(run.target.config->batch_size),
             static_cast<std::size_t>(2 * std::max(run.target.config->in_flight_budget, run.target.config->batch_size))) {}

void BatchSender::enqueue(PlannedWrite write) {
  queue_.push(std::move(write));
  pump();
}

asio::awaitable<void> BatchSender::wait_for_room() {
  while (!run_.target_stopped && queue_.over_high_water()) co_await changed_.wait();
}

asio::awaitable<void> BatchSender::finish() {
  queue_.close();
  pump();
  while (queue_.active_batches() > 0) co_await changed_.wait();
  queue_.reopen();
}

void BatchSender::pump() {
  while (auto batch = queue_.take(run_.probing, run_.target_stopped || run_.engine.stopping)) {
    if (run_.engine.dry_run) {  // nothing is sent: the plan is what would have been
      for (auto& w : *batch) run_.would_send.push_back(std::move(w));
      queue_.finished(batch->size());
      continue;
    }
    // send_batch catches everything; should anything escape, the event
    // loop's run() rethrows it and the process ends visibly.
    asio::co_spawn(ex_, send_batch(std::move(*batch), ++sequence_), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  }
}

asio::awaitable<void> BatchSender::send_batch(std::vector<PlannedWrite> batch, int sequence) {
  const int n = static_cast<int>(batch.size());
  bool acquired = false;
  try {
    co_await run_.target.budget->acquire(n);
    acquired = true;
    // Given back as soon as itslearning has answered (or the batch is
    // given up), before the answer is recorded: the budget counts
    // operations itslearning still holds, not our bookkeeping.
    co_await send_with_retries(batch, sequence, [&] {
      if (std::exchange(acquired, false)) run_.target.budget->release(n);
    });
  } catch (const std::exception& e) {  // a bug, not the store (its failures are values): stop sending visibly
    run_.stop_target(std::string("unexpected error while sending a batch: ") + e.what());
  } catch (...) {
    run_.stop_target("unexpected error while sending a batch");
  }
  if (acquired) run_.target.budget->release(n);
  queue_.finished(batch.size());
  run_.report();
  pump();
  changed_.notify_all();
}

// The database failed under a batch (marking its attempt, recording its
// answer, lifting the breaker's hold): the target takes no more writes in
// this run, and what was not recorded stays pending, resent with the same ids.
void BatchSender::stop_for_store(const Failure& failure) {
  run_.note_store_failure(failure);
  run_.stop_target(failure.describe());
}

void BatchSender::judge(const BreakerSample& sample) {
  const config::Target& target = *run_.target.config;
  BreakerVerdict verdict = judge_batch(*run_.target.breaker, target.breaker, run_.probing, run_.target_stopped, sample);
  if (verdict.kind == BreakerVerdict::Kind::close) {
    run_.probing = false;
    if (Result<Done> lifted = store::attempt([&] { run_.store.clear_hold(HoldScope::target, target.name); }); !lifted) {
      return stop_for_store(lifted.failure());
    }
    run_.log->info("job {}: probe batch to target {} succeeded; circuit breaker closed", run_.job.name, target.name);
    pump();
  } else if (verdict.kind == BreakerVerdict::Kind::trip) {
    run_.hold_target(verdict.hold);
    run_.log->warn("job {}: {}", run_.job.name, run_.target_error);
  }
}

asio::awaitable<void> BatchSender::send_with_retries(const std::vector<PlannedWrite>& batch, int sequence,
                                                     const std::function<void()>& answered) {
  const config::Target& target = *run_.target.config;
  const config::Job& job = run_.job;
  const MembershipOp op = batch.front().op;  // a batch holds one operation (BatchQueue)
  std::vector<soap::WriteItem> items;
  std::vector<BatchItem> tracked;
  std::vector<std::string> ids;
  for (const auto& c : batch) {
    items.push_back({c.membership_id, job.hierarchy_id, c.person_key, c.role_type});
    tracked.push_back({c.membership_id, c.refusals});
    ids.push_back(c.membership_id);
  }
  soap::Credentials credentials{target.username, target.password.reveal()};
  BatchSendMachine machine(target, redact_url(target.endpoint), std::move(tracked));
  std::string message_id;
  auto started = Clock::now();
  const std::string what = std::string(soap::operation_name(op)) + " batch " + job.name + "-" +
                           std::to_string(run_.run_id) + "-" + std::to_string(sequence) + " (" +
                           std::to_string(items.size()) + " items)";
  co_await drive_batch(run_, machine, what, [&](int attempt) -> asio::awaitable<Result<HttpResponse>> {
    message_id = job.name + "-" + std::to_string(run_.run_id) + "-" + std::to_string(sequence) + "-" +
                 std::to_string(attempt);
    Result<Done> marked = store::attempt([&] { run_.store.mark_attempt(target.name, ids); });
    if (!marked) co_return marked.failure();  // the machine gives the batch up (BatchResult::store_failure)
    HttpRequest request = soap_request(target.endpoint, soap::soap_action(op),
                                       soap::build_membership_request(op, credentials, message_id, items));
    started = Clock::now();
    co_return co_await exchange(*run_.target.http, std::move(request), run_.target.observer, target.name,
                                soap::operation_name(op));
  });
  answered();
  const BatchResult& result = machine.result();
  if (result.store_failure) {
    stop_for_store(*result.store_failure);
    co_return;
  }
  if (result.hold) {
    run_.hold_target(*result.hold);
    run_.log->error("job {}: {}", job.name, run_.target_error);
  }
  if (Result<Done> recorded = store::attempt([&] { run_.store.record_results(target.name, result.items); }); !recorded) {
    stop_for_store(recorded.failure());
    co_return;
  }
  (op == MembershipOp::update ? run_.stats.updated : op == MembershipOp::remove ? run_.stats.deleted : run_.stats.created) +=
      result.confirmed;
  run_.stats.failed += result.refused;
  if (result.answered) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
    run_.log->debug("job {} {} batch {}: {} items, {} confirmed, {} refused, {} unknown in {} ms", job.name,
                    soap::operation_name(op), message_id, items.size(), result.confirmed, result.refused, result.unknown,
                    ms);
  } else if (!result.gave_up) {
    run_.log->warn("job {}: {} batch of {} items left pending: {}", job.name, soap::operation_name(op), items.size(),
                   result.error);
  }
  if (result.parked > 0) {
    run_.log->warn("job {}: {} item(s) parked after {} refusals; `rostersync failures` lists them, `rostersync retry` "
                 "puts them back", job.name, result.parked, target.items.max_failures);
  }
  if (result.breaker_sample) judge(*result.breaker_sample);
}

}  // namespace rostersync::sync::io
