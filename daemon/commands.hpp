// The rostersync commands behind the CLI: one-shot sync, the long-running
// scheduler, and the requests to a running daemon. Each returns the process
// exit code and throws nothing: errors are printed or logged.
#pragma once

#include <optional>
#include <string>

#include "config/config.hpp"

namespace rostersync::daemon {

// Exit codes (documented in the README).
inline constexpr int kExitOk = 0;
inline constexpr int kExitJobFailed = 1;   // a job's run did not end ok
inline constexpr int kExitConfig = 2;      // configuration or usage error
inline constexpr int kExitRuntime = 3;     // state database or other local failure

// Applies the log level (config unless overridden) to the default logger.
void setup_logging(const std::string& level);

// "rostersync: <message>" on stderr for an error before logging is set up
// (configuration errors). When stderr is the journal stream, the line gets
// the <3> prefix journald reads as error priority, so `journalctl -p err`
// shows why the unit did not start.
void print_fatal(const std::string& message);

// `rostersync sync [--job NAME]`: one pass over the jobs, several at once.
// With `plan.dry_run` (`rostersync plan`, `sync --dry-run`): the same pass
// on a scratch copy of the state database (VACUUM INTO), no write sent, and
// what would have been done printed per job (as JSON with `plan.json`).
struct PlanOutput {
  bool dry_run = false;
  bool json = false;
};
int sync_once(const config::Config& cfg, const std::optional<std::string>& job, bool show_progress,
              PlanOutput plan = {});

// `run` and `sync` handle SIGTERM, SIGINT, SIGHUP and SIGUSR1, but only once
// their event loop exists; one that came earlier (systemctl stop or kill -s
// USR1 while the configuration loads) would kill the process outright.
// main() holds those signals back as soon as it knows the command
// (sigprocmask), and the command releases them once its handlers are in
// place: they are delivered then, to the handlers.
void hold_back_signals();
void release_signals();

// `rostersync run`: every job on its interval until SIGTERM/SIGINT. SIGUSR1
// syncs every job now; SIGHUP reloads `config_path` between runs (an invalid
// file keeps the running configuration). Speaks sd_notify under systemd.
int run_daemon(const config::Config& cfg, const std::string& config_path);

// `rostersync resync [--job NAME]`: asks the daemon over its control socket.
// 0 = delivered and queued, 1 = the daemon refused (e.g. no such job),
// 3 = not delivered (daemon not running, or no answer).
int cmd_resync(const config::Config& cfg, const std::optional<std::string>& job);

// `rostersync retry [--job NAME] [--id ID]`: parked and waiting items become
// due again (refusals reset); then asks a running daemon to resync, if any.
// Safe while the daemon runs: one short write transaction.
int cmd_retry(const config::Config& cfg, const std::optional<std::string>& job, const std::optional<std::string>& id);

// `rostersync approve|reject --job NAME --hold ID [--reason TEXT]`: decides
// exactly the set of held writes the hold ID names (see store/holds.hpp)
// and records who, when and why. Without --hold it lists the job's holds
// with their ids and decides nothing. 0 decided, 1 nothing decided.
int cmd_decide(const config::Config& cfg, const std::string& job, const std::optional<std::string>& hold_id,
               bool approve, const std::string& reason);

// `rostersync confirm-registry [--id ID]`: lets the daemon apply the
// registry change its guard holds (config/registry_guard.hpp), exactly the
// one ID names; without --id it shows the change and confirms nothing.
// 0 confirmed, 1 nothing confirmed.
int cmd_confirm_registry(const config::Config& cfg, const std::optional<std::string>& id);

// `forget`'s precondition: true (and says why on stderr) when `job` is still configured.
bool refuse_configured_job(const config::Config& cfg, const std::string& job);

// `rostersync forget --job NAME --delete-memberships`: deletes in
// itslearning the memberships the (no longer configured) job owns, then
// forgets it; 0 all deleted and forgotten, 1 some left (nothing forgotten).
// Nothing is deleted unless `confirm` equals the count shown (every
// deletion is listed first); memberships another job of the group still
// lists are never among them.
int forget_deleting_memberships(const config::Config& cfg, const std::string& job, std::optional<int> confirm);

// `rostersync adopt --job NAME`: the job's group is read again at its next
// run and the memberships there adopted (see sync/planning/reconcile.hpp).
int cmd_adopt(const config::Config& cfg, const std::string& job);

}  // namespace rostersync::daemon
