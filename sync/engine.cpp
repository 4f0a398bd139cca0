#include "sync/engine.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>

#include "sync/http_client.hpp"
#include "sync/log_fields.hpp"
#include "sync/nrps.hpp"
#include "sync/pager.hpp"
#include "sync/planner.hpp"
#include "sync/redact.hpp"
#include "sync/retry_policy.hpp"
#include "sync/soap.hpp"

namespace rostersync::sync {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Wakes every coroutine waiting on it. Waiters re-check their condition in a
// loop; the timer never expires by itself, only cancel() wakes it.
class AsyncSignal {
 public:
  explicit AsyncSignal(asio::any_io_executor ex) : timer_(ex, asio::steady_timer::time_point::max()) {}
  asio::awaitable<void> wait() { co_await timer_.async_wait(nothrow); }
  void notify_all() { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};

// In-flight operations towards one target, shared by all jobs writing to it.
class OperationBudget {
 public:
  OperationBudget(asio::any_io_executor ex, int capacity) : capacity_(capacity), changed_(ex) {}
  asio::awaitable<void> acquire(int n) {
    while (in_use_ + n > capacity_) co_await changed_.wait();
    in_use_ += n;
  }
  void release(int n) {
    in_use_ -= n;
    changed_.notify_all();
  }

 private:
  int capacity_;
  int in_use_ = 0;
  AsyncSignal changed_;
};

struct SourceLink {
  const config::Source* config;
  std::unique_ptr<HttpClient> http;
};

struct TargetLink {
  const config::Target* config;
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<OperationBudget> budget;
  std::unique_ptr<Breaker> breaker;  // across runs of every job writing to this target
};

std::string auth_header(const config::Source& source, const config::Job& job) {
  const char* scheme = job.auth == config::AuthScheme::ltik ? "LTIK-AUTH-V2 " : "SERVICE-AUTH-V1 ";
  return scheme + source.api_key.reveal() + ":" + job.service_key.reveal();
}

// Built outside the coroutines: GCC 12 miscompiles braced lists of string
// literals inside a coroutine body ("array used as initializer").
HttpRequest roster_request(const std::string& url, const std::string& authorization) {
  HttpRequest r;
  r.url = url;
  r.headers = {{"Authorization", authorization}, {"Accept", "application/json"}};
  return r;
}

HttpRequest soap_request(const std::string& endpoint, std::string body) {
  HttpRequest r;
  r.method = "POST";
  r.url = endpoint;
  r.headers = {{"Content-Type", "text/xml; charset=utf-8"},
               {"SOAPAction", "\"" + std::string(soap::kCreateMembershipsAction) + "\""}};
  r.body = std::move(body);
  return r;
}

store::Hold make_hold(const char* scope, const std::string& name, const char* kind, const std::string& reason) {
  store::Hold h;
  h.scope = scope;
  h.name = name;
  h.kind = kind;
  h.reason = clip_for_message(reason, 1000);
  return h;
}

std::chrono::seconds whole_seconds(Millis m) {
  return std::max(std::chrono::seconds(1), std::chrono::duration_cast<std::chrono::seconds>(m));
}

std::string describe_hold(const store::Hold& h) {
  std::string what = h.kind == "breaker" ? "circuit breaker open for " : "blocked: ";
  return what + h.scope + " " + h.name + ": " + h.reason;
}

// The job's own hold or its target's, if one is still in force.
std::optional<store::Hold> active_hold(store::Store& store, const std::string& job,
                                       const std::optional<store::Hold>& target_hold) {
  std::optional<store::Hold> job_hold = store.find_hold("job", job);
  if (job_hold && job_hold->active()) return job_hold;
  if (target_hold && target_hold->active()) return target_hold;
  return std::nullopt;
}

// The outcome of fetching one roster page, with retries.
struct PageFetch {
  std::optional<RosterPage> page;
  std::string error;               // when !page
  bool configuration_error = false;  // resending cannot help: block the job
};

}  // namespace

struct Engine::Impl {
  asio::any_io_executor executor;
  const config::Config& config;
  store::Store& store;
  std::map<std::string, SourceLink> sources;
  std::map<std::string, TargetLink> targets;
  std::function<void(const Progress&)> progress;
  bool stopping = false;
  std::set<asio::steady_timer*> sleepers;  // retry back-offs, cut short by request_stop()
  std::mt19937_64 rng{std::random_device{}()};

