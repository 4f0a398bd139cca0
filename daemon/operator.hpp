// Read-only operator commands over the state database: status, runs,
// members, failures, and check-config. Safe while the daemon runs: the
// database is opened read-only (WAL readers never block the writer) with a
// busy timeout. Human tables by default, --json for scripts. Each returns the
// process exit code (see daemon/commands.hpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "store/reports.hpp"

namespace rostersync::daemon {

struct ReportOptions {
  bool json = false;
  bool wide = false;  // tables: every cell whole, whatever the terminal width
  bool utc = false;   // tables: times as the database holds them (UTC ISO 8601), not local
  std::optional<std::string> job;
  int limit = 20;
  // status --check: a monitoring plugin's verdict instead of the table.
  bool check = false;
  double warning_intervals = 2;
  double critical_intervals = 4;
  bool all = false;  // status: a row per job even when there are many
};

// `status` with many jobs: how many jobs, by their last outcome, and what
// needs a person (holds, held writes, parked items), from the status table
// (store::Reports::status). Pure. Empty for an empty table.
std::string summarize_status(const store::ReportTable& status);

// Up to this many jobs, `status` shows a row per job after the summary;
// beyond it only with --all (or --job, --json).
inline constexpr std::size_t kStatusRowsUpTo = 40;

// Column widths for a table of `total` characters (2 between columns): the
// widest column narrows first, none below its `minimum`. Pure.
std::vector<std::size_t> fit_columns(std::vector<std::size_t> width, const std::vector<std::size_t>& minimum,
                                     std::size_t total);

int cmd_status(const config::Config& cfg, const ReportOptions& options);
// status --check (daemon/health.hpp): prints one line, returns 0..3.
int check_health(const config::Config& cfg, const ReportOptions& options);
int cmd_runs(const config::Config& cfg, const ReportOptions& options);
int cmd_members(const config::Config& cfg, const ReportOptions& options);
int cmd_failures(const config::Config& cfg, const ReportOptions& options);
// `rostersync courses`: every job and registry course, where it is defined,
// its hierarchy, next run and last outcome; registry errors on stderr.
int cmd_courses(const config::Config& cfg, const ReportOptions& options);
// `rostersync forget --job NAME`: drops a job's history once it is no longer configured.
int cmd_forget(const config::Config& cfg, const std::string& job);

struct CheckConfigOptions {
  bool json = false;
  bool quiet = false;           // nothing on stdout when valid (ExecReload=)
  std::string credentials_dir;  // see config::ResolveOptions
  // Refused course files are printed but do not fail the check: ExecReload=,
  // where the daemon keeps their courses' last good definitions.
  bool refused_courses_ok = false;
};

// Loads `path` (secret files included), prints the effective configuration
// with secrets masked. Exit 0 valid, 2 invalid (the error on stderr),
// also when a course file of the registry is refused (each error with its
// file:line:key) or the registry cannot be read.
int cmd_check_config(const std::string& path, const CheckConfigOptions& options);

}  // namespace rostersync::daemon
