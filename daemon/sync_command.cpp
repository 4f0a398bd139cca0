// `rostersync sync [--job NAME]`: one pass over the jobs, one after another.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>

#include "daemon/commands.hpp"
#include "daemon/process.hpp"
#include "sync/io/engine.hpp"

namespace rostersync::daemon {
namespace asio = boost::asio;

namespace {

void print_progress(const sync::Progress& p) {
  std::fprintf(stderr, "\r\033[K  %-16s page %-4d members %-6d queued %-6d created %-6d failed %-4d", p.job.c_str(),
               p.pages, p.members, p.queued, p.created, p.failed);
  std::fflush(stderr);
}


}  // namespace

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
          // The exit code is the runs': 0 only when every job ran and ended
          // ok. A stop leaves the jobs not started yet unrun (exit 1).
          std::size_t ran = 0;
          for (const auto* job : jobs) {
            if (engine.stop_requested()) break;
            sync::JobReport report = co_await engine.run_job(*job);
            ++ran;
            if (show_progress) std::fprintf(stderr, "\r\033[K");
            all_ok = all_ok && report.outcome == RunOutcome::ok;
          }
          if (ran < jobs.size()) {
            spdlog::warn("stopped: {} of {} job(s) not run", jobs.size() - ran, jobs.size());
            all_ok = false;
          }
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


}  // namespace rostersync::daemon
