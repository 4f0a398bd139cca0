// Read-only reports over the state database: what `rostersync status`,
// `runs`, `members` and `failures` print, and the demo's pass totals.
//
// A Reports object holds its own read-only connection (WAL readers never
// block the daemon's writes; a busy timeout covers checkpoints), so it is
// safe while the daemon runs. Every method throws StoreError on failure.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "domain/roster.hpp"
#include "store/sqlite.hpp"

namespace rostersync::store {

// A query result: column names and typed cells (null, integer or text).
struct ReportTable {
  using Cell = std::variant<std::monostate, std::int64_t, std::string>;
  std::vector<std::string> columns;
  std::vector<std::vector<Cell>> rows;
};

// What a report needs to know of a configured job.
struct JobRef {
  std::string name;
  std::string target;
  std::string hierarchy_id;  // may be a template
  std::string source;
  std::string origin;        // "" for the configuration file, else the registry entry's file:line
};

// A job a running daemon took on, as it recorded it (Store::record_daemon_jobs).
struct DaemonJob {
  JobRef ref;
  std::chrono::milliseconds interval{0};
};

// The daemon_job table's rows, in name order (Reports and Store both read it).
std::vector<DaemonJob> daemon_job_rows(Connection& db);

// What `rostersync status --check` judges of one job.
struct JobHealth {
  std::string job;
  std::optional<std::int64_t> last_ok_unix;    // end of its newest run that ended ok
  std::optional<std::int64_t> first_run_unix;  // start of its oldest run on record
  std::string hold;       // a hold in force on the job, its source or target: "blocked ..." / "breaker open ..."; "" = none
  bool breaker = false;   // that hold is an open circuit breaker
  bool hold_shared = false;  // the hold is on the job's source or target (it stops every job of it), not the job
  int parked = 0;         // items refused too often (rostersync retry)
  int awaiting_approval = 0;  // deletions a removal guard held
};

// Sums over runs, for the demo's summary.
struct PassTotals {
  int members = 0, created = 0, present = 0, failed = 0, pending = 0;
  std::array<int, kSkipReasonCount> skipped{};
  int skipped_total() const;
};

class Reports {
 public:
  // Opens `path` read-only. Throws StoreError when it cannot be opened or
  // its schema is older than this rostersync's (the message says how to
  // upgrade it: one `rostersync sync`).
  explicit Reports(const std::string& path);

  // One row per job: last run, next run (and whether the process that
  // planned it still runs: `writer_running`), membership counts by state
  // (created, pending, waiting, parked), hold.
  ReportTable status(const std::vector<JobRef>& jobs, bool writer_running);
  // The newest `limit` runs, of one job or all.
  ReportTable runs(const std::optional<std::string>& job, int limit);
  // The job's roster snapshot joined with its memberships.
  ReportTable members(const JobRef& job);
  // Memberships not created yet (pending, waiting, parked) with their errors.
  ReportTable failures(const std::optional<std::string>& job);
  // `rostersync courses`: each job with where it is defined, its source,
  // hierarchy (and what a template gave last), next run and last outcome.
  ReportTable courses(const std::vector<JobRef>& jobs);
  // The daemon's current or last pass in one line ("" when none was recorded):
  // "pass running since ...: 1,234 / 3,000 courses, ..." or "last pass ... - ...: ...".
  std::string pass_line();
  // A value of the `meta` table ("" when unset); see Store::meta.
  std::string meta(const std::string& key);

  // Totals of every run after `after_run`.
  PassTotals totals_since(std::int64_t after_run);
  // The jobs the daemon last recorded it runs, in name order; none when no
  // daemon ever recorded them (a database only `sync` wrote, or older).
  std::optional<std::vector<DaemonJob>> daemon_jobs();
  // One entry per job, in order, for the health check.
  std::vector<JobHealth> health(const std::vector<JobRef>& jobs);
  // The newest run id, 0 when there is none.
  std::int64_t latest_run_id();
  // Every write a guard holds for a person in the groups the job feeds
  // (hold id, kind, group, person key, membership id, reason, since), and
  // the job's empty-roster hold: exactly what `approve --hold ID` applies to.
  ReportTable held(const std::string& job);

 private:
  ReportTable query(const std::string& sql, const std::vector<std::string>& binds = {});
  // The same query once per job, prepared once: thousands of courses stay fast.
  ReportTable per_job(const std::string& sql, const std::vector<JobRef>& jobs,
                      const std::function<std::vector<std::string>(const JobRef&)>& binds);
  Connection db_;
};

}  // namespace rostersync::store
