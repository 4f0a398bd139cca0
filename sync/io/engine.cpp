#include "sync/io/engine.hpp"

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
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>

#include "config/domain/digest.hpp"
#include "config/domain/text.hpp"
#include "sync/imses/request.hpp"
#include "sync/imses/soap.hpp"
#include "sync/io/http_client.hpp"
#include "sync/io/log_fields.hpp"
#include "sync/ltiaas/pager.hpp"
#include "sync/ltiaas/request.hpp"
#include "sync/machines/batch_send.hpp"
#include "sync/machines/page_fetch.hpp"
#include "sync/machines/run.hpp"
#include "sync/machines/run_outcome.hpp"
#include "sync/machines/token_fetch.hpp"
#include "sync/platform/client_assertion.hpp"
#include "sync/platform/pager.hpp"
#include "sync/platform/request.hpp"
#include "sync/platform/token.hpp"
#include "sync/planning/planner.hpp"
#include "sync/planning/roles.hpp"
#include "sync/planning/reconcile.hpp"
#include "sync/planning/removals.hpp"
#include "store/store.hpp"
#include "sync/policy/retry_policy.hpp"

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

// In-flight operations towards one target, shared by all jobs writing to it,
// granted first come first served: a job with many batches queued cannot
// starve one with a few, and a release wakes only the waiters it serves
// (a district's thousands of jobs must not all wake for every answer).
class OperationBudget {
 public:
  OperationBudget(asio::any_io_executor ex, int capacity) : ex_(std::move(ex)), capacity_(capacity) {}
  asio::awaitable<void> acquire(int n) {
    if (waiters_.empty() && in_use_ + n <= capacity_) {
      in_use_ += n;
      co_return;
    }
    asio::steady_timer wakeup(ex_, asio::steady_timer::time_point::max());
    Waiter me{n, &wakeup};
    waiters_.push_back(&me);
    while (!me.granted) co_await wakeup.async_wait(nothrow);
  }
  int in_use() const { return in_use_; }
  void release(int n) {
    in_use_ -= n;
    while (!waiters_.empty() && in_use_ + waiters_.front()->n <= capacity_) {
      Waiter* next = waiters_.front();
      waiters_.pop_front();
      in_use_ += next->n;
      next->granted = true;
      next->wakeup->cancel();
    }
  }

 private:
  struct Waiter {
    int n;
    asio::steady_timer* wakeup;
    bool granted = false;
  };
  asio::any_io_executor ex_;
  int capacity_;
  int in_use_ = 0;
  std::deque<Waiter*> waiters_;
};

// What a job has to show the source for a page: LTIAAS's fixed header, or
// a platform's bearer token (renewed when refused).
struct PageAuth {
  std::string header;  // the Authorization value: a secret
  std::string token;   // platform: the bearer token in it
};

// Why no token could be had: the machine's text, and a hold when resending
// cannot help. `stopped`: the process is stopping (not the platform's fault).
struct TokenTrouble {
  std::string error;
  std::optional<std::chrono::milliseconds> hold_for;
  bool stopped = false;
};

