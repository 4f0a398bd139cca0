#include "daemon/commands.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/buffers_iterator.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <map>
#include <ctime>
#include <functional>
#include <random>

#include "config/config_json.hpp"
#include "store/store.hpp"
#include "daemon/control.hpp"
#include "daemon/journal.hpp"
#include "daemon/notify.hpp"
#include "sync/io/engine.hpp"
#include "sync/machines/scheduler.hpp"

namespace rostersync::daemon {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// One writer per state database: a second `sync` or `run` on the same file
// would plan the same creates twice in parallel.
class WriterLock {
 public:
  explicit WriterLock(const std::string& db_path) : path_(db_path + ".lock") {
    fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0) throw store::StoreError(path_ + ": cannot create lock file");
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      close(fd_);
      throw store::StoreError("another rostersync process is using " + db_path + " (lock " + path_ + " is held)");
    }
  }
  ~WriterLock() { close(fd_); }

 private:
  std::string path_;
  int fd_ = -1;
};

// The state database opened by its single writer. Runs still marked running
// belong to a process that died mid-run; they are closed as interrupted.
struct WriterSession {
  explicit WriterSession(const std::string& path) : lock(path), db(path) {
    if (int n = db.close_abandoned_runs()) spdlog::warn("marked {} run(s) left running by an earlier process as interrupted", n);
  }
  WriterLock lock;
  store::Store db;
};

// SIGTERM/SIGINT: no new work now; requests still in flight after `grace`
// are cut off (their items stay pending and keep their ids).
void begin_shutdown(int signo, sync::Engine& engine, asio::steady_timer& grace_timer, config::Millis grace) {
  spdlog::info("signal {} received: stopping; requests in flight get {} ms to finish", signo, grace.count());
  engine.request_stop();
  grace_timer.expires_after(grace);
  grace_timer.async_wait([&engine](boost::system::error_code ec) {
    if (ec) return;
    spdlog::warn("shutdown grace period over: cutting off requests still in flight");
    engine.abort_in_flight();
  });
}

// Completion handler for a top-level coroutine. An exception that escapes one
// is a bug or a failure nothing below could handle: it is logged and stops
// the event loop, so the process exits non-zero (and systemd restarts it)
// instead of living on with a dead scheduler behind a live control socket.
auto stop_on_exception(asio::io_context& ioc, const char* what, bool& failed) {
  return [&ioc, what, &failed](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::critical("{} failed: {}; stopping", what, ex.what());
    } catch (...) {
      spdlog::critical("{} failed with an unknown exception; stopping", what);
    }
    failed = true;
    ioc.stop();
  };
}

void print_progress(const sync::Progress& p) {
  std::fprintf(stderr, "\r\033[K  %-16s page %-4d members %-6d queued %-6d created %-6d failed %-4d", p.job.c_str(),
               p.pages, p.members, p.queued, p.created, p.failed);
  std::fflush(stderr);
}

}  // namespace

