#include "daemon/pass.hpp"

#include <algorithm>

namespace rostersync::daemon {

void PassTracker::recount(std::size_t running, std::size_t waiting) {
  pass_.running = static_cast<int>(running);
  pass_.courses_total = std::max(pass_.courses_total, pass_.courses_done + static_cast<int>(running + waiting));
}

void PassTracker::job_started(std::size_t running, std::size_t waiting, std::int64_t now_unix) {
  if (!pass_.active) {
    pass_ = PassProgress{};
    pass_.active = true;
    pass_.started_unix = now_unix;
  }
  recount(running, waiting);
}

void PassTracker::job_finished(const RunStats& stats, bool ok, std::size_t running, std::size_t waiting,
                               std::int64_t now_unix) {
  if (!pass_.active) return;
  ++pass_.courses_done;
  pass_.members += stats.members_seen;
  pass_.created += stats.created;
  pass_.failed += stats.failed;
  if (!ok) ++pass_.runs_not_ok;
  recount(running, waiting);
  if (running == 0 && waiting == 0) {
    pass_.active = false;
    pass_.ended_unix = now_unix;
  }
}

void PassTracker::waiting_changed(std::size_t running, std::size_t waiting) {
  if (pass_.active) recount(running, waiting);
}

}  // namespace rostersync::daemon