  Impl(asio::any_io_executor ex, const config::Config& cfg, store::Store& st) : executor(ex), config(cfg), store(st) {
    for (const auto& [name, s] : cfg.sources) sources[name] = {&s, std::make_unique<HttpClient>(ex, s.http)};
    for (const auto& [name, t] : cfg.targets) {
      targets[name] = {&t, std::make_unique<HttpClient>(ex, t.http), std::make_unique<OperationBudget>(ex, t.in_flight_budget),
                       std::make_unique<Breaker>(t.breaker)};
    }
  }

  double draw() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }

  // Waits `delay`, or less if a stop is requested meanwhile.
  asio::awaitable<void> sleep(std::chrono::milliseconds delay) {
    if (stopping) co_return;
    asio::steady_timer timer(executor, delay);
    sleepers.insert(&timer);
    co_await timer.async_wait(nothrow);
    sleepers.erase(&timer);
  }

  void request_stop() {
    stopping = true;
    for (auto* timer : sleepers) timer->cancel();
  }

  void abort_in_flight() {
    request_stop();
    for (auto& [name, link] : sources) link.http->abort_all();
    for (auto& [name, link] : targets) link.http->abort_all();
  }

  asio::awaitable<PageFetch> fetch_page(SourceLink& source, const std::string& url, const std::string& authorization);
  asio::awaitable<JobReport> run_job(const config::Job& job);
};

namespace {

// State of one job run, shared by the walk and the batch senders.
struct RunState {
  RunState(const config::Job& j, TargetLink& t, store::Store& s, Engine::Impl& e, std::int64_t id)
      : job(j), target(t), store(s), engine(e), run_id(id) {}

  const config::Job& job;
  TargetLink& target;
  store::Store& store;
  Engine::Impl& engine;
  std::int64_t run_id;
  store::RunStats stats;
  Progress progress;
  std::string target_error;    // why sending stopped (hold, store failure)
  bool target_stopped = false;  // no more sends in this run
  bool probing = false;         // the breaker was open: one batch at a time until one succeeds
  std::optional<Millis> hold_set_for;  // a hold was set during this run, for this long

  void report() {
    progress.created = stats.created;
    progress.failed = stats.failed;
    if (engine.progress) engine.progress(progress);
  }

  void stop_target(std::string why) {
    if (target_stopped) return;
    target_stopped = true;
    target_error = std::move(why);
  }

  // Stops sending to the target for `duration` (every job that uses it).
  void hold_target(const char* kind, const std::string& reason, Millis duration) {
    store::Hold hold = make_hold("target", target.config->name, kind, reason);
    store.set_hold(hold, whole_seconds(duration));
    hold_set_for = duration;
    stop_target(describe_hold(hold) + " (next try in " + std::to_string(whole_seconds(duration).count()) + " s)");
  }
};

// Groups planned creates into batches and sends them, at most the target's
// budget of operations in flight (retries included: a retry keeps its budget).
class BatchSender {
 public:
  BatchSender(asio::any_io_executor ex, RunState& run)
      : ex_(ex), run_(run), changed_(ex),
        batch_size_(static_cast<std::size_t>(run.target.config->batch_size)),
        high_water_(static_cast<std::size_t>(2 * std::max(run.target.config->in_flight_budget, run.target.config->batch_size))) {}

  void enqueue(PlannedCreate create) {
    queue_.push_back(std::move(create));
    pump();
  }

  // Waits until few enough items are queued or in flight (bounds memory).
  asio::awaitable<void> wait_for_room() {
    while (!run_.target_stopped && queue_.size() + in_batches_ > high_water_) co_await changed_.wait();
  }

