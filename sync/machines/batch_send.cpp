#include "sync/machines/batch_send.hpp"

#include "sync/imses/soap.hpp"

namespace rostersync::sync {

void BatchQueue::push(PlannedWrite write) {
  queues_[static_cast<std::size_t>(write.op)].push_back(std::move(write));
  ++queued_;
}

std::optional<std::vector<PlannedWrite>> BatchQueue::take(bool probing, bool sending_stopped) {
  if (sending_stopped) return std::nullopt;
  if (probing && active_ > 0) return std::nullopt;  // a probe goes alone
  // One operation per request: the first queue with a full batch, or once
  // closed, with anything at all.
  for (auto& queue : queues_) {
    if (queue.empty() || (queue.size() < batch_size_ && !closed_)) continue;
    std::vector<PlannedWrite> batch;
    while (batch.size() < batch_size_ && !queue.empty()) {
      batch.push_back(std::move(queue.front()));
      queue.pop_front();
    }
    queued_ -= batch.size();
    ++active_;
    in_batches_ += batch.size();
    return batch;
  }
  return std::nullopt;
}

void BatchQueue::finished(std::size_t items) {
  --active_;
  in_batches_ -= items;
}

BatchSendMachine::BatchSendMachine(const config::Target& target, std::string endpoint_for_messages,
                                   std::vector<BatchItem> items)
    : retry_(target.retry), item_retry_(target.items), endpoint_(std::move(endpoint_for_messages)),
      items_(std::move(items)) {}

BatchSendAction BatchSendMachine::resume(Start event) {
  if (event.stopping || event.target_stopped) return give_up();  // no new batch after a stop
  attempt_ = 1;
  return {BatchSendAction::Kind::send, attempt_};
}

BatchSendAction BatchSendMachine::resume(const Responded& event) {
  unit_random_ = event.unit_random;
  retry_after_.reset();
  const Result<HttpResponse>& response = event.response;
  if (!response && (response.failure().kind == FailureKind::store || response.failure().kind == FailureKind::store_busy)) {
    result_.store_failure = response.failure();  // nothing went out: the caller stops the target
    result_.error = response.failure().describe();
    return give_up();
  }
  if (!response) {
    result_.error = response.failure().message;  // sent or not, resending the same ids is safe
    if (response.failure().kind == FailureKind::certificate) {  // the configuration's to fix: hold the target
      result_.hold = HoldRequest{HoldKind::blocked, result_.error, retry_.blocked_retry_interval};
      return give_up();
    }
    return next_attempt(event.stopping, event.target_stopped);
  }
  retry_after_ = parse_retry_after(response->retry_after, event.now);
  soap::BatchOutcome outcome = soap::interpret_response(response->status, response->body, items_.size());
  if (outcome.kind != soap::BatchOutcome::Kind::per_item) result_.error = "POST " + endpoint_ + ": " + outcome.error();
  if (outcome.kind == soap::BatchOutcome::Kind::rejected) {
    result_.hold = HoldRequest{HoldKind::blocked, result_.error, retry_.blocked_retry_interval};
    return give_up();
  }
  if (outcome.kind != soap::BatchOutcome::Kind::per_item) {  // fault or unknown: the same ids go again
    return next_attempt(event.stopping, event.target_stopped);
  }
  std::vector<ItemResult::Fate> fates;
  for (auto item : outcome.items) {
    fates.push_back(item == soap::ItemOutcome::confirmed  ? ItemResult::Fate::confirmed
                    : item == soap::ItemOutcome::failed ? ItemResult::Fate::waiting
                                                        : ItemResult::Fate::unknown);
  }
  answered(fates, outcome.item_errors);
  return {BatchSendAction::Kind::finish};
}

BatchSendAction BatchSendMachine::resume(Waited event) {
  if (event.stopping || event.target_stopped) return give_up();
  ++attempt_;
  return {BatchSendAction::Kind::send, attempt_};
}

BatchSendAction BatchSendMachine::next_attempt(bool stopping, bool target_stopped) {
  if (attempt_ >= retry_.max_attempts) return unanswered();
  if (stopping || target_stopped) return give_up();
  std::optional<std::chrono::milliseconds> wait = retry_wait(retry_, attempt_ + 1, unit_random_, retry_after_);
  if (!wait) {
    result_.error += "; Retry-After is longer than max_retry_delay: left for the next run";
    return unanswered();
  }
  return {BatchSendAction::Kind::wait, attempt_, *wait};
}

// No per-item answer: every item stays pending with the error stored, to be
// resent with the same id (next run, or after a hold).
BatchSendAction BatchSendMachine::unanswered() {
  for (const auto& item : items_) result_.items.push_back({item.membership_id, ItemResult::Fate::unknown, result_.error});
  result_.unknown = static_cast<int>(items_.size());
  if (!result_.gave_up) {
    int n = static_cast<int>(items_.size());
    result_.breaker_sample = BreakerSample{n, n, true};
  }
  return {BatchSendAction::Kind::finish};
}

BatchSendAction BatchSendMachine::give_up() {
  result_.gave_up = true;
  return unanswered();
}

void BatchSendMachine::answered(const std::vector<ItemResult::Fate>& fates, const std::vector<std::string>& errors) {
  result_.answered = true;
  result_.error.clear();
  for (std::size_t i = 0; i < items_.size(); ++i) {
    ItemResult r{items_[i].membership_id, fates[i], fates[i] == ItemResult::Fate::confirmed ? "" : errors[i]};
    if (r.fate == ItemResult::Fate::waiting) {  // refused: the item retry policy decides its next try
      r.refusals = items_[i].refusals + 1;
      ItemVerdict verdict = item_verdict(item_retry_, r.refusals);
      if (verdict.parked) {
        r.fate = ItemResult::Fate::parked;
        ++result_.parked;
      }
      r.wait = std::chrono::duration_cast<std::chrono::seconds>(verdict.wait);
      ++result_.refused;
    } else if (r.fate == ItemResult::Fate::confirmed) {
      ++result_.confirmed;
    } else {
      ++result_.unknown;
    }
    result_.items.push_back(std::move(r));
  }
  result_.breaker_sample = BreakerSample{static_cast<int>(items_.size()), result_.refused, false};
}

BreakerVerdict judge_batch(Breaker& breaker, const config::BreakerSettings& settings, bool probing,
                           bool target_stopped, const BreakerSample& sample) {
  if (probing) {
    bool good = !sample.batch_failed && sample.failed * 100 < settings.failure_percent * sample.items;
    if (good) return {BreakerVerdict::Kind::close, {}};
    return {BreakerVerdict::Kind::trip, {HoldKind::breaker, "the probe batch failed too", settings.probe_interval}};
  }
  breaker.record(sample.items, sample.failed, sample.batch_failed);
  if (!breaker.tripped() || target_stopped) return {};
  BreakerVerdict verdict{BreakerVerdict::Kind::trip, {HoldKind::breaker, breaker.reason(), settings.probe_interval}};
  breaker = Breaker(settings);  // a fresh window after the probe
  return verdict;
}

}  // namespace rostersync::sync
