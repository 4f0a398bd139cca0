// The engine's insides, shared by the files that make up sync/io's driver
// (engine.cpp: the run; source_session.cpp: tokens and pages; batch_sender.cpp:
// writes; group_upkeep.cpp: the group read and the group's decision). Not for
// anything outside sync/io: the heavy Asio includes stay behind engine.hpp.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "domain/text.hpp"
#include "store/attempt.hpp"
#include "store/store.hpp"
#include "sync/io/budget.hpp"
#include "sync/io/engine.hpp"
#include "sync/io/http_client.hpp"
#include "sync/machines/batch_send.hpp"
#include "sync/machines/page_fetch.hpp"
#include "sync/platform/client_assertion.hpp"
#include "sync/platform/token.hpp"
#include "sync/policy/source_refusals.hpp"

namespace rostersync::sync::io {

using Clock = std::chrono::steady_clock;

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
                                               std::string_view peer, std::string_view endpoint);

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
  SourceRefusals refusals;  // ltiaas: whose key a 401 refused (the API key or one job's service key)
};

struct TargetLink {
  const config::Target* config;
  std::unique_ptr<HttpClient> http;
  RequestObserver observer;
  std::unique_ptr<OperationBudget> budget;
  std::unique_ptr<Breaker> breaker;  // across runs of every job writing to this target
};

Hold make_hold(HoldScope scope, const std::string& name, HoldKind kind, const std::string& reason);

// A hold's duration in whole seconds, at least one.
std::chrono::seconds whole_seconds(Millis m);

}  // namespace rostersync::sync::io

namespace rostersync::sync {
namespace asio = boost::asio;

struct Engine::Impl {
  using SourceLink = io::SourceLink;
  using TargetLink = io::TargetLink;
  using TokenTrouble = io::TokenTrouble;

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
  std::shared_ptr<const config::Config> jobs_config;  // a reloaded configuration the indexes point into

  // Runs whose end could not be recorded (the database failed then): failed,
  // with the error, as soon as a later store call works.
  struct UnrecordedRun {
    std::int64_t run_id;
    RunStats stats;
    std::string error;
  };
  std::vector<UnrecordedRun> unrecorded_runs;

  Impl(asio::any_io_executor ex, const config::Config& cfg, store::Store& st, EngineOptions options);
  void index_jobs(const config::Config& cfg);
  void record_unrecorded_runs();

  double draw() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); }
  // Waits `delay`, or less if a stop is requested meanwhile.
  asio::awaitable<void> sleep(std::chrono::milliseconds delay);
  void request_stop();
  void abort_in_flight();

  // One driver for every request machine (token fetch, page fetch, batch
  // send; sync/machines), after Boost.MySQL's top-level algorithm: it
  // performs `send` and `wait` actions until the machine asks for anything
  // else, and returns that action. The machines differ only in what their
  // events carry; `ops` builds them and makes the request:
  //   ops.attempt(action) -> awaitable<Result<HttpResponse>>: one request
  //   ops.responded(response), ops.waited(): the machine's events
  //   ops.retrying(): a failed attempt is about to be retried (log it)
  // Back-offs are cut short by a stop.
  template <class Machine, class Action, class Ops>
  asio::awaitable<Action> perform_attempts(Machine& machine, Action action, Ops ops) {
    using Kind = typename Action::Kind;
    while (action.kind == Kind::send || action.kind == Kind::wait) {
      if (action.kind == Kind::send) {
        Result<HttpResponse> response = co_await ops.attempt(action);
        action = machine.resume(ops.responded(response));
        if (action.kind == Kind::wait) ops.retrying();
      } else {
        co_await sleep(action.delay);
        action = machine.resume(ops.waited());
      }
    }
    co_return action;
  }

  // The platform's bearer token: the cached one, else a new one (one fetch
  // for all its jobs at a time). `refused`: the token a page was refused
  // with, dropped first. Returns the token or why there is none.
  asio::awaitable<std::variant<std::string, TokenTrouble>> bearer_token(SourceLink& source, const std::string& refused,
                                                                        spdlog::logger& log);
  // Drives one page fetch. A refused token is renewed through bearer_token;
  // when that fails, `trouble` says why and the fetch is over.
  asio::awaitable<void> fetch_page(SourceLink& source, const std::string& url, io::PageAuth& auth,
                                   PageFetchMachine& fetch, std::optional<TokenTrouble>& trouble, spdlog::logger& log);
  asio::awaitable<JobReport> run_job(config::Job job, std::function<void()> on_walk_end);
};

}  // namespace rostersync::sync

namespace rostersync::sync::io {

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
  void note_store_failure(const Failure& f) {
    if (f.kind == FailureKind::store_busy) store_busy = true;
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
    // A refusal (blocked) may be the password: say what to run once it is fixed.
    std::string reason = request.reason;
    if (request.kind == HoldKind::blocked) {
      reason += "; if the password is what it refused: " + config::after_fixing(target.config->password);
    }
    Hold hold = make_hold(HoldScope::target, target.config->name, request.kind, reason);
    Result<Done> recorded = store::attempt([&] { store.set_hold(hold, whole_seconds(request.duration)); });
    hold_set_for = request.duration;
    std::string why = describe(hold) + " (next try in " + std::to_string(whole_seconds(request.duration).count()) + " s)";
    if (!recorded) {  // this run stops sending all the same; the next one meets the cause again
      note_store_failure(recorded.failure());
      why += "; the hold could not be recorded: " + recorded.failure().describe();
    }
    stop_target(std::move(why));
  }
};

}  // namespace rostersync::sync::io