  // No more items will come: send the last partial batch and wait for all.
  asio::awaitable<void> finish() {
    closed_ = true;
    pump();
    while (active_ > 0) co_await changed_.wait();
  }

 private:
  void pump() {
    while (!run_.target_stopped && !queue_.empty() && (queue_.size() >= batch_size_ || closed_)) {
      if (run_.probing && active_ > 0) return;  // a probe goes alone
      std::vector<PlannedCreate> batch;
      while (batch.size() < batch_size_ && !queue_.empty()) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      ++active_;
      in_batches_ += batch.size();
      asio::co_spawn(ex_, send_batch(std::move(batch), ++sequence_), asio::detached);
    }
  }

  asio::awaitable<void> send_batch(std::vector<PlannedCreate> batch, int sequence) {
    const int n = static_cast<int>(batch.size());
    try {
      co_await run_.target.budget->acquire(n);
      co_await send_with_retries(batch, sequence);
    } catch (const std::exception& e) {  // StoreError: the database failed under us
      run_.stop_target(e.what());
    }
    run_.target.budget->release(n);
    --active_;
    in_batches_ -= batch.size();
    run_.report();
    pump();
    changed_.notify_all();
  }

  // After a batch: feed the breaker, close it after a good probe, trip it
  // (stopping every send to this target) after too many failures.
  void judge(int items, int failed, bool batch_failed) {
    const config::Target& target = *run_.target.config;
    bool good = !batch_failed && failed * 100 < target.breaker.failure_percent * items;
    if (run_.probing) {
      if (good) {
        run_.probing = false;
        run_.store.clear_hold("target", target.name);
        spdlog::info("job {}: probe batch to target {} succeeded; circuit breaker closed", run_.job.name, target.name);
        pump();
      } else {
        run_.hold_target("breaker", "the probe batch failed too", target.breaker.probe_interval);
        spdlog::warn("job {}: {}", run_.job.name, run_.target_error);
      }
      return;
    }
    Breaker& breaker = *run_.target.breaker;
    breaker.record(items, failed, batch_failed);
    if (breaker.tripped() && !run_.target_stopped) {
      std::string reason = breaker.reason();
      run_.target.breaker = std::make_unique<Breaker>(target.breaker);  // fresh window after the probe
      run_.hold_target("breaker", reason, target.breaker.probe_interval);
      spdlog::warn("job {}: {}", run_.job.name, run_.target_error);
    }
  }

