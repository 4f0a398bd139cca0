// `rostersync run`: every job on its schedule until SIGTERM/SIGINT, several
// at once, with sd_notify, the watchdog, SIGHUP reloads, registry polling,
// SIGUSR1 and control-socket resyncs. The loop performs what sync::Scheduler
// decides; each started job runs as a coroutine of its own.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <random>
#include <set>

#include "config/config_json.hpp"
#include "domain/version.hpp"
#include "daemon/commands.hpp"
#include "daemon/control_server.hpp"
#include "daemon/metrics.hpp"
#include "daemon/config_state.hpp"
#include "daemon/metrics_exporter.hpp"
#include "daemon/notify.hpp"
#include "daemon/process.hpp"
#include "store/migrations.hpp"
#include "sync/io/engine.hpp"
#include "daemon/pass.hpp"
#include "sync/machines/scheduler.hpp"

namespace rostersync::daemon {

namespace {
constexpr std::chrono::milliseconds kDaemonBusyTimeout{250};
}  // namespace
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr auto kPruneEvery = std::chrono::hours(24);

void log_registry_errors(const config::Config& cfg) {
  for (const auto& e : cfg.registry_errors) spdlog::warn("registry: {}", e);
}

// SIGHUP: loads `config_path` again. Returns the new configuration, or null
// when it is invalid (the running one stays; the error is logged). Settings
// that only a restart can change keep their running values.
std::unique_ptr<config::Config> reload(const config::Config& running, const std::string& config_path,
                                       ConfigState& state) {
  std::unique_ptr<config::Config> fresh;
  try {
    fresh = std::make_unique<config::Config>(config::load_file(config_path));
  } catch (const config::ConfigError& e) {
    spdlog::error("reload: keeping the running configuration; {}", e.what());
    state.reload_refused();
    return nullptr;
  }
  state.guard(&running, *fresh);
  if (fresh->state_db != running.state_db) {
    spdlog::warn("reload: state_db changed to {}; it takes effect only after a restart", fresh->state_db);
    fresh->state_db = running.state_db;
  }
  if (fresh->control_socket != running.control_socket) {
    spdlog::warn("reload: control_socket changed to {}; it takes effect only after a restart", fresh->control_socket);
    fresh->control_socket = running.control_socket;
  }
  if (fresh->metrics != running.metrics) {
    spdlog::warn("reload: metrics settings changed; they take effect only after a restart");
    fresh->metrics = running.metrics;
  }
  log_registry_errors(*fresh);
  spdlog::info("reload: configuration {} applied: {}", config_path, config::describe_changes(running, *fresh));
  spdlog::set_level(spdlog::level::from_str(fresh->log_level));
  return fresh;
}

// The registry changed on disk: the running configuration with its courses
// read again (null when nothing usable changed).
std::unique_ptr<config::Config> reread_registry(const config::Config& running, ConfigState& state) {
  auto fresh = std::make_unique<config::Config>(running);
  config::read_registry(*fresh);
  try {
    config::resolve(*fresh);
  } catch (const config::ConfigError& e) {  // a source's or target's secret vanished
    spdlog::error("registry: keeping the running courses; {}", e.what());
    return nullptr;
  }
  log_registry_errors(*fresh);
  state.guard(&running, *fresh);
  if (fresh->jobs == running.jobs) return nullptr;
  bool only_moved = fresh->jobs.size() == running.jobs.size() &&
                    std::equal(fresh->jobs.begin(), fresh->jobs.end(), running.jobs.begin(), config::same_settings);
  // Entries that only moved in their file keep their schedule; their new lines are shown by `courses`.
  spdlog::log(only_moved ? spdlog::level::debug : spdlog::level::info, "registry {} changed: {}", running.registry.path,
              config::describe_changes(running, *fresh));
  return fresh;
}

// Jobs to run soon after a reload: those whose settings changed.
std::set<std::string> changed_jobs(const config::Config& before, const config::Config& after) {
  std::map<std::string, const config::Job*> old;
  for (const auto& j : before.jobs) old[j.name] = &j;
  std::set<std::string> changed;
  for (const auto& j : after.jobs) {
    auto it = old.find(j.name);
    if (it != old.end() && !config::same_settings(*it->second, j)) changed.insert(j.name);
  }
  return changed;
}

std::string wall_clock_in(std::chrono::milliseconds delay) {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + delay);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", std::localtime(&t));
  return buf;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

int run_daemon(const config::Config& initial, const std::string& config_path) {
  Notifier notify;
  spdlog::info("rostersync {} starting: configuration {}, state database {}", kVersion, config_path, initial.state_db);
  try {
    // The event loop waits with every store call: another process holding the
    // database stalls the daemon (watchdog, control socket, metrics) at most
    // this long per call; the run then fails visibly and is retried soon.
    WriterSession session(initial.state_db, kDaemonBusyTimeout);
    store::Store& db = session.db;
    if (db.upgraded_from() > 0 && db.upgraded_from() < store::kSchemaVersion) {
      spdlog::info("state database upgraded from schema {} to {}", db.upgraded_from(), store::kSchemaVersion);
    }
    // A start, like a reload, lifts every hold: the configuration and the
    // credentials (which systemd copies only at a start) may have been fixed.
    std::vector<Hold> lifted_at_start;
    try {
      lifted_at_start = db.clear_holds();
      for (const Hold& lifted : lifted_at_start) {
        spdlog::info("start: lifted the hold on {} {} ({}); it is tried again now", to_string(lifted.scope),
                     lifted.name, lifted.reason);
      }
    } catch (const std::exception& e) {
      spdlog::warn("start: holds not lifted: {}", e.what());
    }
    // What the registry guard lets run, and what waits for a person.
    ConfigState config_state(db, unix_now());
    config::Config first = initial;
    config_state.guard(nullptr, first);
    // The engine keeps references into the configuration it was made with
    // (sources, targets): that one lives as long as the engine does.
    auto cfg = std::make_shared<const config::Config>(std::move(first));
    std::shared_ptr<const config::Config> engine_cfg = cfg;
    EventLoop ioc;
    std::map<std::string, std::int64_t> last_ok;
    try {
      last_ok = db.last_ok_runs();
    } catch (const std::exception& e) {
      spdlog::warn("metrics: last successful runs not read: {}", e.what());
    }
    DaemonMetrics metrics(last_ok);
    sync::EngineOptions engine_options;
    engine_options.on_request = [&metrics](std::string_view peer, std::string_view endpoint, int status, double seconds) {
      metrics.request(peer, endpoint, status, seconds);
    };
    auto engine = std::make_unique<sync::Engine>(ioc.get_executor(), *engine_cfg, db, engine_options);
    // A reload that changes sources or targets needs a new engine: it waits
    // here until the running jobs have ended (no job starts meanwhile).
    std::shared_ptr<const config::Config> waiting_cfg;
    asio::steady_timer wake(ioc);
    asio::steady_timer grace(ioc);
    bool stopping = false;
    bool crashed = false;  // a top-level coroutine died: exit non-zero
    std::mt19937_64 rng(std::random_device{}());
    sync::Scheduler::Draw draw = [&rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); };
    sync::Scheduler scheduler(walk_limits(*cfg));
    PassTracker pass;
    std::string last_summary = "no run yet";
    std::set<std::string> running_jobs;

    asio::signal_set stop_signals(ioc, SIGINT, SIGTERM);
    stop_signals.async_wait([&](auto ec, int signo) {
      if (ec) return;
      notify.stopping();
      stopping = true;
      begin_shutdown(signo, *engine, grace, cfg->shutdown_grace);
      wake.cancel();
    });
    // SIGHUP: reload the configuration. SIGUSR1: run every job now.
    // Requests are remembered and served at the loop's next decision.
    asio::signal_set control(ioc, SIGHUP, SIGUSR1);
    release_signals();  // held back since main(): those that came meanwhile are delivered now
    std::function<void(boost::system::error_code, int)> on_control = [&](boost::system::error_code ec, int signo) {
      if (ec) return;
      if (signo == SIGHUP) scheduler.request_reload();
      else scheduler.request_resync_all();
      spdlog::info("{} received: {}", signo == SIGHUP ? "SIGHUP" : "SIGUSR1",
                   signo == SIGHUP ? "reloading the configuration" : "syncing every job now");
      wake.cancel();
      control.async_wait(on_control);
    };
    control.async_wait(on_control);

    // `rostersync resync [--job NAME]` over the control socket.
    ControlHandler on_request = [&](const ControlRequest& request) -> ControlReply {
      if (stopping) return {false, "the daemon is stopping"};
      if (request.job && !scheduler.request_resync(*request.job)) {
        return {false, "no job named '" + *request.job + "' in " + cfg->path};
      }
      if (!request.job) scheduler.request_resync_all();
      wake.cancel();
      std::string what = request.job ? "job " + *request.job : "every job";
      spdlog::info("resync of {} requested over the control socket", what);
      std::string text = "resync of " + what + " queued";
      if (request.job && scheduler.running(*request.job)) text += "; it starts when its run in progress ends";
      return {true, text};
    };
    ControlServer control_server(ioc, cfg->control_socket, on_request, crashed);

    asio::steady_timer watchdog(ioc);
    if (auto interval = Notifier::watchdog_interval()) {
      // Pings come from the event loop itself, so a stuck loop stops them.
      asio::co_spawn(
          ioc,
          [&, interval]() -> asio::awaitable<void> {
            // Wait first: the first ping must not precede READY=1.
            while (!stopping) {
              watchdog.expires_after(*interval);
              co_await watchdog.async_wait(nothrow);
              if (!stopping) notify.watchdog();
            }
          },
          stop_on_exception(ioc, "the watchdog", crashed));
    }

    auto record_pass = [&] {
      try {  // only for `rostersync status`: a locked database must not stop the schedule
        db.record_pass(pass.progress());
      } catch (const std::exception& e) {
        spdlog::warn("pass progress not recorded: {}", e.what());
      }
    };
    // Jobs whose deletions, restores or empty roster a guard holds: a person must decide.
    std::map<std::string, int> awaiting_approval;
    auto read_awaiting = [&] {
      try {
        std::map<std::string, int> fresh;
        for (const auto& hold : db.write_holds()) fresh[hold.job] += hold.planned;
        awaiting_approval = std::move(fresh);
      } catch (const std::exception& e) {
        spdlog::warn("held writes not read: {}", e.what());
      }
    };
    read_awaiting();
    auto approval_note = [&]() -> std::string {
      if (awaiting_approval.empty()) return "";
      int planned = 0;
      for (const auto& [job, n] : awaiting_approval) planned += n;
      return "; " + std::to_string(awaiting_approval.size()) + " job(s) awaiting approval of " + std::to_string(planned) +
             " held write(s) (" + awaiting_approval.begin()->first +
             (awaiting_approval.size() > 1 ? ", ...; rostersync status" : "; rostersync status --job NAME") + ")";
    };
    auto show_status = [&] {
      std::string text = describe(pass.progress());
      if (!running_jobs.empty()) {
        text += "; running " + *running_jobs.begin();
        if (running_jobs.size() > 1) text += " and " + std::to_string(running_jobs.size() - 1) + " more";
      }
      notify.status(text + "; last run " + last_summary + approval_note() + config_state.status_note());
    };

    // The metrics as of now: the gauges that mirror the database and the
    // event loop are read just before each render.
    auto render_metrics = [&]() -> std::string {
      StoredState stored;
      try {
        for (auto& m : db.membership_counts()) stored.memberships.push_back({m.job, m.state, m.count});
        for (const Hold& h : db.active_holds()) stored.holds.push_back({to_string(h.scope), h.name, to_string(h.kind)});
        for (const auto& hold : db.write_holds()) stored.removals_awaiting_approval[hold.job] += hold.planned;
      } catch (const std::exception& e) {
        spdlog::warn("metrics: state database not read: {}", e.what());
      }
      metrics.refresh(stored, engine->in_flight(), static_cast<int>(scheduler.running_count()));
      metrics.config_state(config_state.reload_ok(), config_state.applied_unix(), config_state.refused_files(),
                           config_state.awaiting());
      std::map<std::string, double> intervals;
      for (const auto& j : cfg->jobs) intervals[j.name] = std::chrono::duration<double>(j.interval).count();
      metrics.job_intervals(intervals);
      return metrics.render();
    };
    MetricsServer metrics_server(ioc, cfg->metrics.listen, render_metrics, crashed);
    std::string textfile_error;
    auto write_metrics_file = [&] {
      if (cfg->metrics.textfile.empty()) return;
      std::string error = write_textfile(cfg->metrics.textfile, render_metrics());
      if (error != textfile_error && !error.empty()) spdlog::warn("metrics: {}", error);
      if (error != textfile_error && error.empty()) spdlog::info("metrics: writing {}", cfg->metrics.textfile);
      textfile_error = error;
    };
    asio::steady_timer textfile_timer(ioc);
    if (!cfg->metrics.textfile.empty()) {
      asio::co_spawn(
          ioc,
          [&]() -> asio::awaitable<void> {
            while (!stopping) {
              write_metrics_file();
              textfile_timer.expires_after(cfg->metrics.textfile_interval);
              co_await textfile_timer.async_wait(nothrow);
            }
          },
          stop_on_exception(ioc, "the metrics file", crashed));
    }

    // A run ended: schedule the next one, count it into the pass.
    auto on_job_done = [&](const sync::JobReport& report) {
      running_jobs.erase(report.job);
      // A corrupt database, or a disk that fails: nothing more can be trusted
      // to it. Stop visibly (exit 3, systemd restarts and the start says why)
      // rather than fail run after run while creates never happen.
      if (!db.unusable().empty()) {
        spdlog::critical("state database unusable: {}; stopping (exit 3). Check the disk, then restore a backup "
                         "(README \"Restore\") or run `sqlite3 {} 'PRAGMA integrity_check'`", db.unusable(), db.path());
        crashed = true;
        ioc.stop();
        return;
      }
      metrics.run_finished(report.job, report.outcome, report.held, report.stats, report.seconds, unix_now());
      // Held, approved, rejected or no longer needed: a run of one job may
      // set or lift the hold of every job of its group.
      if (!report.removals_held.empty() || report.stats.restores_held > 0 || !awaiting_approval.empty()) read_awaiting();
      if (report.held || report.retry_in) {
        last_summary = report.job + " " + report.error;  // "blocked: ..." or "circuit breaker open for ..."
      } else {
        last_summary = report.job + " " + to_string(report.outcome) + ": " + std::to_string(report.stats.created) +
                       " created, " + std::to_string(report.stats.failed) + " failed, " +
                       std::to_string(report.stats.pending) + " pending";
      }
      std::optional<std::chrono::milliseconds> delay = scheduler.finished(report.job, Clock::now(), draw(), report.retry_in);
      // Whether jobs still wait matters only once none runs (the pass may end).
      const bool pass_was_active = pass.progress().active;
      pass.job_finished(report.stats, report.outcome == RunOutcome::ok && !report.held, scheduler.running_count(),
                        scheduler.running_count() == 0 ? scheduler.waiting_count(Clock::now()) : 0, unix_now());
      if (pass_was_active && !pass.progress().active) {
        metrics.pass_finished(static_cast<double>(pass.progress().ended_unix - pass.progress().started_unix));
      }
      if (!stopping) {
        if (delay) {
          auto delay_s = std::chrono::duration_cast<std::chrono::seconds>(*delay).count();
          try {  // only for `rostersync status`
            db.set_next_run(report.job, delay_s);
          } catch (const std::exception& e) {
            spdlog::warn("job {}: next run time not recorded: {}", report.job, e.what());
          }
          spdlog::info("job {}: next run in {}s", report.job, delay_s);
        }
        record_pass();
        show_status();
      }
      wake.cancel();
    };

    // Applies an accepted configuration (reload or registry): jobs now, or
    // after the running ones end when sources or targets changed.
    auto apply = [&](std::shared_ptr<const config::Config> fresh, std::set<std::string> changed) {
      // Stopping: nothing new runs, and the engine the grace timer will cut off must stay the one in use.
      if (stopping) return;
      if (fresh->sources != engine_cfg->sources || fresh->targets != engine_cfg->targets) {
        if (scheduler.running_count() > 0) {
          spdlog::info("reload: sources or targets changed; applied when the {} running job(s) end",
                       scheduler.running_count());
          waiting_cfg = std::move(fresh);
          return;
        }
        engine = std::make_unique<sync::Engine>(ioc.get_executor(), *fresh, db, engine_options);
        engine_cfg = fresh;
      } else {
        engine->use_jobs(fresh);  // the groups' jobs and their removal settings as the file says now
      }
      // A job removed from the configuration keeps its history; say how to drop it.
      for (const auto& j : cfg->jobs) {
        if (!fresh->find_job(j.name)) {
          spdlog::info("job {} is no longer configured: not run again (its history stays until `rostersync forget "
                       "--job {}`)", j.name, j.name);
        }
      }
      scheduler.update(job_timings(*fresh), changed, Clock::now(), draw, walk_limits(*fresh));
      cfg = std::move(fresh);
      pass.waiting_changed(scheduler.running_count(), scheduler.waiting_count(Clock::now()));
    };

    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          log_registry_errors(*cfg);
          // Jobs a lifted hold kept waiting start soon, not at the hold's planned end.
          std::map<std::string, store::Store::PlannedRun> planned_runs = db.planned_runs();
          for (const auto& j : cfg->jobs) {
            for (const Hold& h : lifted_at_start) {
              if ((h.scope == HoldScope::job && h.name == j.name) || (h.scope == HoldScope::target && h.name == j.target) ||
                  (h.scope == HoldScope::source && h.name == j.source)) {
                planned_runs.erase(j.name);  // placed like a new job: within its jitter
              }
            }
          }
          scheduler.start(job_timings(*cfg, planned_runs), Clock::now(), draw);
          std::vector<std::pair<std::string, std::int64_t>> planned;
          for (const auto& j : cfg->jobs) {
            auto in = std::chrono::duration_cast<std::chrono::seconds>(*scheduler.due(j.name) - Clock::now());
            planned.emplace_back(j.name, std::max<std::int64_t>(0, in.count()));
          }
          try {
            db.set_next_runs(planned);
          } catch (const std::exception& e) {
            spdlog::warn("next run times not recorded: {}", e.what());
          }
          spdlog::info("rostersync running {} job(s) from {}", cfg->jobs.size(), cfg->path);
          notify.ready();
          std::string registry_stamp = config::registry_stamp(cfg->registry);
          Clock::time_point next_poll = Clock::now() + cfg->registry.poll_interval;
          Clock::time_point next_prune = Clock::now();
          while (!stopping) {
            const Clock::time_point now = Clock::now();
            if (now >= next_prune) {
              next_prune = now + kPruneEvery;
              try {
                int pruned = db.prune_runs(std::chrono::duration_cast<std::chrono::seconds>(cfg->run_retention));
                if (pruned > 0) spdlog::info("deleted {} run record(s) older than run_retention", pruned);
              } catch (const std::exception& e) {
                spdlog::warn("old run records not pruned: {}", e.what());
              }
            }
            if (!cfg->registry.path.empty() && cfg->registry.poll_interval.count() > 0 && now >= next_poll) {
              next_poll = now + cfg->registry.poll_interval;
              std::string stamp = config::registry_stamp(cfg->registry);
              if (stamp != registry_stamp || config_state.confirmation_waiting()) {
                registry_stamp = stamp;
                if (auto fresh = reread_registry(*cfg, config_state)) {
                  std::set<std::string> changed = changed_jobs(*cfg, *fresh);
                  apply(std::move(fresh), std::move(changed));
                  config_state.applied(unix_now());
                }
                show_status();
              }
            }
            if (waiting_cfg) {
              if (scheduler.running_count() > 0) {  // woken by each job's end
                wake.expires_at(Clock::time_point::max());
                co_await wake.async_wait(nothrow);
                continue;
              }
              std::shared_ptr<const config::Config> fresh = std::move(waiting_cfg);
              waiting_cfg.reset();
              apply(fresh, changed_jobs(*cfg, *fresh));
              // Its registry was read at the reload: read it again at once, in
              // case a poll saw newer files meanwhile.
              registry_stamp.clear();
              next_poll = Clock::now();
              notify.ready();
              continue;
            }
            sync::Scheduler::Decision decision = scheduler.next(now);
            if (decision.kind == sync::Scheduler::Decision::Kind::reload) {
              notify.reloading();
              if (auto fresh = reload(*cfg, config_path, config_state)) {
                std::set<std::string> changed = changed_jobs(*cfg, *fresh);
                // A reload lifts every hold: the jobs they stopped are tried again soon.
                try {
                  for (const Hold& lifted : db.clear_holds()) {
                    for (const auto& j : fresh->jobs) {
                      if ((lifted.scope == HoldScope::job && lifted.name == j.name) ||
                          (lifted.scope == HoldScope::target && lifted.name == j.target) ||
                          (lifted.scope == HoldScope::source && lifted.name == j.source)) {
                        changed.insert(j.name);
                      }
                    }
                    spdlog::info("reload: lifted the hold on {} {}; it is tried again now", to_string(lifted.scope),
                                 lifted.name);
                  }
                } catch (const std::exception& e) {
                  spdlog::warn("reload: holds not lifted: {}", e.what());
                }
                registry_stamp = config::registry_stamp(fresh->registry);
                apply(std::shared_ptr<const config::Config>(std::move(fresh)), std::move(changed));
                config_state.applied(unix_now());
              }
              notify.ready();
              show_status();
              continue;
            }
            if (decision.kind == sync::Scheduler::Decision::Kind::run) {
              const config::Job* job = cfg->find_job(decision.job);
              running_jobs.insert(job->name);
              // Waiting jobs are counted when a pass begins; later ones join as they start.
              pass.job_started(scheduler.running_count(), pass.progress().active ? 0 : scheduler.waiting_count(now),
                               unix_now());
              show_status();
              std::string name = job->name;
              spawn_job(ioc, *engine, *job, [&scheduler, &wake, name] {
                scheduler.walk_finished(name);
                wake.cancel();
              }, on_job_done, crashed);
              continue;
            }
            Clock::time_point until = decision.until;
            if (!cfg->registry.path.empty() && cfg->registry.poll_interval.count() > 0) until = std::min(until, next_poll);
            until = std::min(until, next_prune);
            if (!decision.job.empty() && scheduler.running_count() == 0) {
              auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(decision.until - now);
              notify.status("idle; next sync " + decision.job + " at " + wall_clock_in(wait) + "; last run " + last_summary +
                            approval_note() + config_state.status_note());
            }
            wake.expires_at(until);
            co_await wake.async_wait(nothrow);
          }
          // Stopping: the running jobs end as interrupted (see begin_shutdown).
          while (scheduler.running_count() > 0) {
            wake.expires_at(Clock::time_point::max());
            co_await wake.async_wait(nothrow);
          }
          record_pass();
          stop_signals.cancel();
          control.cancel();
          watchdog.cancel();
          grace.cancel();
          textfile_timer.cancel();
          write_metrics_file();  // the final counts
          metrics_server.close();
          control_server.close();
          spdlog::info("rostersync stopped");
        },
        stop_on_exception(ioc, "the scheduler", crashed));
    // Declared last, so destroyed first: the frames of jobs still running
    // when a coroutine failed go while the scheduler and timers they touch live.
    PendingDestroyedFirst pending_destroyed_first{ioc};
    ioc.run();
    return crashed ? kExitRuntime : kExitOk;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kExitRuntime;
  }
}

}  // namespace rostersync::daemon
