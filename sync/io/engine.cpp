// The engine's front: what a run needs across runs (the links to sources and
// targets, the budgets, the token cache, the jobs index, stop handling), the
// decision whether a job runs at all, and the deletions `forget` sends. The
// run itself is in job_run.cpp; see engine.hpp for the whole.
#include "sync/io/engine.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <optional>
#include <utility>

#include "domain/text.hpp"
#include "sync/io/batch_sender.hpp"
#include "sync/io/engine_impl.hpp"
#include "sync/io/job_run.hpp"
#include "sync/io/log_fields.hpp"
#include "sync/policy/run_outcome.hpp"
#include "store/attempt.hpp"
#include "store/store.hpp"

namespace rostersync::sync {
namespace io {

Hold make_hold(HoldScope scope, const std::string& name, HoldKind kind, const std::string& reason) {
  Hold h;
  h.scope = scope;
  h.name = name;
  h.kind = kind;
  h.reason = clip_for_message(reason, 1000);
  return h;
}

std::chrono::seconds whole_seconds(Millis m) {
  return std::max(std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(m));
}

}  // namespace io

using io::BatchSender;
using io::Clock;
using io::RunState;

Engine::Impl::Impl(asio::any_io_executor ex, const config::Config& cfg, store::Store& st, EngineOptions options)
    : executor(ex), config(cfg), store(st), dry_run(options.dry_run) {
  for (const auto& [name, s] : cfg.sources) {
    SourceLink& link = sources[name];
    link.config = &s;
    link.http = std::make_unique<HttpClient>(ex, s.http);
    link.fetched = std::make_unique<io::AsyncSignal>(ex);
    link.observer = options.on_request;
    if (s.kind == config::SourceKind::lti_platform) {
      Result<SigningKey> key = SigningKey::from_pem(s.private_key.reveal(), "sources." + name + ".private_key_file (" +
                                                                                s.private_key.file() + ")");
      if (key) link.key = std::move(*key);
      else link.key_error = key.failure().describe();
    }
  }
  index_jobs(cfg);
  for (const auto& [name, t] : cfg.targets) {
    targets[name] = {&t, std::make_unique<HttpClient>(ex, t.http), options.on_request,
                     std::make_unique<io::OperationBudget>(ex, t.in_flight_budget), std::make_unique<Breaker>(t.breaker)};
  }
}

void Engine::Impl::index_jobs(const config::Config& cfg) {
  jobs_by_name.clear();
  jobs_by_group.clear();
  for (const config::Job& j : cfg.jobs) {
    jobs_by_name.emplace(j.name, &j);
    if (!config::is_hierarchy_template(j.hierarchy_id)) jobs_by_group[{j.target, j.hierarchy_id}].push_back(&j);
  }
}

void Engine::Impl::record_unrecorded_runs() {
  while (!unrecorded_runs.empty()) {
    const UnrecordedRun& r = unrecorded_runs.back();
    Result<Done> recorded = store::attempt([&] { store.finish_run(r.run_id, r.stats, RunOutcome::failed, r.error); });
    if (!recorded) {  // the store still fails: the next run tries again
      spdlog::warn("{} run end(s) still not recorded: {}", unrecorded_runs.size(), recorded.failure().describe());
      return;
    }
    spdlog::info("run {}: its end is recorded now (failed: {})", r.run_id, r.error);
    unrecorded_runs.pop_back();
  }
}

asio::awaitable<void> Engine::Impl::sleep(std::chrono::milliseconds delay) {
  if (stopping) co_return;
  asio::steady_timer timer(executor, delay);
  sleepers.insert(&timer);
  co_await timer.async_wait(io::nothrow);
  sleepers.erase(&timer);
}

void Engine::Impl::request_stop() {
  stopping = true;
  for (auto* timer : sleepers) timer->cancel();
}

void Engine::Impl::abort_in_flight() {
  request_stop();
  for (auto& [name, link] : sources) link.http->abort_all();
  for (auto& [name, link] : targets) link.http->abort_all();
}

// `job` is a copy: a reload may replace the configuration during the run,
// and a hierarchy_id template is filled in here from the first page.
asio::awaitable<JobReport> Engine::Impl::run_job(config::Job job, std::function<void()> on_walk_end) {
  // Whatever way this returns, the walk is over by then.
  struct WalkEnd {
    std::function<void()>& notify;
    void operator()() const {
      if (notify) std::exchange(notify, nullptr)();
    }
    ~WalkEnd() { (*this)(); }
  } walk_end{on_walk_end};
  const auto started = Clock::now();
  JobReport report;
  report.job = job.name;
  std::shared_ptr<spdlog::logger> log = spdlog::default_logger()->clone(run_logger_name(job.name, 0));

  // A hold (configuration error, open breaker) means no run before its time.
  // The database may fail here (locked by another process for longer than the
  // busy timeout, disk full): that ends this run as failed, visibly, and the
  // caller schedules the next one.
  const config::Target& target = *targets.at(job.target).config;
  Result<RunStart> start = store::attempt([&] {
    std::optional<Hold> job_hold = store.find_hold(HoldScope::job, job.name);
    std::optional<Hold> target_hold = store.find_hold(HoldScope::target, target.name);
    std::optional<Hold> source_hold = store.find_hold(HoldScope::source, job.source);
    RunStart decided = decide_start(job_hold, target_hold, source_hold);
    if (decided.run) {
      report.run_id = store.begin_run(job.name, config::is_hierarchy_template(job.hierarchy_id) ? "" : job.hierarchy_id);
    }
    return decided;
  });
  if (start) record_unrecorded_runs();
  if (!start) {
    report.outcome = RunOutcome::failed;
    report.error = "cannot start a run: " + start.failure().describe();
    report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    log->error("job {}: {}", job.name, report.error);
    if (start.failure().kind == FailureKind::store_busy) {
      report.retry_in = target.retry.max_retry_delay;  // another process held the database: soon again
      log->warn("job {}: the state database was busy (another process held it) or its disk full; the run is "
                "retried in {} s", job.name, std::chrono::duration_cast<std::chrono::seconds>(*report.retry_in).count());
    }
    co_return report;
  }
  if (!start->run) {
    report.held = true;
    report.error = start->held_because;
    report.retry_in = start->retry_in;
    log->warn("job {}: not run, {} (next try in {} s)", job.name, report.error,
              std::chrono::duration_cast<std::chrono::seconds>(start->retry_in).count());
    co_return report;
  }

  log = spdlog::default_logger()->clone(run_logger_name(job.name, report.run_id));
  if (start->probing) {
    log->info("job {}: circuit breaker for target {} half-open: one probe batch first", job.name, target.name);
  }
  log->debug("job {}: run {} started", job.name, report.run_id);
  co_await io::perform_run(*this, job, report, log, start->probing, [&] { walk_end(); }, started);
  co_return report;
}

Engine::Engine(asio::any_io_executor executor, const config::Config& config, store::Store& store,
               EngineOptions options)
    : impl_(std::make_unique<Impl>(std::move(executor), config, store, options)) {}

Engine::~Engine() = default;

asio::awaitable<JobReport> Engine::remove_memberships(std::string job_name, std::string target_name,
                                                      std::vector<PlannedWrite> removals) {
  Impl& impl = *impl_;
  JobReport report;
  report.job = job_name;
  auto started = Clock::now();
  config::Job job;
  job.name = job_name;
  job.target = target_name;
  io::TargetLink& target = impl.targets.at(target_name);
  auto log = spdlog::default_logger()->clone(run_logger_name(job_name, 0));
  RunState run(job, target, impl.store, impl, 0, log);
  run.progress.job = job_name;
  Result<std::optional<Hold>> held = store::attempt([&]() -> std::optional<Hold> {
    std::optional<Hold> hold = impl.store.find_hold(HoldScope::target, target_name);
    if (hold && hold->active()) return hold;
    impl.store.queue_removals(target_name, 0, removals);
    return std::nullopt;
  });
  if (held && *held) {
    report.held = true;
    report.error = describe(**held);
    co_return report;
  }
  if (held) {
    run.stats.deletes_planned = static_cast<int>(removals.size());
    BatchSender sender(impl.executor, run);
    for (auto& w : removals) sender.enqueue(std::move(w));
    co_await sender.finish();
  } else {
    run.stop_target(held.failure().describe());
  }
  run.stats.pending = run.stats.deletes_planned - run.stats.deleted - run.stats.failed;
  report.stats = run.stats;
  report.error = run.target_error;
  report.outcome = run.stats.pending == 0 && run.stats.failed == 0 && report.error.empty() ? RunOutcome::ok
                                                                                          : RunOutcome::partial;
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  co_return report;
}

asio::awaitable<JobReport> Engine::run_job(config::Job job, std::function<void()> on_walk_end) {
  co_return co_await impl_->run_job(std::move(job), std::move(on_walk_end));
}

void Engine::on_progress(std::function<void(const Progress&)> callback) { impl_->progress = std::move(callback); }

void Engine::request_stop() { impl_->request_stop(); }

void Engine::use_jobs(std::shared_ptr<const config::Config> config) {
  impl_->index_jobs(*config);
  impl_->jobs_config = std::move(config);
}

std::map<std::string, int> Engine::in_flight() const {
  std::map<std::string, int> out;
  for (const auto& [name, link] : impl_->targets) out[name] = link.budget->in_use();
  return out;
}

void Engine::abort_in_flight() { impl_->abort_in_flight(); }

bool Engine::stop_requested() const { return impl_->stopping; }

}  // namespace rostersync::sync