  asio::awaitable<void> send_with_retries(const std::vector<PlannedCreate>& batch, int sequence) {
    const config::Target& target = *run_.target.config;
    const config::Job& job = run_.job;
    std::vector<soap::CreateItem> items;
    std::vector<std::string> ids;
    for (const auto& c : batch) {
      items.push_back({c.membership_id, job.hierarchy_id, c.person_key, c.role_type});
      ids.push_back(c.membership_id);
    }
    soap::Credentials credentials{target.username, target.password.reveal()};
    std::string last_error;
    std::optional<Millis> retry_after;
    bool gave_up_for_this_run = false;  // stopped on purpose, not for failing
    for (int attempt = 1; attempt <= target.retry.max_attempts; ++attempt) {
      if (run_.target_stopped || (attempt > 1 && run_.engine.stopping)) {
        gave_up_for_this_run = true;
        break;
      }
      if (attempt > 1) {
        std::optional<Millis> wait = retry_wait(target.retry, attempt, run_.engine.draw(), retry_after);
        if (!wait) {
          last_error += "; Retry-After is longer than max_retry_delay: left for the next run";
          break;
        }
        co_await run_.engine.sleep(*wait);
        if (run_.engine.stopping || run_.target_stopped) {
          gave_up_for_this_run = true;
          break;
        }
      }
      std::string message_id = job.name + "-" + std::to_string(run_.run_id) + "-" + std::to_string(sequence) + "-" +
                               std::to_string(attempt);
      run_.store.mark_attempt(target.name, ids);
      HttpRequest request = soap_request(target.endpoint, soap::build_create_memberships(credentials, message_id, items));
      auto started = Clock::now();
      Result<HttpResponse> response = co_await run_.target.http->send(std::move(request));
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
      retry_after.reset();
      if (!response) {
        last_error = response.failure().message;  // sent or not, resending the same ids is safe
        spdlog::debug("job {} batch {} ({} items) attempt {}: {}", job.name, message_id, items.size(), attempt, last_error);
        continue;
      }
      retry_after = parse_retry_after(response->retry_after, std::chrono::system_clock::now());
      soap::BatchOutcome outcome = soap::interpret_response(response->status, response->body, items.size());
      if (outcome.kind != soap::BatchOutcome::Kind::per_item) {
        last_error = "POST " + redact_url(target.endpoint) + ": " + outcome.error;
      }
      if (outcome.kind == soap::BatchOutcome::Kind::rejected) {
        run_.hold_target("blocked", last_error, target.retry.blocked_retry_interval);
        spdlog::error("job {}: {}", job.name, run_.target_error);
        gave_up_for_this_run = true;
        break;
      }
      if (outcome.kind != soap::BatchOutcome::Kind::per_item) {  // fault or unknown: the same ids go again
        spdlog::debug("job {} batch {} attempt {}: {}", job.name, message_id, attempt, last_error);
        continue;
      }
      std::vector<store::ItemResult> results;
      int created = 0, refused = 0;
      for (std::size_t i = 0; i < items.size(); ++i) {
        switch (outcome.items[i]) {
          case soap::ItemOutcome::created:
            results.push_back({ids[i], MembershipState::created, ""});
            ++created;
            break;
          case soap::ItemOutcome::failed:
            results.push_back({ids[i], MembershipState::failed, outcome.item_errors[i]});
            ++refused;
            break;
          case soap::ItemOutcome::unknown:
            results.push_back({ids[i], MembershipState::pending, outcome.item_errors[i]});
            break;
        }
      }
      int parked = run_.store.record_results(target.name, results, target.items);
      run_.stats.created += created;
      run_.stats.failed += refused;
      spdlog::debug("job {} batch {}: {} items, {} created, {} refused, {} unknown in {} ms", job.name, message_id,
                    items.size(), created, refused, static_cast<int>(items.size()) - created - refused, ms);
      if (parked > 0) {
        spdlog::warn("job {}: {} item(s) parked after {} refusals; `rostersync failures` lists them, `rostersync retry` "
                     "puts them back", job.name, parked, target.items.max_failures);
      }
      judge(static_cast<int>(items.size()), refused, false);
      co_return;
    }
    // No per-item answer: the items stay pending with the error stored, and
    // are resent with the same ids (next run, or after a hold).
    std::vector<store::ItemResult> results;
    for (const auto& id : ids) results.push_back({id, MembershipState::pending, last_error});
    run_.store.record_results(target.name, results, target.items);
    if (!gave_up_for_this_run) {
      spdlog::warn("job {}: batch of {} items left pending: {}", job.name, items.size(), last_error);
      judge(static_cast<int>(items.size()), static_cast<int>(items.size()), true);
    }
  }

  asio::any_io_executor ex_;
  RunState& run_;
  AsyncSignal changed_;
  std::size_t batch_size_;
  std::size_t high_water_;
  std::deque<PlannedCreate> queue_;
  std::size_t in_batches_ = 0;
  int active_ = 0;
  int sequence_ = 0;
  bool closed_ = false;
};

std::string page_error(int page_number, const std::string& url, const std::string& what) {
  return "roster walk failed at page " + std::to_string(page_number) + ": GET " + redact_url(url) + ": " + what;
}

}  // namespace

