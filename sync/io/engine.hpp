// The sync engine: runs one job end to end on an Asio event loop.
//
// A driver, not a decider: it performs what the sans-I/O machines ask for
// (sync/machines: the run, page and token fetch, batch send, run start and
// outcome) and records what they decide. Its files, one seam each:
// engine.cpp (links, whether a job runs), job_run.cpp (each RunMachine
// action), source_session.cpp (tokens, pages), batch_sender.cpp (writes
// within the target's budget.hpp), group_upkeep.cpp (the group read and the
// group's decision). Before the first page is planned it reads the group when
// adoption or reconcile asks for it (sync/planning/reconcile.hpp). For each
// roster page it plans creates and role updates (sync/planning),
// commits their ids as pending in the state database BEFORE any request
// carries them, and hands them to the batch sender, so sends for early pages
// overlap fetching later ones. Memory stays bounded: the walk pauses while
// too many items wait. After a complete walk, the group's decision
// (over every job feeding the group) plans deletions and sends them only if
// the removal guard lets them go (sync/planning/removals.hpp). Every target has one in-flight budget (in operations,
// i.e. memberships) shared by all jobs that write to it, never exceeded,
// retries included.
//
// Errors: network failures are values and end up in the run record; a state
// database failure ends the run as failed with SQLite's message. run_job()
// does not throw (but for std::bad_alloc); the Engine must outlive every
// run_job() it started.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string_view>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "domain/run.hpp"
#include "store/store.hpp"

namespace rostersync::sync {

struct JobReport {
  std::string job;
  std::int64_t run_id = 0;  // 0 when held: no run was started
  RunOutcome outcome = RunOutcome::failed;
  RunStats stats;
  std::string error;
  double seconds = 0;
  bool held = false;  // not run: the job or its target is blocked or its breaker is open (see error)
  // When a hold applies (found, or set during this run): how long until the next try.
  std::optional<std::chrono::milliseconds> retry_in;
  // A removal guard held this run's deletions (nothing deleted): which, and why.
  std::string removals_held;
  // Every write a guard holds for a person after this run (deletions with
  // their reason, restores): what `plan` lists and `approve` would apply.
  std::vector<PlannedWrite> held_writes;
  // Dry run only: every write the run would have sent (creates, updates with
  // their old role, deletes with their reason), in planning order.
  std::vector<PlannedWrite> would_send;
};

// Told after every HTTP exchange, for metrics: the source or target name,
// what was asked (ltiaas_memberships, nrps, token, createMemberships,
// updateMemberships, deleteMemberships, readMembershipsForGroup), the HTTP
// status (0: no answer) and the seconds from sending to the whole answer.
using RequestObserver = std::function<void(std::string_view peer, std::string_view endpoint, int status, double seconds)>;

struct EngineOptions {
  // Plan, but send no write (reads still go: adoption needs the group). The
  // state database given is a scratch copy the caller throws away.
  bool dry_run = false;
  RequestObserver on_request;  // optional
};

struct Progress {
  std::string job;
  int pages = 0;
  int members = 0;
  int queued = 0;   // creates planned so far
  int created = 0;
  int failed = 0;
};

class Engine {
 public:
  Engine(boost::asio::any_io_executor executor, const config::Config& config, store::Store& store,
         EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Walks the job's roster and sends every create; records and returns the
  // run. Takes its own copy of the job. Several jobs may run at once (never
  // the same job twice: the caller's scheduler sees to that); they share
  // each target's in-flight budget, first come first served.
  // `on_walk_end` (optional) is called once the roster walk is over, when
  // only the last sends remain: the caller's next walk may start then.
  boost::asio::awaitable<JobReport> run_job(config::Job job, std::function<void()> on_walk_end = {});

  // `rostersync forget --delete-memberships`: deletes these memberships of a
  // job no longer configured (`removals`: op remove, by stored id) through
  // `target`, with the same batching, budget, retries and crash safety as a
  // run (the intent is committed first). No walk, no run record; the report
  // counts deleted, failed and pending.
  boost::asio::awaitable<JobReport> remove_memberships(std::string job, std::string target,
                                                      std::vector<PlannedWrite> removals);

  // Called after each page and each batch.
  void on_progress(std::function<void(const Progress&)> callback);
  // The jobs of a reloaded configuration (sources and targets unchanged):
  // which jobs feed a group, and their removal settings, are read from it.
  // The engine keeps `config` alive.
  void use_jobs(std::shared_ptr<const config::Config> config);

  // Stop early: no new pages or retries; in-flight batches finish; runs end
  // as interrupted.
  void request_stop();
  // After request_stop(), when the grace period is over: cut off requests
  // still in flight. Their items stay pending, to be resent with the same ids.
  void abort_in_flight();
  bool stop_requested() const;
  // Operations sent to each target and not yet answered (its budget in use).
  std::map<std::string, int> in_flight() const;

  struct Impl;  // opaque: keeps Asio/Beast out of this header

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace rostersync::sync
