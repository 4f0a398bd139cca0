// `rostersync run`: every job on its schedule until SIGTERM/SIGINT, with
// sd_notify, the watchdog, SIGHUP reloads, SIGUSR1 and control-socket
// resyncs. The loop performs what sync::Scheduler decides.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <ctime>
#include <memory>
#include <random>

#include "config/config_json.hpp"
#include "daemon/commands.hpp"
#include "daemon/control_server.hpp"
#include "daemon/notify.hpp"
#include "daemon/process.hpp"
#include "sync/io/engine.hpp"
#include "sync/machines/scheduler.hpp"

namespace rostersync::daemon {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// SIGHUP: loads `config_path` again. Returns the new configuration, or null
// when it is invalid (the running one stays; the error is logged). Settings
// that only a restart can change keep their running values.
std::unique_ptr<config::Config> reload(const config::Config& running, const std::string& config_path, store::Store& db) {
  std::unique_ptr<config::Config> fresh;
  try {
    fresh = std::make_unique<config::Config>(config::load_file(config_path));
  } catch (const config::ConfigError& e) {
    spdlog::error("reload: keeping the running configuration; {}", e.what());
    return nullptr;
  }
  if (fresh->state_db != running.state_db) {
    spdlog::warn("reload: state_db changed to {}; it takes effect only after a restart", fresh->state_db);
    fresh->state_db = running.state_db;
  }
  if (fresh->control_socket != running.control_socket) {
    spdlog::warn("reload: control_socket changed to {}; it takes effect only after a restart", fresh->control_socket);
    fresh->control_socket = running.control_socket;
  }
  spdlog::info("reload: configuration {} applied: {}", config_path, config::describe_changes(running, *fresh));
  if (int lifted = db.clear_holds()) {
    spdlog::info("reload: lifted {} hold(s) on blocked jobs or targets; they are tried again now", lifted);
  }
  spdlog::set_level(spdlog::level::from_str(fresh->log_level));
  return fresh;
}

std::string wall_clock_in(std::chrono::milliseconds delay) {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + delay);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", std::localtime(&t));
  return buf;
}

}  // namespace

int run_daemon(const config::Config& initial, const std::string& config_path) {
  Notifier notify;
  try {
    WriterSession session(initial.state_db);
    auto cfg = std::make_unique<config::Config>(initial);
    asio::io_context ioc;
    auto engine = std::make_unique<sync::Engine>(ioc.get_executor(), *cfg, session.db);
    asio::steady_timer wake(ioc);
    asio::steady_timer grace(ioc);
    bool stopping = false;
    bool crashed = false;     // a top-level coroutine died: exit non-zero
    std::string running_job;  // "" while idle
    // The loop below only performs what the scheduler decides; requests from
    // signals and the control socket go to it, and wake the loop.
    auto timings = [](const config::Config& c) {
      std::vector<sync::Scheduler::JobTiming> out;
      for (const auto& j : c.jobs) out.push_back({j.name, j.interval, j.jitter});
      return out;
    };
    sync::Scheduler scheduler(timings(*cfg), Clock::now());

    asio::signal_set stop_signals(ioc, SIGINT, SIGTERM);
    stop_signals.async_wait([&](auto ec, int signo) {
      if (ec) return;
      notify.stopping();
      stopping = true;
      begin_shutdown(signo, *engine, grace, cfg->shutdown_grace);
      wake.cancel();
    });
    // SIGHUP: reload the configuration between runs. SIGUSR1: run every job now.
    // Requests are remembered and served when the job in progress ends.
    asio::signal_set control(ioc, SIGHUP, SIGUSR1);
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
      if (!running_job.empty()) text += "; it starts after job " + running_job + ", which is running now";
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

    std::mt19937_64 rng(std::random_device{}());
    auto draw = [&rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); };
    std::string last_summary = "no run yet";
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          for (const auto& j : cfg->jobs) session.db.set_next_run(j.name, 0);
          spdlog::info("rostersync running {} job(s) from {}", cfg->jobs.size(), cfg->path);
          notify.ready();
          while (!stopping) {
            sync::Scheduler::Decision decision = scheduler.next(Clock::now());
            if (decision.kind == sync::Scheduler::Decision::Kind::reload) {
              notify.reloading();
              if (auto fresh = reload(*cfg, config_path, session.db)) {
                engine = std::make_unique<sync::Engine>(ioc.get_executor(), *fresh, session.db);
                cfg = std::move(fresh);
                scheduler.set_jobs(timings(*cfg), Clock::now());
              }
              notify.ready();
              continue;
            }
            if (decision.kind == sync::Scheduler::Decision::Kind::sleep) {
              auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(decision.until - Clock::now());
              if (!decision.job.empty()) {
                notify.status("idle; next sync " + decision.job + " at " + wall_clock_in(wait) + "; last run " +
                              last_summary);
              }
              wake.expires_at(decision.until);
              co_await wake.async_wait(nothrow);
              continue;
            }
            const config::Job* job = cfg->find_job(decision.job);
            notify.status("syncing " + job->name);
            running_job = job->name;
            sync::JobReport report = co_await engine->run_job(*job);
            running_job.clear();
            if (stopping) break;
            if (report.held || report.retry_in) {
              last_summary = job->name + " " + report.error;  // "blocked: ..." or "circuit breaker open for ..."
            } else {
              last_summary = job->name + " " + to_string(report.outcome) + ": " + std::to_string(report.stats.created) +
                             " created, " + std::to_string(report.stats.failed) + " failed, " +
                             std::to_string(report.stats.pending) + " pending";
            }
            auto delay = scheduler.finished(job->name, Clock::now(), draw(), report.retry_in);
            auto delay_s = std::chrono::duration_cast<std::chrono::seconds>(delay).count();
            try {  // only for `rostersync status`: a locked database must not stop the schedule
              session.db.set_next_run(job->name, delay_s);
            } catch (const std::exception& e) {
              spdlog::warn("job {}: next run time not recorded: {}", job->name, e.what());
            }
            spdlog::info("job {}: next run in {}s", job->name, delay_s);
          }
          stop_signals.cancel();
          control.cancel();
          watchdog.cancel();
          grace.cancel();
          control_server.close();
          spdlog::info("rostersync stopped");
        },
        stop_on_exception(ioc, "the scheduler", crashed));
    ioc.run();
    return crashed ? kExitRuntime : kExitOk;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kExitRuntime;
  }
}

}  // namespace rostersync::daemon
