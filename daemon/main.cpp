// rostersync: provisions LTI (NRPS/LTIAAS) course rosters into itslearning
// memberships over IMS Enterprise Services. Command-line entry point.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <string_view>

#include <iostream>
#include <sstream>

#include "config/config.hpp"
#include "domain/names.hpp"
#include "domain/text.hpp"
#include "domain/version.hpp"
#include "daemon/commands.hpp"
#include "daemon/demo/demo.hpp"
#include "daemon/health.hpp"
#include "daemon/progress.hpp"
#include "daemon/operator.hpp"

using namespace rostersync;

int main(int argc, char** argv) {
  CLI::App app{"rostersync: provisions LTI course rosters into itslearning memberships (IMS-ES)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("rostersync ") + kVersion);
  std::string config_path = config::kDefaultConfigPath;
  std::string log_level;
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  app.add_option("--log-level", log_level, "override log_level: " + list_of(kLogLevels))
      ->check(CLI::IsMember(std::vector<std::string>(kLogLevels.begin(), kLogLevels.end())));
  app.fallthrough();

  auto* run = app.add_subcommand("run", "Run every job on its interval until SIGTERM or SIGINT");
  auto* sync = app.add_subcommand("sync", "Run one pass over the jobs; exit 0 only if every job ended ok");
  std::optional<std::string> job;
  sync->add_option("--job", job, "run only this job");
  daemon::PlanOutput plan_output;
  sync->add_flag("--dry-run", plan_output.dry_run, "walk the rosters and print what would be sent; send no write");
  auto* plan = app.add_subcommand("plan", "Walk the rosters and print what a sync would do, per job; send no write");
  plan->add_option("--job", job, "only this job");
  plan->add_flag("--json", plan_output.json, "print JSON");
  auto* approve = app.add_subcommand("approve", "Let the writes a guard held (deletions, restores, an empty roster) go");
  auto* reject = app.add_subcommand("reject", "Drop the writes a guard held; the memberships stay as they are");
  auto* adopt = app.add_subcommand("adopt", "Read the job's group at its next run and adopt the memberships there");
  std::string upkeep_job;
  for (auto* cmd : {approve, reject, adopt}) cmd->add_option("--job", upkeep_job, "the job")->required();
  std::optional<std::string> hold_id;
  std::string decision_reason;
  for (auto* cmd : {approve, reject}) {
    cmd->add_option("--hold", hold_id, "the hold's id, as `status --job` or this command without it shows");
    cmd->add_option("--reason", decision_reason, "why, recorded with who decided and when");
  }
  auto* confirm_registry = app.add_subcommand(
      "confirm-registry", "Let the daemon apply a registry change that removes many courses at once (or all)");
  std::optional<std::string> change_id;
  confirm_registry->add_option("--id", change_id, "the change's id, as this command without it shows");
  auto* resync = app.add_subcommand("resync", "Ask the running daemon to sync now: every job, or --job NAME");
  std::optional<std::string> resync_job;
  resync->add_option("--job", resync_job, "only this job");
  auto* retry = app.add_subcommand("retry", "Put parked (and waiting) items back in the queue for the next run");
  std::optional<std::string> retry_job, retry_id;
  retry->add_option("--job", retry_job, "only this job's items");
  retry->add_option("--id", retry_id, "only the item with this membership id");
  auto* demo = app.add_subcommand("demo", "Run the pipeline against the local simulator with a throwaway config");
  daemon::DemoOptions demo_options;
  demo->add_option("--courses", demo_options.contexts, "courses to simulate")->check(CLI::Range(1, 1000));
  demo->add_option("--members", demo_options.members, "members per course")->check(CLI::Range(10, 100000));
  demo->add_option("--source", demo_options.source, "roster source: ltiaas, or platform (an LMS's NRPS with OAuth2)")
      ->check(CLI::IsMember({"ltiaas", "platform"}));
  demo->add_option("--dir", demo_options.workdir, "directory for the demo's config and state (default: new under /tmp)");

  // Read-only views of the state database (safe while the daemon runs).
  daemon::ReportOptions report;
  auto* status = app.add_subcommand("status", "Per job: last run, next run, snapshot size, created/pending/failed");
  auto* runs = app.add_subcommand("runs", "Run history, newest first");
  auto* members = app.add_subcommand("members", "A job's roster snapshot with each member's membership id and state");
  auto* failures = app.add_subcommand("failures", "Memberships not created yet: pending and failed, with the last error");
  auto* courses = app.add_subcommand("courses", "Every job and registry course: where defined, hierarchy, next run, last outcome");
  for (auto* cmd : {status, runs, members, failures, courses}) {
    cmd->add_flag("--json", report.json, "print JSON instead of a table");
    cmd->add_flag("--wide", report.wide, "show every cell whole instead of fitting the terminal");
    cmd->add_flag("--utc", report.utc, "show times in UTC (ISO 8601, as stored) instead of local time");
    cmd->add_option("--job", report.job, "only this job")->required(cmd == members);
  }
  runs->add_option("--limit", report.limit, "at most this many runs")->check(CLI::Range(1, 1000000));
  status->add_flag("--all", report.all, "a row per job even when there are many (the summary comes first)");
  status->add_flag("--check", report.check,
                   "monitoring plugin: one line with perfdata; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN");
  status->add_option("--warning", report.warning_intervals,
                     "with --check: WARNING when a job's last success is older than this many of its intervals")
      ->capture_default_str()->check(CLI::PositiveNumber);
  status->add_option("--critical", report.critical_intervals,
                     "with --check: CRITICAL when older than this many intervals")
      ->capture_default_str()->check(CLI::PositiveNumber);
  auto* forget = app.add_subcommand("forget", "Drop the history (runs, snapshot, schedule) of a job no longer configured");
  std::string forget_job;
  forget->add_option("--job", forget_job, "the job to forget")->required();
  bool delete_memberships = false;
  forget->add_flag("--delete-memberships", delete_memberships,
                   "first delete in itslearning the memberships the job owns (adopted ones it does not own stay)");
  std::optional<int> forget_confirm;
  forget->add_option("--confirm", forget_confirm,
                     "with --delete-memberships: the exact count of deletions it showed; without it, nothing is deleted")
      ->check(CLI::Range(0, 100'000'000));
  auto* check = app.add_subcommand("check-config", "Validate a configuration and print it with secrets masked");
  std::string check_path;
  check->add_option("file", check_path, "file to check (default: --config)");
  check->add_flag("--json", report.json, "print JSON");
  bool quiet = false;
  check->add_flag("--quiet", quiet, "print nothing when the configuration is valid (for ExecReload=)");
  bool refused_courses_ok = false;
  check->add_flag("--refused-courses-ok", refused_courses_ok,
                  "exit 0 despite refused course files (ExecReload=: the daemon keeps their last good definitions)");
  std::string credentials_dir;
  for (auto* cmd : {check, sync, plan, forget}) {
    cmd->add_option("--credentials-dir", credentials_dir,
                    "read the unit's credentials from this directory (e.g. /etc/rostersync/credentials), as the unit "
                    "would see them in ${CREDENTIALS_DIRECTORY}");
  }

  // `status --check` is a monitoring plugin: whatever goes wrong before it
  // can judge (a usage error, thresholds that contradict each other) is
  // UNKNOWN, exit 3, on one line, by the Monitoring Plugins rules.
  const bool as_plugin = std::find(argv + 1, argv + argc, std::string_view("status")) != argv + argc &&
                         std::find(argv + 1, argv + argc, std::string_view("--check")) != argv + argc;
  auto plugin_unknown = [](std::string why) {
    std::replace(why.begin(), why.end(), '\n', ' ');
    std::cout << "ROSTERSYNC UNKNOWN - " << why << "\n";
    return static_cast<int>(daemon::HealthState::unknown);
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (as_plugin && e.get_exit_code() != 0) return plugin_unknown(std::string("usage: ") + e.what());
    // No command recognised: name what was typed, the nearest command, and all of them.
    if (e.get_exit_code() != 0 && app.get_subcommands().empty()) {
      std::vector<std::string> commands;
      for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) commands.push_back(sub->get_name());
      std::string typed;
      for (int i = 1; i < argc && typed.empty(); ++i) {
        std::string_view a = argv[i];
        if (a == "-c" || a == "--config" || a == "--log-level") ++i;  // and its value
        else if (!a.empty() && a[0] != '-') typed = a;
      }
      if (!typed.empty()) {
        std::string list, nearest;
        std::size_t best = 3;
        for (const std::string& c : commands) {
          list += (list.empty() ? "" : ", ") + c;
          if (const std::size_t d = edit_distance(typed, c); d < best) {
            best = d;
            nearest = c;
          }
        }
        std::cerr << "rostersync: unknown command '" << typed << "'"
                  << (nearest.empty() ? "" : "; did you mean '" + nearest + "'?") << "\ncommands: " << list
                  << "\n`rostersync --help` says what each does\n";
        return daemon::kExitConfig;
      }
    }
    int rc = app.exit(e);
    return rc == 0 ? 0 : daemon::kExitConfig;
  }
  if (status->parsed() && report.check && report.warning_intervals > report.critical_intervals) {
    std::ostringstream why;
    why << "usage: --warning " << report.warning_intervals << " must not exceed --critical "
        << report.critical_intervals << " (both in intervals since a job's last success)";
    return plugin_unknown(why.str());
  }

  if (run->parsed() || sync->parsed() || plan->parsed()) daemon::hold_back_signals();

  if (demo->parsed()) {
    daemon::setup_logging(log_level.empty() ? "warn" : log_level);
    return daemon::run_demo(demo_options);
  }

  if (check->parsed()) {
    return daemon::cmd_check_config(check_path.empty() ? config_path : check_path,
                                    {report.json, quiet, credentials_dir, refused_courses_ok});
  }

  // Only `sync` and `run` need the secrets; every other command reads the
  // state database or talks to the daemon, and must work from a shell
  // without the unit's credentials.
  const bool needs_secrets = sync->parsed() || run->parsed() || plan->parsed() || (forget->parsed() && delete_memberships);
  config::Config cfg;
  try {
    if (needs_secrets) {
      cfg = config::parse_file(config_path);
      config::ResolveOptions resolve_options;
      resolve_options.credentials_dir = credentials_dir;
      config::resolve(cfg, resolve_options);
    } else {
      cfg = config::parse_file(config_path);
    }
  } catch (const config::ConfigError& e) {
    if (status->parsed() && report.check) {  // a monitoring plugin's own failure is UNKNOWN
      std::string line = std::string("ROSTERSYNC UNKNOWN - configuration error: ") + e.what();
      std::replace(line.begin(), line.end(), '\n', ' ');
      std::cout << line << "\n";
      return static_cast<int>(daemon::HealthState::unknown);
    }
    daemon::print_fatal(std::string("configuration error: ") + e.what());
    return daemon::kExitConfig;
  }
  if (resync->parsed()) return daemon::cmd_resync(cfg, resync_job);
  if (retry->parsed()) return daemon::cmd_retry(cfg, retry_job, retry_id);
  if (approve->parsed()) return daemon::cmd_decide(cfg, upkeep_job, hold_id, true, decision_reason);
  if (reject->parsed()) return daemon::cmd_decide(cfg, upkeep_job, hold_id, false, decision_reason);
  if (adopt->parsed()) return daemon::cmd_adopt(cfg, upkeep_job);
  if (confirm_registry->parsed()) return daemon::cmd_confirm_registry(cfg, change_id);
  daemon::setup_logging(log_level.empty() ? cfg.log_level : log_level);
  if (plan->parsed()) plan_output.dry_run = true;
  if (sync->parsed() || plan->parsed()) {
    // A terminal gets the pass's progress on its bottom line; a pipe or the journal never does.
    return daemon::sync_once(cfg, job, daemon::enable_status_line(), plan_output);
  }
  if (run->parsed()) return daemon::run_daemon(cfg, config_path);
  if (status->parsed()) return daemon::cmd_status(cfg, report);
  if (runs->parsed()) return daemon::cmd_runs(cfg, report);
  if (members->parsed()) return daemon::cmd_members(cfg, report);
  if (failures->parsed()) return daemon::cmd_failures(cfg, report);
  if (courses->parsed()) return daemon::cmd_courses(cfg, report);
  if (forget->parsed() && delete_memberships) return daemon::forget_deleting_memberships(cfg, forget_job, forget_confirm);
  if (forget->parsed()) return daemon::cmd_forget(cfg, forget_job);
  return daemon::kExitConfig;
}
