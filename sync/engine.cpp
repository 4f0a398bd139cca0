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
#include <set>

#include "sync/http_client.hpp"
#include "sync/log_fields.hpp"
#include "sync/nrps.hpp"
#include "sync/pager.hpp"
#include "sync/planner.hpp"
#include "sync/redact.hpp"
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

  Impl(asio::any_io_executor ex, const config::Config& cfg, store::Store& st) : executor(ex), config(cfg), store(st) {
    for (const auto& [name, s] : cfg.sources) sources[name] = {&s, std::make_unique<HttpClient>(ex, s.http)};
    for (const auto& [name, t] : cfg.targets) {
      targets[name] = {&t, std::make_unique<HttpClient>(ex, t.http), std::make_unique<OperationBudget>(ex, t.in_flight_budget)};
    }
  }

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
  std::string target_error;  // set when the target rejected us or the store failed
  bool target_rejected = false;

  void report() {
    progress.created = stats.created;
    progress.failed = stats.failed;
    if (engine.progress) engine.progress(progress);
  }
};

// Groups planned creates into batches and sends them, at most the target's
// budget of operations in flight.
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
    while (!run_.target_rejected && queue_.size() + in_batches_ > high_water_) co_await changed_.wait();
  }

  // No more items will come: send the last partial batch and wait for all.
  asio::awaitable<void> finish() {
    closed_ = true;
    pump();
    while (active_ > 0) co_await changed_.wait();
  }

 private:
  void pump() {
    while (!run_.target_rejected && !queue_.empty() && (queue_.size() >= batch_size_ || closed_)) {
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
      run_.target_error = e.what();
      run_.target_rejected = true;
    }
    run_.target.budget->release(n);
    --active_;
    in_batches_ -= batch.size();
    run_.report();
    pump();
    changed_.notify_all();
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
    for (int attempt = 1; attempt <= target.max_attempts && !run_.target_rejected; ++attempt) {
      if (attempt > 1) {
        if (run_.engine.stopping) break;
        co_await run_.engine.sleep(target.retry_delay * (1 << std::min(attempt - 2, 10)));
        if (run_.engine.stopping) break;
      }
      std::string message_id = job.name + "-" + std::to_string(run_.run_id) + "-" + std::to_string(sequence) + "-" +
                               std::to_string(attempt);
      run_.store.mark_attempt(target.name, ids);
      HttpRequest request = soap_request(target.endpoint, soap::build_create_memberships(credentials, message_id, items));
      auto started = Clock::now();
      Result<HttpResponse> response = co_await run_.target.http->send(std::move(request));
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
      if (!response) {
        last_error = response.failure().message;
        spdlog::debug("job {} batch {} ({} items) attempt {}: {}", job.name, message_id, items.size(), attempt, last_error);
        continue;
      }
      soap::BatchOutcome outcome = soap::interpret_response(response->status, response->body, items.size());
      if (outcome.kind == soap::BatchOutcome::Kind::fault) {
        last_error = "POST " + redact_url(target.endpoint) + ": " + outcome.error;
        spdlog::debug("job {} batch {} attempt {}: {}", job.name, message_id, attempt, last_error);
        continue;
      }
      if (outcome.kind == soap::BatchOutcome::Kind::rejected) {
        last_error = "POST " + redact_url(target.endpoint) + ": " + outcome.error;
        run_.target_rejected = true;
        run_.target_error = "target " + target.name + " rejected the request: " + last_error;
        break;
      }
      if (outcome.kind == soap::BatchOutcome::Kind::unknown) {
        last_error = "POST " + redact_url(target.endpoint) + ": " + outcome.error;
        break;  // resent with the same ids on the next run
      }
      std::vector<store::ItemResult> results;
      int created = 0, failed = 0;
      for (std::size_t i = 0; i < items.size(); ++i) {
        switch (outcome.items[i]) {
          case soap::ItemOutcome::created:
            results.push_back({ids[i], MembershipState::created, ""});
            ++created;
            break;
          case soap::ItemOutcome::failed:
            results.push_back({ids[i], MembershipState::failed, outcome.item_errors[i]});
            ++failed;
            break;
          case soap::ItemOutcome::unknown:
            results.push_back({ids[i], MembershipState::pending, outcome.item_errors[i]});
            break;
        }
      }
      run_.store.record_results(target.name, results);
      run_.stats.created += created;
      run_.stats.failed += failed;
      spdlog::debug("job {} batch {}: {} items, {} created, {} failed, {} unknown in {} ms", job.name, message_id,
                    items.size(), created, failed, static_cast<int>(items.size()) - created - failed, ms);
      co_return;
    }
    // Every attempt failed (or the target refused us): the items stay pending
    // with the error stored, and are resent with the same ids next run.
    std::vector<store::ItemResult> results;
    for (const auto& id : ids) results.push_back({id, MembershipState::pending, last_error});
    run_.store.record_results(target.name, results);
    if (!run_.target_rejected) {
      spdlog::warn("job {}: batch of {} items left pending: {}", job.name, items.size(), last_error);
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

}  // namespace

asio::awaitable<JobReport> Engine::Impl::run_job(const config::Job& job) {
  auto started = Clock::now();
  SourceLink& source = sources.at(job.source);
  TargetLink& target = targets.at(job.target);
  JobReport report;
  report.job = job.name;
  report.run_id = store.begin_run(job.name);
  ScopedLogFields log_fields(job.name, report.run_id);
  RunState run(job, target, store, *this, report.run_id);
  run.progress.job = job.name;
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
    while (!stopping && !run.target_rejected) {
      std::string url = pager.next_url();
      auto page_started = Clock::now();
      Result<HttpResponse> response = co_await source.http->send(roster_request(url, authorization));
      if (!response) {
        walk_error = "roster walk failed at page " + std::to_string(pager.pages() + 1) + ": " + response.failure().message;
        break;
      }
      if (response->status != 200) {
        walk_error = "roster walk failed at page " + std::to_string(pager.pages() + 1) + ": GET " + redact_url(url) + ": " +
                     describe_error_body(response->status, response->body);
        break;
      }
      Result<RosterPage> page = parse_roster_page(response->body);
      if (!page) {
        walk_error = "roster walk failed at page " + std::to_string(pager.pages() + 1) + ": GET " + redact_url(url) + ": " +
                     page.failure().message;
        break;
      }
      Result<LtiaasPager::Step> step = pager.on_page(*page);
      if (!step) {
        walk_error = "roster walk failed: " + step.failure().message;
        break;
      }
      PagePlan plan = plan_page(*page, job, report.run_id, lookup);
      run.stats.new_members += store.commit_page(report.run_id, job.name, target.config->name, job.hierarchy_id, plan);
      run.stats.pages = pager.pages();
      run.stats.members_seen += plan.members;
      run.stats.already_present += plan.already_present;
      run.stats.creates_planned += static_cast<int>(plan.creates.size());
      for (std::size_t i = 0; i < kSkipReasonCount; ++i) run.stats.skipped[i] += plan.skipped[i];
      spdlog::debug("job {} page {}: {} members, {} to create, {} present, {} skipped in {} ms", job.name, pager.pages(),
                    plan.members, plan.creates.size(), plan.already_present,
                    plan.members - plan.already_present - static_cast<int>(plan.creates.size()),
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
    if (stopping && walk_error.empty() && (!walk_complete || run.stats.pending > 0)) {
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
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  auto level = outcome == store::RunOutcome::ok ? spdlog::level::info : spdlog::level::warn;
  spdlog::log(level,
              "job {} run {} {}: {} pages, {} members ({} new), {} created, {} already present, {} skipped, {} failed, "
              "{} pending in {:.1f}s{}{}",
              job.name, report.run_id, store::to_string(outcome), run.stats.pages, run.stats.members_seen,
              run.stats.new_members, run.stats.created, run.stats.already_present, run.stats.skipped_total(),
              run.stats.failed, run.stats.pending, report.seconds, error.empty() ? "" : ": ", error);
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
