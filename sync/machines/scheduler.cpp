#include "sync/machines/scheduler.hpp"

#include <algorithm>

namespace rostersync::sync {

namespace {

Scheduler::Millis share(Scheduler::Millis span, double unit_random) {
  return Scheduler::Millis(
      static_cast<long long>(std::clamp(unit_random, 0.0, 1.0) * static_cast<double>(span.count())));
}

}  // namespace

Scheduler::Scheduler(std::map<std::string, int> walk_limits, Mode mode)
    : mode_(mode), walk_limits_(std::move(walk_limits)) {}

int Scheduler::walk_limit(const std::string& source) const {
  auto it = walk_limits_.find(source);
  return it == walk_limits_.end() ? 1 : std::max(1, it->second);
}

bool Scheduler::source_full(const std::string& source) const {
  auto walks = walks_by_source_.find(source);
  if (walks != walks_by_source_.end() && walks->second >= walk_limit(source)) return true;
  auto running = running_by_source_.find(source);
  return running != running_by_source_.end() && running->second >= 2 * walk_limit(source);
}

void Scheduler::set_due(Entry& entry, Clock::time_point due) {
  bool queued = !running_.count(entry.timing.name);
  if (queued) dequeue(entry);
  entry.due = due;
  if (queued) enqueue(entry);
}

void Scheduler::start(const std::vector<JobTiming>& jobs, Clock::time_point now, const Draw& draw) {
  jobs_.clear();
  queues_.clear();
  std::size_t order = 0;
  for (const auto& j : jobs) {
    Clock::time_point due = now;
    if (mode_ == Mode::forever) {
      if (j.planned_in && j.planned_in->count() > 0) {
        due = now + std::min(*j.planned_in, j.interval + j.jitter);
      } else if (!j.has_run) {
        due = now + share(j.jitter, draw());
      } else {
        due = now + share(j.interval, draw());  // overdue: catch up over one interval, not all at once
      }
    }
    Entry& entry = jobs_[j.name] = {j, due, order++};
    if (!running_.count(j.name)) enqueue(entry);
  }
}

void Scheduler::update(const std::vector<JobTiming>& jobs, const std::set<std::string>& changed, Clock::time_point now,
                       const Draw& draw, std::map<std::string, int> walk_limits) {
  walk_limits_ = std::move(walk_limits);
  std::map<std::string, Entry> fresh;
  std::size_t order = 0;
  for (const auto& j : jobs) {
    auto old = jobs_.find(j.name);
    Clock::time_point due;
    if (old == jobs_.end() || changed.count(j.name)) due = now + share(j.jitter, draw());
    else due = old->second.due;
    // A job that changed while it runs gets its soon placement when that run
    // ends, not a whole interval later: the new settings are what was asked for.
    if (old != jobs_.end() && changed.count(j.name) && running_.count(j.name)) changed_while_running_.insert(j.name);
    fresh[j.name] = {j, due, order++};
  }
  jobs_ = std::move(fresh);
  queues_.clear();
  for (const auto& [name, entry] : jobs_) {
    if (!running_.count(name)) enqueue(entry);
  }
  std::erase_if(resync_, [&](const std::string& name) { return !jobs_.count(name); });
  std::erase_if(changed_while_running_, [&](const std::string& name) { return !jobs_.count(name); });
}

bool Scheduler::request_resync(const std::string& job) {
  if (!jobs_.count(job)) return false;
  resync_.insert(job);
  return true;
}

Scheduler::Decision Scheduler::next(Clock::time_point now) {
  if (reload_) {
    reload_ = false;  // an accepted reload calls update(); a rejected one changes nothing
    return {Decision::Kind::reload, "", now};
  }
  if (resync_all_) {
    resync_all_ = false;
    for (const auto& [name, entry] : jobs_) resync_.insert(name);
  }
  // Served now for jobs that wait; a running job keeps its request until it ends.
  for (auto it = resync_.begin(); it != resync_.end();) {
    auto job = jobs_.find(*it);
    if (job != jobs_.end() && !running_.count(*it)) {
      if (job->second.due > now) set_due(job->second, now);
      it = resync_.erase(it);
    } else {
      ++it;
    }
  }
  const QueueKey* first = nullptr;
  for (const auto& [source, queue] : queues_) {
    if (queue.empty() || source_full(source)) continue;
    if (!first || *queue.begin() < *first) first = &*queue.begin();
  }
  if (first) {
    const std::string name = std::get<2>(*first);  // a copy: the key goes from its queue below
    if (std::get<0>(*first) > now) return {Decision::Kind::sleep, name, std::get<0>(*first)};
    const Entry& entry = jobs_.at(name);
    running_.insert(name);
    walking_[name] = entry.timing.source;
    ++walks_by_source_[entry.timing.source];
    ++running_by_source_[entry.timing.source];
    running_source_[name] = entry.timing.source;
    dequeue(entry);
    return {Decision::Kind::run, name, entry.due};
  }
  return {Decision::Kind::sleep, "", Clock::time_point::max()};
}

void Scheduler::walk_finished(const std::string& job) {
  auto it = walking_.find(job);
  if (it == walking_.end()) return;
  --walks_by_source_[it->second];
  walking_.erase(it);
}

std::optional<Scheduler::Millis> Scheduler::finished(const std::string& job, Clock::time_point now, double unit_random,
                                                     std::optional<Millis> hold_retry_in) {
  if (!running_.count(job)) return std::nullopt;
  walk_finished(job);
  running_.erase(job);
  auto source = running_source_.find(job);
  if (source != running_source_.end()) {
    --running_by_source_[source->second];
    running_source_.erase(source);
  }
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return std::nullopt;  // removed by a reload during its run
  if (mode_ == Mode::once) {
    jobs_.erase(it);
    return std::nullopt;
  }
  Millis delay;
  const bool changed = changed_while_running_.erase(job) > 0;
  if (hold_retry_in) {
    delay = std::max<Millis>(*hold_retry_in, std::chrono::seconds(1));
  } else if (changed) {
    delay = share(it->second.timing.jitter, unit_random);
  } else {
    delay = it->second.timing.interval + share(it->second.timing.jitter, unit_random);
  }
  it->second.due = now + delay;
  enqueue(it->second);
  return delay;
}

std::optional<Scheduler::Clock::time_point> Scheduler::due(const std::string& job) const {
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return std::nullopt;
  return it->second.due;
}

std::size_t Scheduler::waiting_count(Clock::time_point now) const {
  Millis longest{0};
  for (const auto& [name, entry] : jobs_) longest = std::max(longest, entry.timing.jitter);
  std::size_t n = 0;
  for (const auto& [source, queue] : queues_) {
    for (const auto& [due, order, name] : queue) {
      if (due > now + longest) break;  // queues are ordered by due time
      auto it = jobs_.find(name);
      if (due <= now || (it != jobs_.end() && due <= now + it->second.timing.jitter)) ++n;
    }
  }
  return n;
}

}  // namespace rostersync::sync
