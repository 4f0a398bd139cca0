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
#include <random>

#include "store/store.hpp"
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

int run_daemon(const config::Config& cfg) {
  try {
    WriterSession session(cfg.state_db);
    asio::io_context ioc;
    sync::Engine engine(ioc.get_executor(), cfg, session.db);
    asio::steady_timer wake(ioc);
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    bool stopping = false;
    signals.async_wait([&](auto ec, int signo) {
      if (ec) return;
      spdlog::info("signal {} received: stopping after in-flight requests", signo);
      stopping = true;
      engine.request_stop();
      wake.cancel();
    });
    std::mt19937_64 rng(std::random_device{}());
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          std::map<std::string, Clock::time_point> due;
          for (const auto& j : cfg.jobs) {
            due[j.name] = Clock::now();  // a first pass right away
            session.db.set_next_run(j.name, 0);
          }
          spdlog::info("rostersync running {} job(s) from {}", cfg.jobs.size(), cfg.path);
          while (!stopping) {
            const config::Job* next = nullptr;
            for (const auto& j : cfg.jobs) {
              if (!next || due[j.name] < due[next->name]) next = &j;
            }
            wake.expires_at(due[next->name]);
            co_await wake.async_wait(nothrow);
            if (stopping) break;
            if (Clock::now() < due[next->name]) continue;
            co_await engine.run_job(*next);
            auto jitter_ms = next->jitter.count() > 0
                                 ? std::uniform_int_distribution<long long>(0, next->jitter.count())(rng) : 0;
            auto delay = next->interval + std::chrono::milliseconds(jitter_ms);
            due[next->name] = Clock::now() + delay;
            session.db.set_next_run(next->name, std::chrono::duration_cast<std::chrono::seconds>(delay).count());
            spdlog::info("job {}: next run in {}s", next->name, std::chrono::duration_cast<std::chrono::seconds>(delay).count());
          }
          signals.cancel();
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
