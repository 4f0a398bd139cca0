// When each job runs, and how many at once, as a pure state machine.
//
// The daemon's loop asks next(now) what to do: reload the configuration,
// start a job, or sleep until a time (or until something wakes it: a
// request, a job ending). Several jobs run at once: at most a source's
// max_concurrent_walks walk its rosters, and a job never runs twice at once.
// A job's walk slot is given back when its walk ends (walk_finished), so the
// next job can read while the last creates of the first are still sent; at
// most twice max_concurrent_walks jobs of a source run in all, so that jobs
// waiting only for a slow target do not pile up.
//
// Placement, so that a district's thousands of courses do not all fire
// together:
//   - at start-up, a job keeps the next run the previous process planned
//     (job_schedule); one that never ran is due within its jitter; one that
//     is overdue (the service was down) is spread over its interval;
//   - after a reload or a registry change, new and changed jobs are due
//     within their jitter, the others keep their time, removed ones go;
//   - after a run, the interval plus a drawn share of the jitter, or the
//     hold's own time when one applies, never sooner than 1 s.
// Requests (reload, resync of one job or all) are remembered and served at
// the next decision; a resync of a running job is served when it ends.
//
// No clock reads, no randomness: the caller passes `now` and the draws (each
// in [0, 1)).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace rostersync::sync {

class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;
  using Millis = std::chrono::milliseconds;
  using Draw = std::function<double()>;

  struct JobTiming {
    std::string name;
    std::string source;  // walks are limited per source
    Millis interval{0};
    Millis jitter{0};
    // Start-up only: the time until the run the previous process planned
    // (nullopt: none recorded), and whether the job ever ran.
    std::optional<Millis> planned_in;
    bool has_run = false;
  };

  struct Decision {
    enum class Kind {
      reload,  // load the configuration again; on success call update(), else nothing
      run,     // start `job` now (it counts as running until finished())
      sleep,   // nothing can start before `until` (time_point::max(): until woken)
    };
    Kind kind = Kind::sleep;
    std::string job;
    Clock::time_point until{};
  };

  enum class Mode {
    forever,  // `rostersync run`: every job again after its interval
    once,     // `rostersync sync`: every job once, as soon as a walk slot is free
  };

  // `walk_limits`: max_concurrent_walks per source (a source not named: 1).
  explicit Scheduler(std::map<std::string, int> walk_limits, Mode mode = Mode::forever);

  // The first placement (see above). In Mode::once every job is due now.
  void start(const std::vector<JobTiming>& jobs, Clock::time_point now, const Draw& draw);

  // A reloaded configuration or registry: `jobs` replace the old ones.
  // Jobs new or named in `changed` are due within their jitter; running
  // jobs that were removed finish, and are not run again.
  void update(const std::vector<JobTiming>& jobs, const std::set<std::string>& changed, Clock::time_point now,
              const Draw& draw, std::map<std::string, int> walk_limits);

  void request_reload() { reload_ = true; }
  void request_resync_all() { resync_all_ = true; }
  // False (and nothing queued) when no such job is scheduled.
  bool request_resync(const std::string& job);

  Decision next(Clock::time_point now);

  // The job's walk ended (its remaining creates may still be in flight): its
  // source may start another walk.
  void walk_finished(const std::string& job);

  // The run of `job` ended at `now`; `hold_retry_in` is the time until a hold
  // found or set by the run lapses. Returns the delay until its next run
  // (nullopt: none, in Mode::once or for a job removed meanwhile).
  std::optional<Millis> finished(const std::string& job, Clock::time_point now, double unit_random,
                                 std::optional<Millis> hold_retry_in);

  std::optional<Clock::time_point> due(const std::string& job) const;
  bool running(const std::string& job) const { return running_.count(job) > 0; }
  std::size_t running_count() const { return running_.size(); }
  // Jobs that have not started and are due at `now`, or within their own
  // jitter after it: jitter spreads one round of jobs over a minute or so,
  // and a pass must not end (and a new one begin) in each gap between them.
  // Linear in their number.
  std::size_t waiting_count(Clock::time_point now) const;
  std::size_t job_count() const { return jobs_.size(); }

 private:
  struct Entry {
    JobTiming timing;
    Clock::time_point due;
    std::size_t order = 0;  // configuration order: it breaks ties
  };
  // Jobs not running, earliest first, per source: next() looks at the front
  // of each source's queue, not at every one of a registry's thousands of jobs.
  using QueueKey = std::tuple<Clock::time_point, std::size_t, std::string>;
  int walk_limit(const std::string& source) const;
  bool source_full(const std::string& source) const;
  void set_due(Entry& entry, Clock::time_point due);  // keeps queue_ in step
  void enqueue(const Entry& entry) { queues_[entry.timing.source].emplace(entry.due, entry.order, entry.timing.name); }
  void dequeue(const Entry& entry) { queues_[entry.timing.source].erase({entry.due, entry.order, entry.timing.name}); }

  Mode mode_;
  std::map<std::string, int> walk_limits_;
  std::map<std::string, Entry> jobs_;
  std::map<std::string, std::set<QueueKey>> queues_;  // by source
  std::set<std::string> running_;
  std::map<std::string, std::string> walking_;  // job -> its source (kept if the job is removed meanwhile)
  std::map<std::string, int> walks_by_source_;
  std::map<std::string, int> running_by_source_;
  std::map<std::string, std::string> running_source_;  // job -> its source, while it runs
  std::set<std::string> resync_;
  std::set<std::string> changed_while_running_;  // changed by a reload during their run: soon again after it
  bool resync_all_ = false;
  bool reload_ = false;
};

}  // namespace rostersync::sync