asio::awaitable<PageFetch> Engine::Impl::fetch_page(SourceLink& source, const std::string& url,
                                                    const std::string& authorization) {
  const config::RetrySettings& retry = source.config->retry;
  PageFetch out;
  std::optional<Millis> retry_after;
  for (int attempt = 1; attempt <= retry.max_attempts; ++attempt) {
    if (attempt > 1) {
      std::optional<Millis> wait = retry_wait(retry, attempt, draw(), retry_after);
      if (!wait) {
        out.error += " (Retry-After is longer than max_retry_delay)";
        break;
      }
      co_await sleep(*wait);
      if (stopping) break;
    }
    Result<HttpResponse> response = co_await source.http->send(roster_request(url, authorization));
    retry_after.reset();
    if (!response) {
      out.error = response.failure().message;
      if (response.failure().kind == FailureKind::limit || response.failure().kind == FailureKind::config) break;
      continue;
    }
    if (response->status != 200) {
      out.error = describe_error_body(response->status, response->body);
      if (classify_http_status(response->status) == FailureClass::configuration) {
        out.configuration_error = true;
        break;
      }
      retry_after = parse_retry_after(response->retry_after, std::chrono::system_clock::now());
      continue;
    }
    Result<RosterPage> page = parse_roster_page(response->body);
    if (!page) {  // truncated or garbled on the way: worth another try
      out.error = page.failure().message;
      continue;
    }
    out.page = std::move(page.value());
    out.error.clear();
    break;
  }
  co_return out;
}