// Sends one request and tells the observer (metrics) how it went.
asio::awaitable<Result<HttpResponse>> exchange(HttpClient& http, HttpRequest request, const RequestObserver& observer,
                                               std::string_view peer, std::string_view endpoint) {
  const auto started = std::chrono::steady_clock::now();
  Result<HttpResponse> response = co_await http.send(std::move(request));
  if (observer) {
    observer(peer, endpoint, response ? response->status : 0,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  co_return response;
}

struct SourceLink {
  const config::Source* config;
  std::unique_ptr<HttpClient> http;
  RequestObserver observer;
  // lti_platform: the tool's key (or why it cannot sign), and one token
  // fetch at a time for all its jobs: the others wait for its result.
  std::optional<SigningKey> key;
  std::string key_error;
  bool fetching = false;
  std::uint64_t fetches = 0;           // finished fetches, so waiters know theirs ended
  std::optional<TokenTrouble> last_trouble;  // of the last finished fetch
  std::unique_ptr<AsyncSignal> fetched;
};

struct TargetLink {
  const config::Target* config;
  std::unique_ptr<HttpClient> http;
  RequestObserver observer;
  std::unique_ptr<OperationBudget> budget;
  std::unique_ptr<Breaker> breaker;  // across runs of every job writing to this target
};

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
  bool dry_run = false;
  TokenCache tokens;  // bearer tokens of the platform sources, in memory only
  // The configuration's jobs by name, and by (target, hierarchy_id) where
  // that is no template: which jobs feed a group, without a scan per run.
  std::unordered_map<std::string, const config::Job*> jobs_by_name;
  std::map<std::pair<std::string, std::string>, std::vector<const config::Job*>> jobs_by_group;

  Impl(asio::any_io_executor ex, const config::Config& cfg, store::Store& st, EngineOptions options)
      : executor(ex), config(cfg), store(st), dry_run(options.dry_run) {
    for (const auto& [name, s] : cfg.sources) {
      SourceLink& link = sources[name];
      link.config = &s;
      link.http = std::make_unique<HttpClient>(ex, s.http);
      link.fetched = std::make_unique<AsyncSignal>(ex);
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
                       std::make_unique<OperationBudget>(ex, t.in_flight_budget), std::make_unique<Breaker>(t.breaker)};
    }
  }

  void index_jobs(const config::Config& cfg) {
    jobs_by_name.clear();
    jobs_by_group.clear();
    for (const config::Job& j : cfg.jobs) {
      jobs_by_name.emplace(j.name, &j);
      if (!config::is_hierarchy_template(j.hierarchy_id)) jobs_by_group[{j.target, j.hierarchy_id}].push_back(&j);
    }
  }
  std::shared_ptr<const config::Config> jobs_config;  // a reloaded configuration the indexes point into

  // Runs whose end could not be recorded (the database failed then): failed,
  // with the error, as soon as a later store call works.
  struct UnrecordedRun {
    std::int64_t run_id;
    RunStats stats;
    std::string error;
  };
  std::vector<UnrecordedRun> unrecorded_runs;
  void record_unrecorded_runs() {
    try {
      while (!unrecorded_runs.empty()) {
        const UnrecordedRun& r = unrecorded_runs.back();
        store.finish_run(r.run_id, r.stats, RunOutcome::failed, r.error);
        spdlog::info("run {}: its end is recorded now (failed: {})", r.run_id, r.error);
        unrecorded_runs.pop_back();
      }
    } catch (const std::exception& e) {  // the store still fails: the next run tries again
      spdlog::warn("{} run end(s) still not recorded: {}", unrecorded_runs.size(), e.what());
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

  // The platform's bearer token: the cached one, else a new one (one fetch
  // for all its jobs at a time). `refused`: the token a page was refused
  // with, dropped first. Returns the token or why there is none.
  asio::awaitable<std::variant<std::string, TokenTrouble>> bearer_token(SourceLink& source, const std::string& refused,
                                                                        spdlog::logger& log);
  // Drives one page fetch. A refused token is renewed through bearer_token;
  // when that fails, `trouble` says why and the fetch is over.
  asio::awaitable<void> fetch_page(SourceLink& source, const std::string& url, PageAuth& auth, PageFetchMachine& fetch,
                                   std::optional<TokenTrouble>& trouble, spdlog::logger& log);
  asio::awaitable<JobReport> run_job(config::Job job, std::function<void()> on_walk_end);
};


namespace {

// State of one job run, shared by the walk and the batch senders.
struct RunState {
  RunState(const config::Job& j, TargetLink& t, store::Store& s, Engine::Impl& e, std::int64_t id,
           std::shared_ptr<spdlog::logger> logger)
      : job(j), target(t), store(s), engine(e), run_id(id), log(std::move(logger)) {}

  const config::Job& job;
  TargetLink& target;
  store::Store& store;
  Engine::Impl& engine;
  std::int64_t run_id;
  std::shared_ptr<spdlog::logger> log;  // tags every record with the job and run (see log_fields.hpp)
  RunStats stats;
  Progress progress;
  std::string target_error;    // why sending stopped (hold, store failure)
  bool target_stopped = false;  // no more sends in this run
  bool probing = false;         // the breaker was open: one batch at a time until one succeeds
  std::optional<Millis> hold_set_for;  // a hold was set during this run, for this long
  std::vector<PlannedWrite> would_send;  // dry run: what was not sent
  std::vector<PlannedWrite> held_restores;  // restores a guard held in this run's group read
  bool store_busy = false;  // another process held the database: the run is retried soon

  // A store failure under the run: remembered when it was another process's lock.
  void note_store_error(const std::exception& e) {
    if (const auto* se = dynamic_cast<const store::StoreError*>(&e); se && se->busy()) store_busy = true;
  }

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

  // Stops sending to the target for the request's duration (every job that uses it).
  void hold_target(const HoldRequest& request) {
    Hold hold = make_hold(HoldScope::target, target.config->name, request.kind, request.reason);
    store.set_hold(hold, whole_seconds(request.duration));
    hold_set_for = request.duration;
    stop_target(describe(hold) + " (next try in " + std::to_string(whole_seconds(request.duration).count()) + " s)");
  }
};

// Drives one BatchSendMachine to its finish: `attempt(n)` makes the n-th
// request and returns its answer, back-offs sleep (cut short by a stop).
// Shared by the write batches and the group read. `what` names the request
// in the debug line of a failed attempt.
using Attempt = std::function<asio::awaitable<Result<HttpResponse>>(int attempt)>;
asio::awaitable<void> drive(RunState& run, BatchSendMachine& machine, const std::string& what, const Attempt& attempt) {
  BatchSendAction action = machine.resume(BatchSendMachine::Start{run.engine.stopping, run.target_stopped});
  while (action.kind != BatchSendAction::Kind::finish) {
    if (action.kind == BatchSendAction::Kind::send) {
      const int n = action.attempt;
      Result<HttpResponse> response = co_await attempt(n);
      action = machine.resume(BatchSendMachine::Responded{response, run.engine.draw(), std::chrono::system_clock::now(),
                                                          run.engine.stopping, run.target_stopped});
      if (action.kind == BatchSendAction::Kind::wait) {
        run.log->debug("job {} {} attempt {}: {}", run.job.name, what, n, machine.result().error);
      }
    } else {
      co_await run.engine.sleep(action.delay);
      action = machine.resume(BatchSendMachine::Waited{run.engine.stopping, run.target_stopped});
    }
  }
}

// Drives BatchQueue and one BatchSendMachine per batch, at most the target's
// budget of operations in flight (retries included: a retry keeps its budget).
class BatchSender {
 public:
  BatchSender(asio::any_io_executor ex, RunState& run)
      : ex_(ex), run_(run), changed_(ex),
        queue_(static_cast<std::size_t>(run.target.config->batch_size),
               static_cast<std::size_t>(2 * std::max(run.target.config->in_flight_budget, run.target.config->batch_size))) {}

  void enqueue(PlannedWrite write) {
    queue_.push(std::move(write));
    pump();
  }

  // Waits until few enough items are queued or in flight (bounds memory).
  asio::awaitable<void> wait_for_room() {
    while (!run_.target_stopped && queue_.over_high_water()) co_await changed_.wait();
  }

  // Sends the last partial batches and waits for all. Items may still be
  // enqueued after it (the deletions decided once the walk is complete);
  // call it again for them.
  asio::awaitable<void> finish() {
    queue_.close();
    pump();
    while (queue_.active_batches() > 0) co_await changed_.wait();
    queue_.reopen();
  }

 private:
  void pump() {
    while (auto batch = queue_.take(run_.probing, run_.target_stopped || run_.engine.stopping)) {
      if (run_.engine.dry_run) {  // nothing is sent: the plan is what would have been
        for (auto& w : *batch) run_.would_send.push_back(std::move(w));
        queue_.finished(batch->size());
        continue;
      }
      // send_batch catches everything; should anything escape, the event
      // loop's run() rethrows it and the process ends visibly.
      asio::co_spawn(ex_, send_batch(std::move(*batch), ++sequence_), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
    }
  }

  asio::awaitable<void> send_batch(std::vector<PlannedWrite> batch, int sequence) {
    const int n = static_cast<int>(batch.size());
    bool acquired = false;
    try {
      co_await run_.target.budget->acquire(n);
      acquired = true;
      // Given back as soon as itslearning has answered (or the batch is
      // given up), before the answer is recorded: the budget counts
      // operations itslearning still holds, not our bookkeeping.
      co_await send_with_retries(batch, sequence, [&] {
        if (std::exchange(acquired, false)) run_.target.budget->release(n);
      });
    } catch (const std::exception& e) {  // StoreError: the database failed under us
      run_.note_store_error(e);
      run_.stop_target(e.what());
    } catch (...) {
      run_.stop_target("unexpected error while sending a batch");
    }
    if (acquired) run_.target.budget->release(n);
    queue_.finished(batch.size());
    run_.report();
    pump();
    changed_.notify_all();
  }

  // Applies the breaker's verdict on one batch.
  void judge(const BreakerSample& sample) {
    const config::Target& target = *run_.target.config;
    BreakerVerdict verdict = judge_batch(*run_.target.breaker, target.breaker, run_.probing, run_.target_stopped, sample);
    if (verdict.kind == BreakerVerdict::Kind::close) {
      run_.probing = false;
      run_.store.clear_hold(HoldScope::target, target.name);
      run_.log->info("job {}: probe batch to target {} succeeded; circuit breaker closed", run_.job.name, target.name);
      pump();
    } else if (verdict.kind == BreakerVerdict::Kind::trip) {
      run_.hold_target(verdict.hold);
      run_.log->warn("job {}: {}", run_.job.name, run_.target_error);
    }
  }

  asio::awaitable<void> send_with_retries(const std::vector<PlannedWrite>& batch, int sequence,
                                          const std::function<void()>& answered) {
    const config::Target& target = *run_.target.config;
    const config::Job& job = run_.job;
    const MembershipOp op = batch.front().op;  // a batch holds one operation (BatchQueue)
    std::vector<soap::CreateItem> items;
    std::vector<BatchItem> tracked;
    std::vector<std::string> ids;
    for (const auto& c : batch) {
      items.push_back({c.membership_id, job.hierarchy_id, c.person_key, c.role_type});
      tracked.push_back({c.membership_id, c.refusals});
      ids.push_back(c.membership_id);
    }
    soap::Credentials credentials{target.username, target.password.reveal()};
    BatchSendMachine machine(target, redact_url(target.endpoint), std::move(tracked));
    std::string message_id;
    auto started = Clock::now();
    const std::string what = std::string(soap::operation_name(op)) + " batch " + job.name + "-" +
                             std::to_string(run_.run_id) + "-" + std::to_string(sequence) + " (" +
                             std::to_string(items.size()) + " items)";
    co_await drive(run_, machine, what, [&](int attempt) -> asio::awaitable<Result<HttpResponse>> {
      message_id = job.name + "-" + std::to_string(run_.run_id) + "-" + std::to_string(sequence) + "-" +
                   std::to_string(attempt);
      run_.store.mark_attempt(target.name, ids);
      HttpRequest request = soap_request(target.endpoint, soap::soap_action(op),
                                         soap::build_membership_request(op, credentials, message_id, items));
      started = Clock::now();
      co_return co_await exchange(*run_.target.http, std::move(request), run_.target.observer, target.name,
                                  soap::operation_name(op));
    });
    answered();
    const BatchResult& result = machine.result();
    if (result.hold) {
      run_.hold_target(*result.hold);
      run_.log->error("job {}: {}", job.name, run_.target_error);
    }
    run_.store.record_results(target.name, result.items);
    (op == MembershipOp::update ? run_.stats.updated : op == MembershipOp::remove ? run_.stats.deleted : run_.stats.created) +=
        result.created;
    run_.stats.failed += result.refused;
    if (result.answered) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
      run_.log->debug("job {} {} batch {}: {} items, {} confirmed, {} refused, {} unknown in {} ms", job.name,
                      soap::operation_name(op), message_id, items.size(), result.created, result.refused, result.unknown,
                      ms);
    } else if (!result.gave_up) {
      run_.log->warn("job {}: {} batch of {} items left pending: {}", job.name, soap::operation_name(op), items.size(),
                     result.error);
    }
    if (result.parked > 0) {
      run_.log->warn("job {}: {} item(s) parked after {} refusals; `rostersync failures` lists them, `rostersync retry` "
                   "puts them back", job.name, result.parked, target.items.max_failures);
    }
    if (result.breaker_sample) judge(*result.breaker_sample);
  }

  asio::any_io_executor ex_;
  RunState& run_;
  AsyncSignal changed_;
  BatchQueue queue_;
  int sequence_ = 0;
};

store::Store::WriteHold write_hold(std::string kind, const std::string& target, const std::string& hierarchy_id,
                                   int planned, int base, std::string reason, std::int64_t run_id) {
  store::Store::WriteHold h;
  h.kind = std::move(kind);
  h.target = target;
  h.hierarchy_id = hierarchy_id;
  h.planned = planned;
  h.base = base;
  h.reason = std::move(reason);
  h.run_id = run_id;
  return h;
}

// The jobs feeding the run's group, as the configuration in force and the
// state database know them: configured jobs of the same target whose
// hierarchy_id is the group (templates resolve only by walking: those
// count once they have listings), and every job with listings there.
std::vector<FeedingJob> feeding_jobs(RunState& run, const config::Job& job) {
  const std::string& target = run.target.config->name;
  const auto& jobs_by_name = run.engine.jobs_by_name;
  std::vector<FeedingJob> out;
  std::set<std::string> names;
  auto add = [&](const std::string& name) {
    if (!names.insert(name).second) return;
    const config::Job* found = name == job.name ? &job : nullptr;
    if (!found) {
      auto it = jobs_by_name.find(name);
      if (it != jobs_by_name.end() && it->second->target == target) found = it->second;
    }
    FeedingJob f;
    f.name = name;
    f.configured = found != nullptr;
    if (found) {
      f.remove_departed = found->remove_departed;
      f.remove_inactive = found->remove_inactive;
      f.grace_walks = found->departure_grace;
      f.own_adopted = found->own_adopted;
      f.limits = {found->max_deletes, found->max_delete_percent};
    }
    out.push_back(std::move(f));
  };
  add(job.name);
  if (auto it = run.engine.jobs_by_group.find({target, job.hierarchy_id}); it != run.engine.jobs_by_group.end()) {
    for (const config::Job* j : it->second) add(j->name);
  }
  for (const std::string& name : run.store.group_jobs(target, job.hierarchy_id)) add(name);
  return out;
}

std::vector<std::string> names_of(const std::vector<FeedingJob>& jobs) {
  std::vector<std::string> out;
  for (const FeedingJob& j : jobs) out.push_back(j.name);
  return out;
}

// Reads the group (readMembershipsForGroup) when adoption or reconcile is
// due, and applies what it finds. Returns "" or why the walk must stop: a
// create into a group that could not be read might give someone a second
// membership, so nothing is planned before the read succeeds.
asio::awaitable<std::string> read_group_if_due(RunState& run, const config::Job& job) {
  const config::Target& target = *run.target.config;
  std::optional<std::chrono::milliseconds> age = run.store.group_read_age(target.name, job.hierarchy_id);
  const bool reconcile_due = job.reconcile_interval.count() > 0 && (!age || *age >= job.reconcile_interval);
  const bool adopt_due = job.adopt_existing && !age;
  // A delete sent but not confirmed may have happened: a read tells, where
  // resending it could only be refused (the membership is gone).
  const bool doubt_due = !reconcile_due && !adopt_due && run.store.deletes_in_doubt(target.name, job.hierarchy_id);
  if (!reconcile_due && !adopt_due && !doubt_due) co_return "";

  // The read goes through the same machine as a batch of one: the same
  // retries and back-off, and a rejected call (credentials) holds the target.
  co_await run.target.budget->acquire(1);  // a read holds one operation of the budget
  soap::Credentials credentials{target.username, target.password.reveal()};
  BatchSendMachine machine(target, redact_url(target.endpoint), {BatchItem{job.hierarchy_id, 0}});
  std::string body;
  int status = 0;
  co_await drive(run, machine, "readMembershipsForGroup", [&](int attempt) -> asio::awaitable<Result<HttpResponse>> {
    std::string message_id = job.name + "-" + std::to_string(run.run_id) + "-read-" + std::to_string(attempt);
    Result<HttpResponse> response = co_await exchange(
        *run.target.http,
        soap_request(target.endpoint, soap::kReadMembershipsForGroupAction,
                     soap::build_read_memberships_for_group(credentials, message_id, job.hierarchy_id)),
        run.target.observer, target.name, "readMembershipsForGroup");
    if (response) {
      status = response->status;
      body = response->body;
    }
    co_return response;
  });
  run.target.budget->release(1);
  const BatchResult& result = machine.result();
  if (run.engine.stopping) co_return "";  // the caller plans nothing after a stop
  if (result.hold) {
    run.hold_target(*result.hold);
    co_return run.target_error;
  }
  if (result.items.empty() || result.items[0].fate != ItemResult::Fate::created) {
    std::string why = result.items.empty() || result.items[0].error.empty() ? result.error : result.items[0].error;
    co_return "readMembershipsForGroup of '" + job.hierarchy_id + "' at " + redact_url(target.endpoint) + " failed: " +
        (why.empty() ? std::string("no answer") : why);
  }
  soap::GroupReadOutcome read = soap::interpret_group_read(status, body);
  if (read.kind != soap::BatchOutcome::Kind::per_item) {
    co_return "readMembershipsForGroup of '" + job.hierarchy_id + "' at " + redact_url(target.endpoint) +
        " failed: " + read.failure.describe();
  }
  std::vector<GroupRow> rows = run.store.group_rows(target.name, job.hierarchy_id);
  const std::vector<FeedingJob> jobs = feeding_jobs(run, job);
  const GroupPolicy policy = group_policy(jobs);
  ReconcilePlan plan = plan_reconcile(rows, read.memberships, policy.own_adopted);
  // Restores: a mass removal in itslearning is usually deliberate, and an
  // empty read may be an outage: beyond the limits a person decides.
  int base = 0;
  for (const GroupRow& r : rows) base += owned_now(r, policy.own_adopted) && confirmed(r);
  RestoreVerdict restores = judge_restores(static_cast<int>(plan.restore.size()), base,
                                           static_cast<int>(read.memberships.size()), policy.limits);
  std::vector<std::string> held_restores;
  if (restores.hold) held_restores = std::exchange(plan.restore, {});
  run.store.apply_group_read(target.name, job.hierarchy_id, job.name, run.run_id,
                             static_cast<int>(read.memberships.size()), plan, held_restores);
  if (restores.hold) {
    store::Store::WriteHold hold = write_hold("restore", target.name, job.hierarchy_id,
                                              static_cast<int>(held_restores.size()), base, restores.reason, run.run_id);
    run.store.set_write_hold(hold, names_of(jobs));
    run.stats.restores_held += hold.planned;
    for (const GroupRow& r : rows) {
      if (std::find(held_restores.begin(), held_restores.end(), r.membership_id) == held_restores.end()) continue;
      PlannedWrite w{r.membership_id, r.person_key, r.role_type, false, 0, MembershipOp::create};
      w.reason = "restore: missing in itslearning";
      run.held_restores.push_back(std::move(w));
    }
    run.log->warn("job {}: restores held, nothing restored: {}; `rostersync status --job {}` lists them, `rostersync "
                  "approve --job {} --hold ID` restores them, `rostersync reject` leaves them removed",
                  job.name, restores.reason, job.name, job.name);
  } else {
    run.store.clear_write_hold("restore", target.name, job.hierarchy_id);
  }
  // Not rostersync's: duplicates, and adopted memberships it does not own.
  int foreign = static_cast<int>(plan.duplicates.size());
  std::unordered_set<std::string> not_owned;
  for (const GroupRow& r : rows) {
    if (!owned_now(r, policy.own_adopted)) not_owned.insert(r.membership_id);
  }
  for (const auto& a : plan.adopt) {
    if (!policy.own_adopted) not_owned.insert(a.found.membership_id);
  }
  for (const RemoteMembership& m : read.memberships) foreign += static_cast<int>(not_owned.count(m.membership_id));
  run.stats.adopted += static_cast<int>(plan.adopt.size());
  run.stats.restored += static_cast<int>(plan.restore.size());
  run.stats.foreign += foreign;
  run.log->info("job {}: group '{}' read ({}): {} memberships, {} adopted, {} to restore, {} not rostersync's{}",
                job.name, job.hierarchy_id, adopt_due ? "adoption" : doubt_due ? "deletions in doubt" : "reconcile", read.memberships.size(),
                plan.adopt.size(), plan.restore.size(), foreign,
                plan.duplicates.empty() ? std::string()
                                        : "; " + std::to_string(plan.duplicates.size()) +
                                              " person(s) hold a second membership (kept, never deleted), e.g. '" +
                                              clip_for_message(plan.duplicates.front().membership_id, 80) + "'");
  co_return "";
}

// After a complete walk: whether it counts (an empty roster is held, a
// roster that moved under the walk counts for nobody), the job's listings,
// then the group's decision: deletions sent only if the guard lets them go.
// Returns the writes to send.
std::vector<PlannedWrite> settle_group(RunState& run, const config::Job& job, const RunMachine& walk,
                                       JobReport& report, bool& walk_not_counted) {
  // A moved `last` counts like a repeated member: the roster changed under the walk.
  const int repeated_members = walk.repeated_members() + (walk.moved() && walk.repeated_members() == 0 ? 1 : 0);
  std::string& held_because = report.removals_held;
  const std::string& target = run.target.config->name;
  std::vector<FeedingJob> jobs = feeding_jobs(run, job);
  const GroupPolicy policy = group_policy(jobs);
  std::vector<GroupRow> rows = run.store.group_rows(target, job.hierarchy_id);
  int owned_in_group = 0;
  for (const GroupRow& r : rows) owned_in_group += owned_now(r, policy.own_adopted) && confirmed(r);
  std::optional<store::Store::WriteHold> empty_hold = run.store.find_walk_hold(job.name);
  const int listed = static_cast<int>(walk.seen().size());
  WalkTrust trust = judge_walk({listed, owned_in_group, repeated_members, empty_hold && empty_hold->accepted});
  if (listed > 0 && empty_hold) {
    run.store.clear_walk_hold(job.name);
    run.log->info("job {}: the roster lists members again; its empty-roster hold is lifted", job.name);
  }
  walk_not_counted = trust != WalkTrust::counts;
  if (trust == WalkTrust::empty_held) {
    store::Store::WriteHold hold = write_hold(
        "empty_roster", target, job.hierarchy_id, owned_in_group, owned_in_group,
        "the roster listed nobody where the group holds " + std::to_string(owned_in_group) +
            " memberships rostersync owns; an empty roster never counts as departures without approval",
        run.run_id);
    run.store.set_write_hold(hold, {job.name});
    held_because = hold.reason;
    run.log->warn("job {}: {}; `rostersync approve --job {} --hold ID` lets its empty walks count, `rostersync "
                  "status --job {}` shows the hold", job.name, hold.reason, job.name, job.name);
    return {};
  }
  if (trust == WalkTrust::moved) {
    run.log->info("job {}: the roster moved while it was paged ({} member(s) came twice{}); this walk counts towards "
                  "nobody's departure", job.name, walk.repeated_members(),
                  walk.repeated_members() == 0 ? ", its last page moved" : "");
    return {};
  }
  // A roster read over several pages is no snapshot: one walk may miss a
  // member who never left, so such a walk never decides alone.
  if (run.stats.pages > 1) {
    for (FeedingJob& f : jobs) {
      if (f.name == job.name) f.grace_walks = std::max(f.grace_walks, 2);
    }
  }
  std::vector<Listing> listings = run.store.listings(target, job.hierarchy_id);
  ListingChanges changes = walk_absences(job.name, listings, rows, walk.seen());
  run.store.record_walk(target, job.hierarchy_id, job.name, changes.absent, changes.back);
  apply_absences(listings, job.name, changes);  // as recorded: no second read
  GroupDecision decision = decide_group(rows, listings, jobs);
  run.store.record_group_decision(target, decision.back, decision.released, decision.held);
  if (!decision.held.empty()) {
    store::Store::WriteHold hold = write_hold("delete", target, job.hierarchy_id, static_cast<int>(decision.held.size()),
                                              decision.base, decision.held_because, run.run_id);
    run.store.set_write_hold(hold, names_of(jobs));
    run.stats.deletes_held = hold.planned;
    held_because = decision.held_because;
    report.held_writes = decision.held;
    run.log->warn("job {}: removals held, nothing held deleted: {}; `rostersync status --job {}` lists them, "
                  "`rostersync approve --job {} --hold ID` deletes them, `rostersync reject` keeps them",
                  job.name, decision.held_because, job.name, job.name);
  } else if (std::any_of(rows.begin(), rows.end(), [](const GroupRow& r) { return r.held == "delete"; })) {
    run.store.clear_write_hold("delete", target, job.hierarchy_id);
    run.log->info("job {}: the held removals no longer need approval", job.name);
  }
  if (!decision.removals.empty()) {
    run.store.queue_removals(target, run.run_id, decision.removals);
    run.stats.deletes_planned += static_cast<int>(decision.removals.size());
  }
  return std::move(decision.removals);
}

// ", 2 updated, 1 deleted, 3 adopted" for the counts that are not zero.
std::string describe_upkeep(const RunStats& st) {
  std::string out;
  const std::pair<const char*, int> counts[] = {{"updated", st.updated},
                                                {"deleted", st.deleted},
                                                {"deletions held", st.deletes_held},
                                                {"adopted", st.adopted},
                                                {"restored", st.restored},
                                                {"restores held", st.restores_held},
                                                {"not rostersync's", st.foreign},
                                                {"role differences on memberships not rostersync's (not sent)",
                                                 st.not_owned_role_differs}};
  for (const auto& [what, n] : counts) {
    if (n > 0) out += ", " + std::to_string(n) + " " + what;
  }
  return out;
}


}  // namespace

asio::awaitable<std::variant<std::string, TokenTrouble>> Engine::Impl::bearer_token(SourceLink& source,
                                                                                    const std::string& refused,
                                                                                    spdlog::logger& log) {
  const config::Source& platform = *source.config;
  const TokenCache::Key key = TokenCache::key_of(platform);
  if (!refused.empty()) tokens.drop(key, refused);
  if (!source.key) co_return TokenTrouble{source.key_error, platform.retry.blocked_retry_interval};
  for (;;) {
    if (std::optional<std::string> token = tokens.find(key, Clock::now())) co_return *token;
    if (!source.fetching) break;
    const std::uint64_t before = source.fetches;  // another job is asking: its answer is ours
    while (source.fetching && !stopping) co_await source.fetched->wait();
    if (stopping) co_return TokenTrouble{"stopping", std::nullopt, true};
    if (source.fetches != before && source.last_trouble) co_return *source.last_trouble;
  }
  source.fetching = true;
  TokenFetchMachine machine(platform);
  TokenFetchAction action = machine.resume(TokenFetchMachine::Start{});
  while (action.kind == TokenFetchAction::Kind::send || action.kind == TokenFetchAction::Kind::wait) {
    if (action.kind == TokenFetchAction::Kind::send) {
      AssertionClaims claims;
      claims.client_id = platform.client_id;
      claims.audience = platform.audience.empty() ? platform.token_url : platform.audience;
      claims.deployment_id = platform.deployment_id;
      claims.key_id = platform.key_id;
      claims.issued_at = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
      claims.lifetime = std::chrono::duration_cast<std::chrono::seconds>(platform.assertion_lifetime);
      claims.jti = random_jti();
      Result<std::string> assertion = make_client_assertion(*source.key, claims);
      // (No co_await inside ?: : GCC 12 miscompiles it.)
      Result<HttpResponse> response = assertion.ok() ? Result<HttpResponse>(HttpResponse{}) : assertion.failure();
      if (assertion) {
        response = co_await exchange(*source.http, token_request(platform, *assertion), source.observer, platform.name,
                                     "token");
      }
      action = machine.resume(TokenFetchMachine::Responded{response, draw(), std::chrono::system_clock::now(), stopping});
      if (action.kind == TokenFetchAction::Kind::wait) {
        log.debug("source {}: token request attempt {}: {}", platform.name, machine.attempts(), machine.error());
      }
    } else {
      co_await sleep(action.delay);
      action = machine.resume(TokenFetchMachine::Waited{stopping});
    }
  }
  source.fetching = false;
  ++source.fetches;
  source.fetched->notify_all();
  if (action.kind == TokenFetchAction::Kind::done) {
    source.last_trouble.reset();
    tokens.put(key, machine.token(), Clock::now());
    log.info("source {}: access token from {} (valid {} s)", platform.name, redact_url(platform.token_url),
             machine.token().expires_in.count());
    co_return machine.token().value;
  }
  source.last_trouble = TokenTrouble{machine.error(), machine.hold_for(), machine.stopped()};
  co_return *source.last_trouble;
}

asio::awaitable<void> Engine::Impl::fetch_page(SourceLink& source, const std::string& url, PageAuth& auth,
                                               PageFetchMachine& fetch, std::optional<TokenTrouble>& trouble,
                                               spdlog::logger& log) {
  const bool platform = source.config->kind == config::SourceKind::lti_platform;
  PageFetchAction action = fetch.resume(PageFetchMachine::Start{});
  for (;;) {
    if (action.kind == PageFetchAction::Kind::send) {
      HttpRequest request = platform ? nrps_page_request(url, auth.token) : roster_page_request(url, auth.header);
      Result<HttpResponse> response = co_await exchange(*source.http, std::move(request), source.observer,
                                                        source.config->name, platform ? "nrps" : "ltiaas_memberships");
      action = fetch.resume(PageFetchMachine::Responded{response, draw(), std::chrono::system_clock::now(), stopping});
    } else if (action.kind == PageFetchAction::Kind::wait) {
      co_await sleep(action.delay);
      action = fetch.resume(PageFetchMachine::Waited{stopping});
    } else if (action.kind == PageFetchAction::Kind::renew_token) {
      log.info("source {}: the platform refused the access token (401); getting a new one", source.config->name);
      auto renewed = co_await bearer_token(source, auth.token, log);
      if (auto* failed = std::get_if<TokenTrouble>(&renewed)) {
        trouble = std::move(*failed);
        co_return;
      }
      auth.token = std::get<std::string>(renewed);
      action = fetch.resume(PageFetchMachine::Renewed{});
    } else {
      co_return;
    }
  }
}

// `job` is a copy: a reload may replace the configuration during the run,
// and a hierarchy_id template is filled in here from the first page.
asio::awaitable<JobReport> Engine::Impl::run_job(config::Job job, std::function<void()> on_walk_end) {
  // Whatever way this returns, the walk is over by then.
  struct WalkEnd {
    std::function<void()>& notify;
    void operator()() {
      if (notify) std::exchange(notify, nullptr)();
    }
    ~WalkEnd() { (*this)(); }
  } walk_end{on_walk_end};
  auto started = Clock::now();
  SourceLink& source = sources.at(job.source);
  TargetLink& target = targets.at(job.target);
  JobReport report;
  report.job = job.name;
  std::shared_ptr<spdlog::logger> log = spdlog::default_logger()->clone(run_logger_name(job.name, 0));

  // A hold (configuration error, open breaker) means no run before its time.
  // The database may fail here (locked by another process for longer than the
  // busy timeout, disk full): that ends this run as failed, visibly, and the
  // caller schedules the next one.
  RunStart start;
  try {
    std::optional<Hold> job_hold = store.find_hold(HoldScope::job, job.name);
    std::optional<Hold> target_hold = store.find_hold(HoldScope::target, target.config->name);
    std::optional<Hold> source_hold = store.find_hold(HoldScope::source, source.config->name);
    start = decide_start(job_hold, target_hold, source_hold);
    if (start.run) report.run_id = store.begin_run(job.name, config::is_hierarchy_template(job.hierarchy_id) ? "" : job.hierarchy_id);
    record_unrecorded_runs();
  } catch (const std::exception& e) {
    report.outcome = RunOutcome::failed;
    report.error = std::string("cannot start a run: ") + e.what();
    report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    log->error("job {}: {}", job.name, report.error);
    if (const auto* se = dynamic_cast<const store::StoreError*>(&e); se && se->busy()) {
      report.retry_in = target.config->retry.max_retry_delay;  // another process held the database: soon again
      log->warn("job {}: the state database was busy (another process held it) or its disk full; the run is "
                "retried in {} s", job.name, std::chrono::duration_cast<std::chrono::seconds>(*report.retry_in).count());
    }
    co_return report;
  }
  if (!start.run) {
    report.held = true;
    report.error = start.held_because;
    report.retry_in = start.retry_in;
    log->warn("job {}: not run, {} (next try in {} s)", job.name, report.error,
                 std::chrono::duration_cast<std::chrono::seconds>(start.retry_in).count());
    co_return report;
  }

  log = spdlog::default_logger()->clone(run_logger_name(job.name, report.run_id));
  RunState run(job, target, store, *this, report.run_id, log);
  run.progress.job = job.name;
  run.probing = start.probing;
  if (run.probing) log->info("job {}: circuit breaker for target {} half-open: one probe batch first", job.name, target.config->name);
  log->debug("job {}: run {} started", job.name, report.run_id);

  BatchSender sender(executor, run);
  const bool platform = source.config->kind == config::SourceKind::lti_platform;
  std::unique_ptr<RosterPager> pager;
  PageAuth auth;
  if (platform) {
    pager = std::make_unique<PlatformPager>(PlatformPagerSettings{job.memberships_url, url_origin(source.config->base_url),
                                                                  job.role_filter, job.resource_link_id, job.page_limit,
                                                                  job.max_pages, job.max_members});
  } else {
    pager = std::make_unique<LtiaasPager>(PagerSettings{source.config->base_url, job.role_filter, job.resource_link_id,
                                                        job.page_limit, job.max_pages, job.max_members});
    auth.header = ltiaas_authorization(*source.config, job);
  }
  PlanOptions plan_opts = plan_options(job);
  RunMachine machine(RunSettings{platform, platform, plan_opts}, std::move(pager));
  // A token the platform will not give (a refused client, a bad key) holds
  // the source: every job of it waits for a fix, none asks again in a loop.
  auto token_failed = [&](const TokenTrouble& trouble) {
    if (trouble.stopped) return std::string();
    std::string error = "source " + source.config->name + ": " + trouble.error;
    if (trouble.hold_for) {
      Hold hold = make_hold(HoldScope::source, source.config->name, HoldKind::blocked, trouble.error);
      store.set_hold(hold, whole_seconds(*trouble.hold_for));
      run.hold_set_for = *trouble.hold_for;
      error = describe(hold);
    }
    return error;
  };
  auto lookup = [&](const std::vector<std::string>& person_keys) {
    return store.find_memberships(target.config->name, job.hierarchy_id, person_keys, job.name);
  };
  // The no-change pass: a page equal to one found settled before is counted
  // from its digest. Members that left show only in the set digest; then the
  // next run plans every page again, which marks every member it sees and
  // lets the snapshot be pruned exactly.
  std::uint64_t options_digest = sync::options_digest(plan_opts, target.config->name);
  MemberSetDigest seen;
  bool every_page_planned = true;
  bool walk_not_counted = false;  // the group decision found the walk held (empty) or moved

  // Drives the run machine: each action performed, its result reported back.
  RunAction action = machine.resume({stopping, run.target_stopped});
  while (action.kind != RunAction::Kind::finish) {
    if (action.walk_read) walk_end();  // nothing more to read: another walk may start
    RunMachine::Event ev;
    try {
      switch (action.kind) {
        case RunAction::Kind::get_token: {
          auto token = co_await bearer_token(source, "", *log);
          if (auto* trouble = std::get_if<TokenTrouble>(&token)) {
            ev.error = token_failed(*trouble);
            ev.stopped = trouble->stopped;
          } else {
            auth.token = std::get<std::string>(token);
          }
          break;
        }
        case RunAction::Kind::fetch_page: {
          auto page_started = Clock::now();
          PageFetchMachine fetch(source.config->retry, redact_url(action.url),
                                 PagePaging{platform, platform, action.url});
          std::optional<TokenTrouble> trouble;
          co_await fetch_page(source, action.url, auth, fetch, trouble, *log);
          if (trouble) {
            ev.error = token_failed(*trouble);
            ev.stopped = trouble->stopped || ev.error.empty();
          } else if (fetch.stopped()) {
            ev.stopped = true;
          } else if (!fetch.page_ready()) {
            ev.error = fetch.error();
            ev.hold_for = fetch.hold_for();
          } else {
            ev.page = std::move(fetch.page());
          }
          log->trace("job {}: page {} fetched in {} ms", job.name, action.page_number,
                     std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - page_started).count());
          break;
        }
        case RunAction::Kind::hold_job: {
          Hold hold = make_hold(HoldScope::job, job.name, HoldKind::blocked, action.error);
          store.set_hold(hold, whole_seconds(action.hold_for));
          run.hold_set_for = action.hold_for;
          ev.error = describe(hold);
          break;
        }
        case RunAction::Kind::use_hierarchy:
          log->debug("job {}: hierarchy_id '{}' is '{}' for this roster", job.name, job.hierarchy_id,
                     action.hierarchy_id);
          job.hierarchy_id = action.hierarchy_id;
          plan_opts.hierarchy_id = job.hierarchy_id;
          store.set_run_hierarchy(report.run_id, job.hierarchy_id);
          break;
        case RunAction::Kind::read_group: {
          // Adopted memberships are rostersync's only while every job of the group says own_adopted.
          const std::vector<FeedingJob> jobs = feeding_jobs(run, job);
          const GroupPolicy policy = group_policy(jobs);
          plan_opts.own_adopted = policy.own_adopted;
          // What the walk saw matters to a group with removals on, or fed by several jobs
          // (one job's absence must not hide another's role); else it costs memory for nothing.
          machine.track_presence(job.remove_departed || policy.remove || jobs.size() > 1);
          options_digest = sync::options_digest(plan_opts, target.config->name);
          ev.error = co_await read_group_if_due(run, job);
          break;
        }
        case RunAction::Kind::plan_page: {
          RosterPage& page = machine.page();
          for (const Member& m : page.members) seen.add(m.user_id);
          const int page_number = action.page_number;
          const std::uint64_t digest = page_digest(page, options_digest);
          PagePlan plan;
          if (std::optional<PagePlan> settled = store.settled_page(job.name, page_number, digest)) {
            plan = std::move(*settled);
            every_page_planned = false;
          } else {
            plan = plan_page(page, plan_opts, report.run_id, lookup);
            run.stats.new_members += store.commit_page(report.run_id, job.name, target.config->name, job.hierarchy_id,
                                                       plan, page_number,
                                                       plan.settles_when_sent ? std::optional(digest) : std::nullopt);
          }
          run.stats.pages = page_number;
          run.stats.add_page(plan);
          log->debug("job {} page {}: {} members, {} to create, {} present, {} deferred, {} skipped", job.name,
                     page_number, plan.members, plan.writes.size(), plan.already_present, plan.deferred,
                     plan.members - plan.already_present - plan.deferred - static_cast<int>(plan.writes.size()));
          run.progress.pages = run.stats.pages;
          run.progress.members = run.stats.members_seen;
          run.progress.queued = run.stats.creates_planned;
          run.report();
          for (auto& c : plan.writes) sender.enqueue(std::move(c));
          break;
        }
        case RunAction::Kind::wait_for_room:
          co_await sender.wait_for_room();
          break;
        case RunAction::Kind::drain:
          co_await sender.finish();
          break;
        case RunAction::Kind::settle_group: {
          std::vector<PlannedWrite> removals = settle_group(run, job, machine, report, walk_not_counted);
          // Deletions are sent only while the target still takes writes.
          if (!run.target_stopped) {
            for (auto& w : removals) sender.enqueue(std::move(w));
          }
          break;
        }
        case RunAction::Kind::finish:
          break;
      }
    } catch (const std::exception& e) {  // StoreError; batches in flight are still drained
      run.note_store_error(e);
      action = machine.fail(e.what());
      continue;
    }
    ev.stopping = stopping;
    ev.target_stopped = run.target_stopped;
    action = machine.resume(std::move(ev));
  }
  walk_end();
  if (machine.repeated_members() > 0) {
    log->info("job {}: {} member(s) came twice in this walk (the roster changed while it was paged); counted once",
              job.name, machine.repeated_members());
  }
  const bool walk_complete = machine.walk_complete();
  const std::string walk_error = machine.walk_error();
  run.stats.walk_not_counted = walk_not_counted ? 1 : 0;

  run.stats.pending = dry_run ? 0 : run.stats.writes_planned() - run.stats.writes_confirmed() - run.stats.failed;
  RunVerdict verdict = decide_outcome({walk_complete, walk_error, run.target_error, stopping, run.stats.pending,
                                       run.stats.failed});
  try {
    store.transaction([&] {
      store.settle_pages(job.name, report.run_id,
                         verdict.outcome == RunOutcome::ok && run.stats.pending == 0 && run.stats.failed == 0 &&
                             run.stats.deferred == 0);
      // A walk that counted for nobody (an empty roster held, a roster that
      // moved) keeps the snapshot the next walk compares with.
      if (verdict.prune_snapshot && !walk_not_counted && !machine.moved()) {
        store.forget_pages(job.name, run.stats.pages);
        if (every_page_planned) {
          store.prune_snapshot(job.name, report.run_id);
        } else if (store.snapshot_digest(job.name) != seen) {
          store.forget_pages(job.name, 0);
          log->info("job {}: members left the roster (or it repeated one); the next run plans every page again and "
                       "drops them from the snapshot", job.name);
        }
      }
      store.finish_run(report.run_id, run.stats, verdict.outcome, verdict.error);
    });
  } catch (const std::exception& e) {
    verdict.outcome = RunOutcome::failed;
    verdict.error = e.what();
    // The end record could not be written: it is written once the store works
    // again, so that the run does not stay `running` for the daemon's lifetime.
    unrecorded_runs.push_back({report.run_id, run.stats, verdict.error});
    run.note_store_error(e);
  }

  report.outcome = verdict.outcome;
  report.stats = run.stats;
  report.would_send = std::move(run.would_send);
  for (auto& w : run.held_restores) report.held_writes.push_back(std::move(w));
  report.error = verdict.error;
  report.retry_in = run.hold_set_for;
  if (run.store_busy) {
    // Another process held the database: try again soon, not an interval later.
    const auto soon = target.config->retry.max_retry_delay;
    report.retry_in = report.retry_in ? std::min(*report.retry_in, soon) : soon;
    log->warn("job {}: the state database was busy (another process held it) or its disk full; the run is retried "
              "in {} s", job.name, std::chrono::duration_cast<std::chrono::seconds>(soon).count());
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  auto level = verdict.outcome == RunOutcome::ok ? spdlog::level::info : spdlog::level::warn;
  ScopedRecordFields summary_fields({{"MESSAGE_ID", kRunSummaryMessageId},
                                     {"OUTCOME", to_string(verdict.outcome)},
                                     {"CREATED", std::to_string(run.stats.created)},
                                     {"FAILED", std::to_string(run.stats.failed)}});
  log->log(level,
              "job {} run {} {}{}: {} pages, {} members ({} new), {} created, {} already present, {} skipped, {} deferred, "
              "{} failed, {} pending in {:.1f}s{}{}{}",
              job.name, report.run_id, to_string(verdict.outcome), dry_run ? " (dry run, nothing sent)" : "",
              run.stats.pages, run.stats.members_seen, run.stats.new_members, run.stats.created,
              run.stats.already_present, run.stats.skipped_total(), run.stats.deferred, run.stats.failed,
              run.stats.pending, report.seconds, describe_upkeep(run.stats), report.error.empty() ? "" : ": ",
              report.error);
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
  TargetLink& target = impl.targets.at(target_name);
  auto log = spdlog::default_logger()->clone(run_logger_name(job_name, 0));
  RunState run(job, target, impl.store, impl, 0, log);
  run.progress.job = job_name;
  try {
    if (std::optional<Hold> hold = impl.store.find_hold(HoldScope::target, target_name); hold && hold->active()) {
      report.held = true;
      report.error = describe(*hold);
      co_return report;
    }
    impl.store.queue_removals(target_name, 0, removals);
    run.stats.deletes_planned = static_cast<int>(removals.size());
    BatchSender sender(impl.executor, run);
    for (auto& w : removals) sender.enqueue(std::move(w));
    co_await sender.finish();
  } catch (const std::exception& e) {
    run.stop_target(e.what());
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
