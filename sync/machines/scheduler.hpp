// When each job runs in `rostersync run`, as a pure state machine.
//
// The daemon's loop asks next(now) what to do: reload the configuration,
// run a job, or sleep until a time (or until a request wakes it). Requests
// (SIGHUP reload, SIGUSR1 / `resync` for every job or one) are remembered
// and served at the next decision, so a request during a run is not lost.
// After a run, finished() sets the job's next run: its interval plus a
// random share of its jitter, or the hold's own time when a hold applies
// (a blocked target, an open breaker's probe), but never sooner than 1 s.
//
// No clock reads, no randomness: the caller passes `now` and the draw.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace rostersync::sync {

class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;
  using Millis = std::chrono::milliseconds;

  struct JobTiming {
    std::string name;
    Millis interval{0};
    Millis jitter{0};
  };

  struct Decision {
    enum class Kind {
      reload,  // load the configuration again; on success call set_jobs() (every job due now), else nothing
      run,     // run `job` now, then call finished()
      sleep,   // nothing is due before `until` (time_point::max() when no job exists)
    };
    Kind kind = Kind::sleep;
    std::string job;
    Clock::time_point until{};
  };

  // Every job is due at once: a first pass right after start-up.
  Scheduler(std::vector<JobTiming> jobs, Clock::time_point now);

  // A reloaded configuration: its jobs replace the old ones, every one due now.
  void set_jobs(std::vector<JobTiming> jobs, Clock::time_point now);

  void request_reload() { reload_ = true; }
  void request_resync_all() { resync_all_ = true; }
  // False (and nothing queued) when no such job is scheduled.
  bool request_resync(const std::string& job);

  Decision next(Clock::time_point now);

  // The run of `job` ended at `now`. `unit_random` in [0,1) draws the jitter;
  // `hold_retry_in` is the time until a hold found or set by the run lapses.
  // Returns the delay until the job's next run.
  Millis finished(const std::string& job, Clock::time_point now, double unit_random,
                  std::optional<Millis> hold_retry_in);

  std::optional<Clock::time_point> due(const std::string& job) const;

 private:
  std::vector<JobTiming> jobs_;  // configuration order: it breaks ties
  std::map<std::string, Clock::time_point> due_;
  std::set<std::string> resync_;
  bool resync_all_ = false;
  bool reload_ = false;
};

}  // namespace rostersync::sync
