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

void Scheduler::start(const std::vector<JobTiming>& jobs, Clock::time_point now, const Draw& draw) {
  jobs_.clear();
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
    jobs_[j.name] = {j, due, order++};
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
    fresh[j.name] = {j, due, order++};
  }
  jobs_ = std::move(fresh);
  std::erase_if(resync_, [&](const std::string& name) { return !jobs_.count(name); });
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
  for (auto& [name, entry] : jobs_) {
    if (running_.count(name)) continue;  // served when it ends
    if (resync_all_ || resync_.count(name)) {
      entry.due = now;
      resync_.erase(name);
    }
  }
  if (resync_all_) {
    // Running jobs keep theirs until they end.
    for (const auto& name : running_) {
      if (jobs_.count(name)) resync_.insert(name);
    }
    resync_all_ = false;
  }
  const Entry* best = nullptr;
  for (const auto& [name, entry] : jobs_) {
    if (running_.count(name)) continue;
    auto walks = walks_by_source_.find(entry.timing.source);
    if (walks != walks_by_source_.end() && walks->second >= walk_limit(entry.timing.source)) continue;
    if (!best || entry.due < best->due || (entry.due == best->due && entry.order < best->order)) best = &entry;
  }
  if (!best) return {Decision::Kind::sleep, "", Clock::time_point::max()};
  if (best->due > now) return {Decision::Kind::sleep, best->timing.name, best->due};
  const std::string& name = best->timing.name;
  running_.insert(name);
  walking_[name] = best->timing.source;
  ++walks_by_source_[best->timing.source];
  return {Decision::Kind::run, name, best->due};
}

void Scheduler::walk_finished(const std::string& job) {
  auto it = walking_.find(job);
  if (it == walking_.end()) return;
  --walks_by_source_[it->second];
  walking_.erase(it);
}

std::optional<Scheduler::Millis> Scheduler::finished(const std::string& job, Clock::time_point now, double unit_random,
                                                     std::optional<Millis> hold_retry_in) {
  walk_finished(job);
  running_.erase(job);
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return std::nullopt;  // removed by a reload during its run
  if (mode_ == Mode::once) {
    jobs_.erase(it);
    return std::nullopt;
  }
  Millis delay;
  if (hold_retry_in) {
    delay = std::max<Millis>(*hold_retry_in, std::chrono::seconds(1));
  } else {
    delay = it->second.timing.interval + share(it->second.timing.jitter, unit_random);
  }
  it->second.due = now + delay;
  return delay;
}

std::optional<Scheduler::Clock::time_point> Scheduler::due(const std::string& job) const {
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return std::nullopt;
  return it->second.due;
}

std::size_t Scheduler::waiting_count(Clock::time_point now) const {
  std::size_t n = 0;
  for (const auto& [name, entry] : jobs_) {
    if (!running_.count(name) && entry.due <= now) ++n;
  }
  return n;
}

}  // namespace rostersync::sync
