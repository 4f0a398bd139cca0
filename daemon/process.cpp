#include "daemon/process.hpp"

#include <boost/asio/co_spawn.hpp>

#include <spdlog/spdlog.h>

#include <signal.h>

namespace rostersync::daemon {

namespace {

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int signo : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&set, signo);
  return set;
}

}  // namespace

void hold_back_signals() {
  sigset_t set = handled_signals();
  sigprocmask(SIG_BLOCK, &set, nullptr);
}

void release_signals() {
  sigset_t set = handled_signals();
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
}

WriterSession::WriterSession(const std::string& path, std::chrono::milliseconds busy_timeout)
    : lock(path), db(path, busy_timeout) {
  if (int n = db.close_abandoned_runs()) spdlog::warn("marked {} run(s) left running by an earlier process as interrupted", n);
}

void begin_shutdown(int signo, sync::Engine& engine, boost::asio::steady_timer& grace_timer, config::Millis grace) {
  spdlog::info("signal {} received: stopping; requests in flight get {} ms to finish", signo, grace.count());
  engine.request_stop();
  grace_timer.expires_after(grace);
  grace_timer.async_wait([&engine](boost::system::error_code ec) {
    if (ec) return;
    spdlog::warn("shutdown grace period over: cutting off requests still in flight");
    engine.abort_in_flight();
  });
}

std::function<void(std::exception_ptr)> stop_on_exception(boost::asio::io_context& ioc, const char* what, bool& failed) {
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

std::vector<sync::Scheduler::JobTiming> job_timings(const config::Config& cfg,
                                                    const std::map<std::string, store::Store::PlannedRun>& planned) {
  std::vector<sync::Scheduler::JobTiming> out;
  out.reserve(cfg.jobs.size());
  for (const auto& j : cfg.jobs) {
    sync::Scheduler::JobTiming t{j.name, j.source, j.interval, j.jitter, std::nullopt, false};
    if (auto it = planned.find(j.name); it != planned.end()) {
      t.planned_in = it->second.planned_in;
      t.has_run = it->second.has_run;
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::map<std::string, int> walk_limits(const config::Config& cfg) {
  std::map<std::string, int> out;
  for (const auto& [name, source] : cfg.sources) out[name] = source.max_concurrent_walks;
  return out;
}

void spawn_job(boost::asio::io_context& ioc, sync::Engine& engine, config::Job job, std::function<void()> walk_done,
               std::function<void(const sync::JobReport&)> done, bool& crashed) {
  boost::asio::co_spawn(
      ioc,
      [&engine, job = std::move(job), walk_done = std::move(walk_done),
       done = std::move(done)]() mutable -> boost::asio::awaitable<void> {
        sync::JobReport report = co_await engine.run_job(std::move(job), std::move(walk_done));
        done(report);
      },
      stop_on_exception(ioc, "a job run", crashed));
}

}  // namespace rostersync::daemon
