// `rostersync sync [--job NAME]`: one pass over the jobs, several at once
// (max_concurrent_walks per source, the targets' budgets shared), with the
// pass's progress on a terminal.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>

#include "daemon/commands.hpp"
#include "daemon/plan_report.hpp"
#include "daemon/process.hpp"
#include "daemon/progress.hpp"
#include "sync/io/engine.hpp"
#include "daemon/pass.hpp"
#include "sync/machines/scheduler.hpp"

namespace rostersync::daemon {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A scratch copy of the state database for a dry run, removed afterwards.
struct ScratchDatabase {
  explicit ScratchDatabase(const std::string& live) {
    std::string dir_template = (std::filesystem::temp_directory_path() / "rostersync-plan-XXXXXX").string();
    if (!mkdtemp(dir_template.data())) throw std::runtime_error("cannot create a scratch directory for the plan");
    dir = dir_template;
    path = (std::filesystem::path(dir) / "state.db").string();
    if (std::filesystem::exists(live)) store::copy_database(live, path);
  }
  ~ScratchDatabase() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string dir, path;
};

}  // namespace

int sync_once(const config::Config& cfg, const std::optional<std::string>& job_name, bool show_progress,
              PlanOutput plan_output) {
  config::Config selected = cfg;
  if (job_name) {
    std::erase_if(selected.jobs, [&](const config::Job& j) { return j.name != *job_name; });
    if (selected.jobs.empty()) {
      std::cerr << "rostersync: no job named '" << *job_name << "' in " << cfg.path << "\n";
      return kExitConfig;
    }
  }
  for (const auto& e : cfg.registry_errors) spdlog::warn("registry: {}", e);
  try {
    // A dry run works on a scratch copy: the real database stays as it is,
    // and a running daemon keeps writing it meanwhile.
    std::optional<ScratchDatabase> scratch;
    std::optional<WriterSession> session;
    std::optional<store::Store> scratch_db;
    if (plan_output.dry_run) {
      scratch.emplace(cfg.state_db);
      scratch_db.emplace(scratch->path);
      scratch_db->close_abandoned_runs();
    } else {
      session.emplace(cfg.state_db);
    }
    store::Store& db = plan_output.dry_run ? *scratch_db : session->db;
    // An operator asking for a sync wants a try now: lift the holds in its way.
    for (const auto& job : selected.jobs) {
      for (const auto& [scope, name] : {std::pair<HoldScope, std::string>{HoldScope::job, job.name},
                                        {HoldScope::source, job.source}, {HoldScope::target, job.target}}) {
        if (auto hold = db.find_hold(scope, name)) {
          spdlog::info("lifting the hold on {} {} for this {} (was: {})", to_string(scope), name,
                       plan_output.dry_run ? "plan" : "sync", hold->reason);
          db.clear_hold(scope, name);
        }
      }
    }
    EventLoop ioc;
    sync::Engine engine(ioc.get_executor(), cfg, db, sync::EngineOptions{plan_output.dry_run});
    std::vector<sync::JobReport> reports;
    sync::Scheduler scheduler(walk_limits(cfg), sync::Scheduler::Mode::once);
    PassTracker pass;
    // The terminal's status line: at most five redraws a second, however
    // many pages and batches a second go by.
    std::optional<sync::Progress> current;
    Clock::time_point last_drawn{};
    auto redraw = [&](bool now) {
      if (!show_progress || (!now && Clock::now() - last_drawn < std::chrono::milliseconds(200))) return;
      last_drawn = Clock::now();
      set_status_line(progress_line(pass.progress(), current, unix_now()));
    };
    if (show_progress) {
      engine.on_progress([&](const sync::Progress& p) {
        current = p;
        redraw(false);
      });
    }
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    release_signals();  // held back since main(): a stop that came meanwhile is delivered now
    asio::steady_timer grace(ioc);
    asio::steady_timer wake(ioc);
    signals.async_wait([&](auto ec, int signo) {
      if (ec) return;
      begin_shutdown(signo, engine, grace, cfg.shutdown_grace);
      wake.cancel();
    });
    bool all_ok = true, crashed = false;
    std::size_t ran = 0;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          // The exit code is the runs': 0 only when every job ran and ended
          // ok. A stop leaves the jobs not started yet unrun (exit 1).
          scheduler.start(job_timings(selected), Clock::now(), [] { return 0.0; });
          while (!engine.stop_requested() && (scheduler.job_count() > 0 || scheduler.running_count() > 0)) {
            sync::Scheduler::Decision d = scheduler.next(Clock::now());
            if (d.kind == sync::Scheduler::Decision::Kind::run) {
              const config::Job* job = selected.find_job(d.job);
              pass.job_started(scheduler.running_count(),
                               pass.progress().active ? 0 : scheduler.waiting_count(Clock::now()), unix_now());
              std::string name = job->name;
              spawn_job(ioc, engine, *job, [&scheduler, &wake, name] {
                scheduler.walk_finished(name);
                wake.cancel();
              }, [&](const sync::JobReport& report) {
                ++ran;
                if (!db.unusable().empty()) {  // corrupt, or the disk fails: stop, exit 3
                  spdlog::critical("state database unusable: {}; stopping (exit 3)", db.unusable());
                  crashed = true;
                  ioc.stop();
                  return;
                }
                if (plan_output.dry_run) reports.push_back(report);
                scheduler.finished(report.job, Clock::now(), 0.0, std::nullopt);
                pass.job_finished(report.stats, report.outcome == RunOutcome::ok && !report.held,
                                  scheduler.running_count(),
                                  scheduler.running_count() == 0 ? scheduler.waiting_count(Clock::now()) : 0, unix_now());
                all_ok = all_ok && report.outcome == RunOutcome::ok && !report.held;
                if (current && current->job == report.job) current.reset();
                redraw(true);
                wake.cancel();
              }, crashed);
              continue;
            }
            wake.expires_at(Clock::time_point::max());
            co_await wake.async_wait(nothrow);
          }
          while (scheduler.running_count() > 0) {  // stopping: the running jobs end as interrupted
            wake.expires_at(Clock::time_point::max());
            co_await wake.async_wait(nothrow);
          }
          if (show_progress) clear_status_line();
          if (ran < selected.jobs.size()) {
            spdlog::warn("stopped: {} of {} job(s) not run", selected.jobs.size() - ran, selected.jobs.size());
            all_ok = false;
          }
          if (selected.jobs.size() > 1) spdlog::info("{}", describe(pass.progress()));
          signals.cancel();
          grace.cancel();
        },
        stop_on_exception(ioc, "the sync", crashed));
    PendingDestroyedFirst pending_destroyed_first{ioc};  // see EventLoop
    ioc.run();
    if (crashed) return kExitRuntime;
    if (plan_output.dry_run) {
      std::sort(reports.begin(), reports.end(), [](const auto& a, const auto& b) { return a.job < b.job; });
      print_plan(std::cout, reports, plan_output.json);
    }
    return all_ok ? kExitOk : kExitJobFailed;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kExitRuntime;
  }
}

