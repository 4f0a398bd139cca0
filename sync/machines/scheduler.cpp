#include "sync/machines/scheduler.hpp"

#include <algorithm>

namespace rostersync::sync {

Scheduler::Scheduler(std::vector<JobTiming> jobs, Clock::time_point now) { set_jobs(std::move(jobs), now); }

void Scheduler::set_jobs(std::vector<JobTiming> jobs, Clock::time_point now) {
  jobs_ = std::move(jobs);
  due_.clear();
  for (const auto& j : jobs_) due_[j.name] = now;
  std::erase_if(resync_, [&](const std::string& name) { return !due_.count(name); });
}

bool Scheduler::request_resync(const std::string& job) {
  if (!due_.count(job)) return false;
  resync_.insert(job);
  return true;
}

Scheduler::Decision Scheduler::next(Clock::time_point now) {
  if (reload_) {
    reload_ = false;  // an accepted reload calls set_jobs(); a rejected one changes nothing
    return {Decision::Kind::reload, "", now};
  }
  for (auto& [name, when] : due_) {
    if (resync_all_ || resync_.count(name)) when = now;
  }
  resync_all_ = false;
  resync_.clear();
  const JobTiming* next = nullptr;
  for (const auto& j : jobs_) {
    if (!next || due_[j.name] < due_[next->name]) next = &j;
  }
  if (!next) return {Decision::Kind::sleep, "", Clock::time_point::max()};
  Clock::time_point when = due_[next->name];
  if (when <= now) return {Decision::Kind::run, next->name, when};
  return {Decision::Kind::sleep, next->name, when};
}

Scheduler::Millis Scheduler::finished(const std::string& job, Clock::time_point now, double unit_random,
                                      std::optional<Millis> hold_retry_in) {
  auto it = std::find_if(jobs_.begin(), jobs_.end(), [&](const JobTiming& j) { return j.name == job; });
  if (it == jobs_.end()) return Millis(0);  // removed by a reload during its run
  Millis delay;
  if (hold_retry_in) {
    delay = std::max<Millis>(*hold_retry_in, std::chrono::seconds(1));
  } else {
    auto jitter = static_cast<long long>(std::clamp(unit_random, 0.0, 1.0) * static_cast<double>(it->jitter.count()));
    delay = it->interval + Millis(jitter);
  }
  due_[job] = now + delay;
  return delay;
}

std::optional<Scheduler::Clock::time_point> Scheduler::due(const std::string& job) const {
  auto it = due_.find(job);
  if (it == due_.end()) return std::nullopt;
  return it->second;
}

}  // namespace rostersync::sync
