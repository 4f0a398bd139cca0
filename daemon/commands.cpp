#include "daemon/commands.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <ctime>
#include <functional>
#include <random>

#include "store/store.hpp"
#include "daemon/notify.hpp"
#include "sync/engine.hpp"

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

void print_progress(const sync::Progress& p) {
  std::fprintf(stderr, "\r\033[K  %-16s page %-4d members %-6d queued %-6d created %-6d failed %-4d", p.job.c_str(),
               p.pages, p.members, p.queued, p.created, p.failed);
  std::fflush(stderr);
}

}  // namespace

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("rostersync");
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
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
    asio::io_context ioc;
    sync::Engine engine(ioc.get_executor(), cfg, session.db);
    if (show_progress) engine.on_progress(print_progress);
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](auto ec, int signo) {
      if (ec) return;
      spdlog::warn("signal {} received: finishing in-flight requests, then stopping", signo);
      engine.request_stop();
    });
    bool all_ok = true;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          for (const auto* job : jobs) {
            if (engine.stop_requested()) break;
            sync::JobReport report = co_await engine.run_job(*job);
            if (show_progress) std::fprintf(stderr, "\r\033[K");
            all_ok = all_ok && report.outcome == store::RunOutcome::ok;
          }
          all_ok = all_ok && !engine.stop_requested();
          signals.cancel();
        },
        asio::detached);
    ioc.run();
    return all_ok ? kExitOk : kExitJobFailed;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kExitRuntime;
  }
}

namespace {

// What a reload changed, for the log: jobs added, removed and changed.
std::string describe_changes(const config::Config& before, const config::Config& after) {
  auto same = [](const config::Job& a, const config::Job& b) {
    bool roles_same = a.role_map.size() == b.role_map.size() &&
                      std::equal(a.role_map.begin(), a.role_map.end(), b.role_map.begin(), [](const auto& x, const auto& y) {
                        return x.lti == y.lti && x.role_type == y.role_type;
                      });
    return a.source == b.source && a.target == b.target && a.service_key.reveal() == b.service_key.reveal() &&
           a.auth == b.auth && a.role_filter == b.role_filter && a.resource_link_id == b.resource_link_id &&
           a.page_limit == b.page_limit && a.max_pages == b.max_pages && a.max_members == b.max_members &&
           a.hierarchy_id == b.hierarchy_id && a.person_key == b.person_key &&
           a.person_key_prefix == b.person_key_prefix && roles_same && a.skip_test_users == b.skip_test_users &&
           a.interval == b.interval && a.jitter == b.jitter;
  };
  std::string added, removed, changed;
  for (const auto& j : after.jobs) {
    const config::Job* old = before.find_job(j.name);
    if (!old) added += " " + j.name;
    else if (!same(*old, j)) changed += " " + j.name;
  }
  for (const auto& j : before.jobs) {
    if (!after.find_job(j.name)) removed += " " + j.name;
  }
  std::string out;
  if (!added.empty()) out += "added:" + added + "; ";
  if (!removed.empty()) out += "removed:" + removed + "; ";
  if (!changed.empty()) out += "changed:" + changed + "; ";
  return out.empty() ? "no job changed (sources, targets or log level may have)" : out.substr(0, out.size() - 2);
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
    bool stopping = false, reload_requested = false, resync_requested = false;

    asio::signal_set stop_signals(ioc, SIGINT, SIGTERM);
    stop_signals.async_wait([&](auto ec, int signo) {
      if (ec) return;
      spdlog::info("signal {} received: stopping after in-flight requests", signo);
      notify.stopping();
      stopping = true;
      engine->request_stop();
      wake.cancel();
    });
    // SIGHUP: reload the configuration between runs. SIGUSR1: run every job now.
    // Requests are remembered and served when the job in progress ends.
    asio::signal_set control(ioc, SIGHUP, SIGUSR1);
    std::function<void(boost::system::error_code, int)> on_control = [&](boost::system::error_code ec, int signo) {
      if (ec) return;
      (signo == SIGHUP ? reload_requested : resync_requested) = true;
      spdlog::info("{} received: {}", signo == SIGHUP ? "SIGHUP" : "SIGUSR1",
                   signo == SIGHUP ? "reloading the configuration" : "syncing every job now");
      wake.cancel();
      control.async_wait(on_control);
    };
    control.async_wait(on_control);

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
          asio::detached);
    }

    std::mt19937_64 rng(std::random_device{}());
    std::string last_summary = "no run yet";
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          std::map<std::string, Clock::time_point> due;
          for (const auto& j : cfg->jobs) {
            due[j.name] = Clock::now();  // a first pass right away
            session.db.set_next_run(j.name, 0);
          }
          spdlog::info("rostersync running {} job(s) from {}", cfg->jobs.size(), cfg->path);
          notify.ready();
          while (!stopping) {
            if (reload_requested) {
              reload_requested = false;
              notify.reloading();
              try {
                auto fresh = std::make_unique<config::Config>(config::load_file(config_path));
                if (fresh->state_db != cfg->state_db) {
                  spdlog::warn("reload: state_db changed to {}; it takes effect only after a restart", fresh->state_db);
                  fresh->state_db = cfg->state_db;
                }
                spdlog::info("reload: configuration {} applied: {}", config_path, describe_changes(*cfg, *fresh));
                spdlog::set_level(spdlog::level::from_str(fresh->log_level));
                std::map<std::string, Clock::time_point> kept;
                for (const auto& j : fresh->jobs) kept[j.name] = Clock::now();
                due = std::move(kept);
                engine = std::make_unique<sync::Engine>(ioc.get_executor(), *fresh, session.db);
                cfg = std::move(fresh);
              } catch (const config::ConfigError& e) {
                spdlog::error("reload: keeping the running configuration; {}", e.what());
              }
              resync_requested = true;
              notify.ready();
            }
            if (resync_requested) {
              resync_requested = false;
              for (auto& [name, when] : due) when = Clock::now();
            }
            const config::Job* next = nullptr;
            for (const auto& j : cfg->jobs) {
              if (!next || due[j.name] < due[next->name]) next = &j;
            }
            auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(due[next->name] - Clock::now());
            if (wait.count() > 0) {
              notify.status("idle; next sync " + next->name + " at " + wall_clock_in(wait) + "; last run " + last_summary);
            }
            wake.expires_at(due[next->name]);
            co_await wake.async_wait(nothrow);
            if (stopping) break;
            if (Clock::now() < due[next->name] || reload_requested || resync_requested) continue;
            notify.status("syncing " + next->name);
            sync::JobReport report = co_await engine->run_job(*next);
            last_summary = next->name + " " + store::to_string(report.outcome) + ": " +
                           std::to_string(report.stats.created) + " created, " + std::to_string(report.stats.failed) +
                           " failed, " + std::to_string(report.stats.pending) + " pending";
            auto jitter_ms = next->jitter.count() > 0
                                 ? std::uniform_int_distribution<long long>(0, next->jitter.count())(rng) : 0;
            auto delay = next->interval + std::chrono::milliseconds(jitter_ms);
            due[next->name] = Clock::now() + delay;
            session.db.set_next_run(next->name, std::chrono::duration_cast<std::chrono::seconds>(delay).count());
            spdlog::info("job {}: next run in {}s", next->name, std::chrono::duration_cast<std::chrono::seconds>(delay).count());
          }
          stop_signals.cancel();
          control.cancel();
          watchdog.cancel();
          spdlog::info("rostersync stopped");
        },
        asio::detached);
    ioc.run();
    return kExitOk;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kExitRuntime;
  }
}

}  // namespace rostersync::daemon