asio::awaitable<JobReport> Engine::Impl::run_job(const config::Job& job) {
  auto started = Clock::now();
  SourceLink& source = sources.at(job.source);
  TargetLink& target = targets.at(job.target);
  JobReport report;
  report.job = job.name;

  // A hold (configuration error, open breaker) means no run before its time.
  // The database may fail here (locked by another process for longer than the
  // busy timeout, disk full): that ends this run as failed, visibly, and the
  // caller schedules the next one.
  std::optional<store::Hold> target_hold;
  std::optional<store::Hold> hold;
  try {
    target_hold = store.find_hold("target", target.config->name);
    hold = active_hold(store, job.name, target_hold);
    if (!hold) report.run_id = store.begin_run(job.name);
  } catch (const std::exception& e) {
    report.outcome = store::RunOutcome::failed;
    report.error = std::string("cannot start a run: ") + e.what();
    report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    spdlog::error("job {}: {}", job.name, report.error);
    co_return report;
  }
  if (hold) {
    report.held = true;
    report.error = describe_hold(*hold);
    report.retry_in = hold->remaining;
    spdlog::warn("job {}: not run, {} (next try in {} s)", job.name, report.error,
                 std::chrono::duration_cast<std::chrono::seconds>(hold->remaining).count());
    co_return report;
  }

  ScopedLogFields log_fields(job.name, report.run_id);
  RunState run(job, target, store, *this, report.run_id);
  run.progress.job = job.name;
  run.probing = target_hold && target_hold->kind == "breaker";
  if (run.probing) spdlog::info("job {}: circuit breaker for target {} half-open: one probe batch first", job.name, target.config->name);
  spdlog::debug("job {}: run {} started", job.name, report.run_id);

  std::string walk_error;
  bool walk_complete = false;
  BatchSender sender(executor, run);
  LtiaasPager pager({source.config->base_url, job.role_filter, job.resource_link_id, job.page_limit, job.max_pages,
                     job.max_members});
  const std::string authorization = auth_header(*source.config, job);
  auto lookup = [&](const std::string& person_key) {
    return store.find_membership(target.config->name, job.hierarchy_id, person_key);
  };

  try {
    while (!stopping && !run.target_stopped) {
      std::string url = pager.next_url();
      auto page_started = Clock::now();
      PageFetch fetched = co_await fetch_page(source, url, authorization);
      if (!fetched.page) {
        if (stopping) break;
        walk_error = page_error(pager.pages() + 1, url, fetched.error);
        if (fetched.configuration_error) {
          store::Hold hold = make_hold("job", job.name, "blocked", walk_error);
          store.set_hold(hold, whole_seconds(source.config->retry.blocked_retry_interval));
          run.hold_set_for = source.config->retry.blocked_retry_interval;
          walk_error = describe_hold(hold);
        }
        break;
      }
      const RosterPage& page = *fetched.page;
      Result<LtiaasPager::Step> step = pager.on_page(page);
      if (!step) {
        walk_error = "roster walk failed: " + step.failure().message;
        break;
      }
      PagePlan plan = plan_page(page, job, report.run_id, lookup);
      run.stats.new_members += store.commit_page(report.run_id, job.name, target.config->name, job.hierarchy_id, plan);
      run.stats.pages = pager.pages();
      run.stats.members_seen += plan.members;
      run.stats.already_present += plan.already_present;
      run.stats.deferred += plan.deferred;
      run.stats.creates_planned += static_cast<int>(plan.creates.size());
      for (std::size_t i = 0; i < kSkipReasonCount; ++i) run.stats.skipped[i] += plan.skipped[i];
      spdlog::debug("job {} page {}: {} members, {} to create, {} present, {} deferred, {} skipped in {} ms", job.name,
                    pager.pages(), plan.members, plan.creates.size(), plan.already_present, plan.deferred,
                    plan.members - plan.already_present - plan.deferred - static_cast<int>(plan.creates.size()),
                    std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - page_started).count());
      run.progress.pages = run.stats.pages;
      run.progress.members = run.stats.members_seen;
      run.progress.queued = run.stats.creates_planned;
      run.report();
      for (auto& c : plan.creates) sender.enqueue(std::move(c));
      if (*step == LtiaasPager::Step::done) {
        walk_complete = true;
        break;
      }
      co_await sender.wait_for_room();
    }
  } catch (const std::exception& e) {  // StoreError; batches in flight are still drained below
    walk_error = e.what();
  }
  co_await sender.finish();

  store::RunOutcome outcome;
  std::string error = walk_error;
  if (!run.target_error.empty()) error = error.empty() ? run.target_error : error + "; " + run.target_error;
  run.stats.pending = run.stats.creates_planned - run.stats.created - run.stats.failed;
  try {
    if (walk_complete && walk_error.empty()) store.prune_snapshot(job.name, report.run_id);
    if (stopping && error.empty() && (!walk_complete || run.stats.pending > 0)) {
      outcome = store::RunOutcome::interrupted;
      error = walk_complete ? "stopped with " + std::to_string(run.stats.pending) + " item(s) not sent or unanswered"
                            : "stopped before the walk completed";
    } else if (!error.empty()) {
      outcome = store::RunOutcome::failed;
    } else if (run.stats.failed > 0 || run.stats.pending > 0) {
      outcome = store::RunOutcome::partial;
    } else {
      outcome = store::RunOutcome::ok;
    }
    store.finish_run(report.run_id, run.stats, outcome, error);
  } catch (const std::exception& e) {
    outcome = store::RunOutcome::failed;
    error = e.what();
  }

  report.outcome = outcome;
  report.stats = run.stats;
  report.error = error;
  report.retry_in = run.hold_set_for;
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  auto level = outcome == store::RunOutcome::ok ? spdlog::level::info : spdlog::level::warn;
  spdlog::log(level,
              "job {} run {} {}: {} pages, {} members ({} new), {} created, {} already present, {} skipped, {} deferred, "
              "{} failed, {} pending in {:.1f}s{}{}",
              job.name, report.run_id, store::to_string(outcome), run.stats.pages, run.stats.members_seen,
              run.stats.new_members, run.stats.created, run.stats.already_present, run.stats.skipped_total(),
              run.stats.deferred, run.stats.failed, run.stats.pending, report.seconds, error.empty() ? "" : ": ", error);
  co_return report;
}

Engine::Engine(asio::any_io_executor executor, const config::Config& config, store::Store& store)
    : impl_(std::make_unique<Impl>(std::move(executor), config, store)) {}

Engine::~Engine() = default;

asio::awaitable<JobReport> Engine::run_job(const config::Job& job) { co_return co_await impl_->run_job(job); }

void Engine::on_progress(std::function<void(const Progress&)> callback) { impl_->progress = std::move(callback); }

void Engine::request_stop() { impl_->request_stop(); }

void Engine::abort_in_flight() { impl_->abort_in_flight(); }

bool Engine::stop_requested() const { return impl_->stopping; }

}  // namespace rostersync::sync