void setup_logging(const std::string& level) {
  std::shared_ptr<spdlog::logger> logger;
  if (stderr_is_journal()) {
    const char* path = std::getenv("ROSTERSYNC_JOURNAL_SOCKET");
    logger = std::make_shared<spdlog::logger>("rostersync", make_journal_sink(path && *path ? path : kJournalSocket));
  } else {
    // Colored level names on a terminal, plain text when redirected.
    logger = std::make_shared<spdlog::logger>("rostersync", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

int sync_once(const config::Config& cfg, const std::optional<std::string>& job_name, bool show_progress) {
  std::vector<const config::Job*> jobs;
  for (const auto& j : cfg.jobs) {
    if (!job_name || j.name == *job_name) jobs.push_back(&j);
  }
  if (jobs.empty()) {
    std::cerr << "rostersync: no job named '" << *job_name << "' in " << cfg.path << "\n";
    return kExitConfig;
  }
  try {
    WriterSession session(cfg.state_db);
    // An operator asking for a sync wants a try now: lift the holds in its way.
    for (const auto* job : jobs) {
      for (const auto& [scope, name] : {std::pair<HoldScope, std::string>{HoldScope::job, job->name}, {HoldScope::target, job->target}}) {
        if (auto hold = session.db.find_hold(scope, name)) {
          spdlog::info("lifting the hold on {} {} for this sync (was: {})", to_string(scope), name, hold->reason);
          session.db.clear_hold(scope, name);
        }
      }
    }
    asio::io_context ioc;
    sync::Engine engine(ioc.get_executor(), cfg, session.db);
    if (show_progress) engine.on_progress(print_progress);
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    asio::steady_timer grace(ioc);
    signals.async_wait([&](auto ec, int signo) {
      if (ec) return;
      begin_shutdown(signo, engine, grace, cfg.shutdown_grace);
    });
    bool all_ok = true, crashed = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          for (const auto* job : jobs) {
            if (engine.stop_requested()) break;
            sync::JobReport report = co_await engine.run_job(*job);
            if (show_progress) std::fprintf(stderr, "\r\033[K");
            all_ok = all_ok && report.outcome == RunOutcome::ok;
          }
          all_ok = all_ok && !engine.stop_requested();
          signals.cancel();
          grace.cancel();
        },
        stop_on_exception(ioc, "the sync", crashed));
    ioc.run();
    if (crashed) return kExitRuntime;
    return all_ok ? kExitOk : kExitJobFailed;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kExitRuntime;
  }
}

namespace {

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

int cmd_resync(const config::Config& cfg, const std::optional<std::string>& job) {
  if (cfg.control_socket.empty()) {
    std::cerr << "rostersync: control_socket is off in " << cfg.path
              << "; send SIGUSR1 instead (systemctl kill -s USR1 rostersync) to resync every job\n";
    return kExitConfig;
  }
  Result<ControlReply> reply = send_control_request(cfg.control_socket, ControlRequest{job}, std::chrono::seconds(10));
  if (!reply) {
    std::cerr << "rostersync: resync not delivered: " << reply.failure().message << "\n";
    return kExitRuntime;
  }
  if (!reply->ok) {
    std::cerr << "rostersync: the daemon refused the resync: " << reply->text << "\n";
    return kExitJobFailed;
  }
  std::cout << "delivered: " << reply->text << "\n";
  return kExitOk;
}

int cmd_retry(const config::Config& cfg, const std::optional<std::string>& job, const std::optional<std::string>& id) {
  if (job && !cfg.find_job(*job)) {
    std::cerr << "rostersync: no job named '" << *job << "' in " << cfg.path << "\n";
    return kExitConfig;
  }
  int requeued = 0;
  try {
    store::Store db(cfg.state_db);
    requeued = db.requeue_parked(job, id);
  } catch (const std::exception& e) {
    std::cerr << "rostersync: " << e.what() << "\n";
    return kExitRuntime;
  }
  std::cout << requeued << " item(s) back in the queue";
  if (requeued == 0) {
    std::cout << " (nothing parked or waiting" << (id ? " with id " + *id : "") << (job ? " in job " + *job : "") << ")\n";
    return kExitOk;
  }
  // They go out at the job's next run; ask a running daemon for it now.
  Result<ControlReply> reply = cfg.control_socket.empty()
                                   ? Result<ControlReply>(fail(FailureKind::config, "no control socket"))
                                   : send_control_request(cfg.control_socket, ControlRequest{job}, std::chrono::seconds(10));
  if (reply && reply->ok) std::cout << "; the daemon resyncs now (" << reply->text << ")\n";
  else std::cout << "; they are sent at the next run (`rostersync sync` sends them now)\n";
  return kExitOk;
}

namespace {

using local = asio::local::stream_protocol;
using ControlHandler = std::function<ControlReply(const ControlRequest&)>;

// Binds the control socket, replacing a stale file left by a dead process but
// never one a live daemon still listens on. Without it the daemon still runs
// (SIGUSR1 works), so failure is a warning, not an exit.
std::optional<local::acceptor> open_control_socket(asio::io_context& ioc, const std::string& path) {
  if (path.empty()) return std::nullopt;
  boost::system::error_code ec;
  local::socket probe(ioc);
  probe.connect(local::endpoint(path), ec);
  if (!ec) {
    spdlog::warn("control socket {}: another process listens on it; `rostersync resync` will not reach this daemon", path);
    return std::nullopt;
  }
  if (std::filesystem::is_socket(std::filesystem::symlink_status(path, ec))) std::filesystem::remove(path, ec);
  local::acceptor acceptor(ioc);
  acceptor.open(local::endpoint(path).protocol(), ec);
  if (!ec) acceptor.bind(local::endpoint(path), ec);
  if (!ec) acceptor.listen(8, ec);
  if (ec) {
    spdlog::warn("control socket {}: {}; `rostersync resync` will not reach this daemon (SIGUSR1 still works)", path,
                 ec.message());
    return std::nullopt;
  }
  return acceptor;
}

// One request line, one reply line. A client that sends nothing is dropped
// after a few seconds so it cannot hold the daemon's attention.
asio::awaitable<void> serve_control_client(local::socket socket, const ControlHandler& handle) {
  asio::steady_timer deadline(socket.get_executor(), std::chrono::seconds(5));
  deadline.async_wait([&socket](boost::system::error_code ec) {
    if (!ec) socket.cancel();
  });
  asio::streambuf buffer(kMaxControlLine + 2);
  auto [ec, n] = co_await asio::async_read_until(socket, buffer, '\n', nothrow);
  ControlReply reply;
  if (ec) {
    reply = {false, ec == asio::error::not_found ? "request line too long" : "request not received: " + ec.message()};
  } else {
    std::string line(asio::buffers_begin(buffer.data()), asio::buffers_begin(buffer.data()) + static_cast<long>(n));
    Result<ControlRequest> request = parse_control_request(line);
    reply = request ? handle(*request) : ControlReply{false, request.failure().message};
  }
  std::string out = format_control_reply(reply);
  co_await asio::async_write(socket, asio::buffer(out), nothrow);
  deadline.cancel();
}

asio::awaitable<void> accept_control_clients(local::acceptor& acceptor, const ControlHandler& handle, bool& crashed) {
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(nothrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) continue;
    auto& ioc = static_cast<asio::io_context&>(acceptor.get_executor().context());
    asio::co_spawn(ioc, serve_control_client(std::move(socket), handle),
                   stop_on_exception(ioc, "a control request", crashed));
  }
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
    std::optional<local::acceptor> control_socket = open_control_socket(ioc, cfg->control_socket);
    if (control_socket) asio::co_spawn(ioc, accept_control_clients(*control_socket, on_request, crashed),
                                      stop_on_exception(ioc, "the control socket", crashed));

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
          if (control_socket) {
            boost::system::error_code ignored;
            control_socket->close(ignored);
            std::filesystem::remove(cfg->control_socket, ignored);
          }
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
