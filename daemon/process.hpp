// What the long-running commands (`sync`, `run`) share: the single writer of
// a state database, the start of a bounded shutdown, and the completion
// handler every top-level coroutine gets. Internal to daemon/: included by
// the two command files only, so its Asio includes stay there.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <exception>
#include <chrono>
#include <functional>
#include <string>

#include "config/config.hpp"
#include "daemon/writer_lock.hpp"
#include "store/store.hpp"
#include "sync/io/engine.hpp"
#include "sync/machines/scheduler.hpp"

namespace rostersync::daemon {

// The state database opened by its single writer. Runs still marked running
// belong to a process that died mid-run; they are closed as interrupted.
struct WriterSession {
  explicit WriterSession(const std::string& path, std::chrono::milliseconds busy_timeout = std::chrono::seconds(5));
  WriterLock lock;
  store::Store db;
};

// The daemon's event loop. Its coroutines touch objects declared after it
// (the scheduler, timers, the engine): when the loop stops early (a
// coroutine failed), ~io_context would destroy their frames last, after
// those objects, and a frame's destructors (a walk's end notice) would use
// them. destroy_pending() destroys every pending handler and frame at once;
// PendingDestroyedFirst, declared after everything they touch, does it on
// every way out. Nothing runs on the loop afterwards.
class EventLoop : public boost::asio::io_context {
 public:
  void destroy_pending() { shutdown(); }
};

struct PendingDestroyedFirst {
  EventLoop& loop;
  explicit PendingDestroyedFirst(EventLoop& l) : loop(l) {}
  PendingDestroyedFirst(const PendingDestroyedFirst&) = delete;
  PendingDestroyedFirst& operator=(const PendingDestroyedFirst&) = delete;
  ~PendingDestroyedFirst() { loop.destroy_pending(); }
};

// SIGTERM/SIGINT: no new work now; requests still in flight after `grace`
// are cut off (their items stay pending and keep their ids).
void begin_shutdown(int signo, sync::Engine& engine, boost::asio::steady_timer& grace_timer, config::Millis grace);

// Completion handler for a top-level coroutine. An exception that escapes one
// is a bug or a failure nothing below could handle: it is logged and stops
// the event loop, so the process exits non-zero (and systemd restarts it)
// instead of living on with a dead scheduler behind a live control socket.
// `ioc` and `failed` must outlive the coroutine.
std::function<void(std::exception_ptr)> stop_on_exception(boost::asio::io_context& ioc, const char* what, bool& failed);

// The configuration's jobs as the Scheduler takes them; `planned` (from the
// state database) places them at start-up.
std::vector<sync::Scheduler::JobTiming> job_timings(const config::Config& cfg,
                                                    const std::map<std::string, store::Store::PlannedRun>& planned = {});
// max_concurrent_walks of every source.
std::map<std::string, int> walk_limits(const config::Config& cfg);

// Runs `job` on `engine` as a coroutine of its own: `walk_done` when its
// walk is over, `done` with its report at the end. An exception escaping it
// stops the loop like any top-level coroutine's (see stop_on_exception).
// `engine`, `ioc` and `crashed` must outlive it.
void spawn_job(boost::asio::io_context& ioc, sync::Engine& engine, config::Job job, std::function<void()> walk_done,
               std::function<void(const sync::JobReport&)> done, bool& crashed);

}  // namespace rostersync::daemon
