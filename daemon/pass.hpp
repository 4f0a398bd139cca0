// A pass as a whole, counted from job starts and ends (see PassProgress):
// a pure tracker the daemon's loop and `sync` feed; no clock of its own.
#pragma once

#include <cstddef>
#include <cstdint>

#include "domain/run.hpp"

namespace rostersync::daemon {

class PassTracker {
 public:
  // A job started; `running` and `waiting` are the scheduler's counts after
  // it did. Begins a pass when none is active; within one, the total only
  // grows, so `waiting` may be 0 there (counting it is linear in the jobs).
  void job_started(std::size_t running, std::size_t waiting, std::int64_t now_unix);
  // A job's run ended (`ok`: its outcome was ok); the counts are after it
  // (`waiting` is read only when `running` is 0). Ends the pass when nothing
  // runs or waits any more.
  void job_finished(const RunStats& stats, bool ok, std::size_t running, std::size_t waiting, std::int64_t now_unix);
  // Jobs became due (a resync, a reload): they join the active pass.
  void waiting_changed(std::size_t running, std::size_t waiting);

  const PassProgress& progress() const { return pass_; }

 private:
  void recount(std::size_t running, std::size_t waiting);
  PassProgress pass_;
};

}  // namespace rostersync::daemon