int forget_deleting_memberships(const config::Config& cfg, const std::string& job, std::optional<int> confirm) {
  if (refuse_configured_job(cfg, job)) return kExitConfig;
  try {
    WriterSession session(cfg.state_db);
    std::map<std::string, std::vector<PlannedWrite>> owned = session.db.owned_memberships(job);
    // Irreversible: the person sees every deletion and confirms the exact count.
    int total = 0;
    for (const auto& [target, writes] : owned) total += static_cast<int>(writes.size());
    if (!confirm || *confirm != total) {
      std::cout << "job " << job << ": " << total
                << " membership(s) rostersync created would be deleted in itslearning (those another job of "
                   "the group still lists are kept):\n";
      for (const auto& [target, writes] : owned) {
        for (const auto& w : writes) std::cout << "  delete  " << target << "  " << w.person_key << "  [" << w.membership_id << "]\n";
      }
      if (confirm) std::cout << "--confirm " << *confirm << " does not match the " << total << " shown; ";
      std::cout << "nothing was deleted; to delete exactly these: rostersync forget --job " << job
                << " --delete-memberships --confirm " << total << "\n";
      return kExitJobFailed;
    }
    for (const auto& [target, writes] : owned) {
      if (!cfg.targets.count(target)) {
        std::cerr << "rostersync: job " << job << " has " << writes.size() << " membership(s) in target " << target
                  << ", which is no longer configured; configure it again to delete them\n";
        return kExitConfig;
      }
    }
    EventLoop ioc;
    sync::Engine engine(ioc.get_executor(), cfg, session.db);
    bool all_deleted = true, crashed = false;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> {
          for (auto& [target, writes] : owned) {
            std::size_t n = writes.size();
            sync::JobReport r = co_await engine.remove_memberships(job, target, std::move(writes));
            std::cout << "target " << target << ": " << r.stats.deleted << " of " << n << " membership(s) deleted";
            if (r.stats.failed + r.stats.pending > 0 || !r.error.empty() || r.held) {
              all_deleted = false;
              std::cout << ", " << r.stats.failed << " refused, " << r.stats.pending << " unanswered"
                        << (r.error.empty() ? "" : ": " + r.error);
            }
            std::cout << "\n";
          }
        },
        stop_on_exception(ioc, "forget", crashed));
    PendingDestroyedFirst pending_destroyed_first{ioc};  // see EventLoop
    ioc.run();
    if (crashed) return kExitRuntime;
    if (!all_deleted) {
      std::cout << "job " << job << " is not forgotten: run the same command again (`rostersync failures --job " << job
                << "` shows what is left)\n";
      return kExitJobFailed;
    }
    int runs = session.db.forget_job(job);
    std::cout << "forgot job " << job << ": " << runs << " run record(s), its roster snapshot and schedule\n";
    return kExitOk;
  } catch (const std::exception& e) {
    std::cerr << "rostersync: " << e.what() << "\n";
    return kExitRuntime;
  }
}

}  // namespace rostersync::daemon
