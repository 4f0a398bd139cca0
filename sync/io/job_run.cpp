#include "sync/io/job_run.hpp"

#include <spdlog/spdlog.h>

#include <optional>
#include <utility>
#include <variant>

#include "domain/text.hpp"
#include "store/attempt.hpp"
#include "sync/io/batch_sender.hpp"
#include "sync/io/group_upkeep.hpp"
#include "sync/io/log_fields.hpp"
#include "sync/ltiaas/pager.hpp"
#include "sync/ltiaas/request.hpp"
#include "sync/machines/run.hpp"
#include "sync/policy/run_outcome.hpp"
#include "sync/platform/pager.hpp"
#include "sync/planning/planner.hpp"
#include "sync/planning/removals.hpp"

namespace rostersync::sync::io {
namespace {

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

// One job's run, as the run machine (sync/machines/run.hpp) asks for it:
// each action is performed by one method and reported back as the machine's
// event. A store failure ends the action as the machine's failure; batches
// in flight are still drained.
class JobRun {
 public:
  // `job` is the run's own copy: a hierarchy_id template is filled in from the first page.
  JobRun(Engine::Impl& engine, config::Job& job, JobReport& report, std::shared_ptr<spdlog::logger> log, bool probing)
      : engine_(engine), job_(job), report_(report), log_(log),
        source_(engine.sources.at(job.source)), target_(engine.targets.at(job.target)),
        platform_(source_.config->kind == config::SourceKind::lti_platform),
        run_(job, target_, engine.store, engine, report.run_id, std::move(log)), sender_(engine.executor, run_),
        plan_opts_(plan_options(job)), machine_(RunSettings{platform_, platform_, plan_opts_}, make_pager()),
        options_digest_(sync::options_digest(plan_opts_, target_.config->name)) {
    run_.progress.job = job.name;
    run_.probing = probing;
    if (!platform_) auth_.header = ltiaas_authorization(*source_.config, job);
  }

  // Performs what the machine asks for until it finishes. `walk_end` is
  // called as soon as nothing more is to be read (another walk may start).
  asio::awaitable<void> drive(const std::function<void()>& walk_end) {
    RunAction action = machine_.resume({engine_.stopping, run_.target_stopped});
    while (action.kind != RunAction::Kind::finish) {
      if (action.walk_read) walk_end();
      std::optional<Result<RunMachine::Event>> performed;
      try {
        performed = co_await perform(action);
      } catch (const std::exception& e) {
        // A bug, not the store or a peer (their failures are values): this
        // run fails loudly and the daemon goes on with every other course,
        // rather than one course's data stopping them all.
        log_->error("job {}: unexpected error: {}", job_.name, e.what());
        action = machine_.fail(std::string("unexpected error: ") + e.what());
        continue;
      }
      Result<RunMachine::Event>& ev = *performed;
      if (!ev) {  // the state database failed: the machine ends the run as failed
        run_.note_store_failure(ev.failure());
        action = machine_.fail(ev.failure().describe());
        continue;
      }
      ev->stopping = engine_.stopping;
      ev->target_stopped = run_.target_stopped;
      action = machine_.resume(std::move(*ev));
    }
  }

  // Settles the snapshot and records the run's end; fills the report.
  void close(std::chrono::steady_clock::time_point started);

 private:
  std::unique_ptr<RosterPager> make_pager() const {
    if (platform_) {
      return std::make_unique<PlatformPager>(PlatformPagerSettings{job_.memberships_url,
                                                                   url_origin(source_.config->base_url), job_.role_filter,
                                                                   job_.resource_link_id, job_.page_limit,
                                                                   job_.max_pages, job_.max_members});
    }
    return std::make_unique<LtiaasPager>(PagerSettings{source_.config->base_url, job_.role_filter, job_.resource_link_id,
                                                       job_.page_limit, job_.max_pages, job_.max_members});
  }

  // Every store call goes through store::attempt: a failure comes back as a value.
  asio::awaitable<Result<RunMachine::Event>> perform(const RunAction& action) {
    RunMachine::Event ev;
    switch (action.kind) {
      case RunAction::Kind::get_token: co_return co_await get_token();
      case RunAction::Kind::fetch_page: co_return co_await fetch_page(action);
      case RunAction::Kind::hold_job: {
        Result<std::string> held = store::attempt([&] { return hold(action); });
        if (!held) co_return held.failure();
        ev.error = *held;
        break;
      }
      case RunAction::Kind::use_hierarchy: {
        log_->debug("job {}: hierarchy_id '{}' is '{}' for this roster", job_.name, job_.hierarchy_id,
                    action.hierarchy_id);
        job_.hierarchy_id = action.hierarchy_id;
        plan_opts_.hierarchy_id = job_.hierarchy_id;
        Result<Done> noted = store::attempt([&] { engine_.store.set_run_hierarchy(report_.run_id, job_.hierarchy_id); });
        if (!noted) co_return noted.failure();
        break;
      }
      case RunAction::Kind::read_group: {
        // Adopted memberships are rostersync's only while every job of the group says own_adopted.
        Result<std::vector<FeedingJob>> jobs = store::attempt([&] { return feeding_jobs(run_, job_); });
        if (!jobs) co_return jobs.failure();
        const GroupPolicy policy = group_policy(*jobs);
        plan_opts_.own_adopted = policy.own_adopted;
        // What the walk saw matters to a group with removals on, or fed by several jobs
        // (one job's absence must not hide another's role); else it costs memory for nothing.
        machine_.track_presence(job_.remove_departed || policy.remove || jobs->size() > 1);
        options_digest_ = sync::options_digest(plan_opts_, target_.config->name);
        Result<std::string> read = co_await read_group_if_due(run_, job_);
        if (!read) co_return read.failure();
        ev.error = *read;
        break;
      }
      case RunAction::Kind::plan_page: {
        Result<Done> planned = store::attempt([&] { plan_roster_page(action.page_number); });
        if (!planned) co_return planned.failure();
        break;
      }
      case RunAction::Kind::wait_for_room: co_await sender_.wait_for_room(); break;
      case RunAction::Kind::drain: co_await sender_.finish(); break;
      case RunAction::Kind::settle_group: {
        Result<std::vector<PlannedWrite>> removals =
            store::attempt([&] { return settle_group(run_, job_, machine_, report_, walk_not_counted_); });
        if (!removals) co_return removals.failure();
        // Deletions are sent only while the target still takes writes.
        if (!run_.target_stopped) {
          for (auto& w : *removals) sender_.enqueue(std::move(w));
        }
        break;
      }
      case RunAction::Kind::finish: break;
    }
    co_return ev;
  }

  // A configuration error the walk met. A key LTIAAS refused (401) is this
  // job's service key, unless several jobs of the source are refused with
  // none accepted: then it is the source's API key, and one source hold
  // (naming api_key_file) replaces the jobs' holds. Each hold says what to
  // run once the secret is fixed.
  std::string hold(const RunAction& action) {
    const std::chrono::seconds lasts = whole_seconds(action.hold_for);
    run_.hold_set_for = action.hold_for;
    if (refused_key_ && source_.refusals.refused(job_.name)) {
      const config::Source& source = *source_.config;
      Hold held = make_hold(HoldScope::source, source.name, HoldKind::blocked,
                            std::to_string(source_.refusals.jobs_refused()) + " jobs of this source were refused (HTTP 401) "
                            "and none accepted: its API key is the likely cause; " + config::after_fixing(source.api_key) +
                            " (last: " + action.error + ")");
      engine_.store.set_hold(held, lasts);
      for (const std::string& job : source_.refusals.jobs()) engine_.store.clear_hold(HoldScope::job, job);
      log_->error("job {}: {}", job_.name, describe(held));
      return describe(held);
    }
    std::string reason = action.error;
    if (refused_key_) reason += "; the service key is the likely cause: " + config::after_fixing(job_.service_key);
    Hold held = make_hold(HoldScope::job, job_.name, HoldKind::blocked, reason);
    engine_.store.set_hold(held, lasts);
    return describe(held);
  }

  // A token the platform will not give (a refused client, a bad key) holds
  // the source: every job of it waits for a fix, none asks again in a loop.
  // Returns the run's error ("" when the process is stopping).
  std::string token_failed(const TokenTrouble& trouble) {
    if (trouble.stopped) return std::string();
    std::string error = "source " + source_.config->name + ": " + trouble.error;
    if (trouble.hold_for) {
      Hold hold = make_hold(HoldScope::source, source_.config->name, HoldKind::blocked,
                            trouble.error + "; if the tool's key is what the platform refused: " +
                                config::after_fixing(source_.config->private_key));
      engine_.store.set_hold(hold, whole_seconds(*trouble.hold_for));
      run_.hold_set_for = *trouble.hold_for;
      error = describe(hold);
    }
    return error;
  }

  asio::awaitable<Result<RunMachine::Event>> get_token() {
    RunMachine::Event ev;
    auto token = co_await engine_.bearer_token(source_, "", *log_);
    if (auto* trouble = std::get_if<TokenTrouble>(&token)) {
      Result<std::string> error = store::attempt([&] { return token_failed(*trouble); });
      if (!error) co_return error.failure();
      ev.error = *error;
      ev.stopped = trouble->stopped;
    } else {
      auth_.token = std::get<std::string>(token);
    }
    co_return ev;
  }

  asio::awaitable<Result<RunMachine::Event>> fetch_page(const RunAction& action) {
    RunMachine::Event ev;
    if (platform_) {
      // A long walk outlives a token: the cache hands out the one in use
      // until shortly before it expires, then a new one is fetched here,
      // before a page is refused with it (a 401 stays the fallback).
      Result<RunMachine::Event> renewed = co_await get_token();
      if (!renewed || !renewed->error.empty() || renewed->stopped) co_return renewed;
    }
    auto page_started = Clock::now();
    PageFetchMachine fetch(source_.config->retry, redact_url(action.url), PagePaging{platform_, platform_, action.url});
    std::optional<TokenTrouble> trouble;
    co_await engine_.fetch_page(source_, action.url, auth_, fetch, trouble, *log_);
    if (trouble) {
      Result<std::string> error = store::attempt([&] { return token_failed(*trouble); });
      if (!error) co_return error.failure();
      ev.error = *error;
      ev.stopped = trouble->stopped || ev.error.empty();
    } else if (fetch.stopped()) {
      ev.stopped = true;
    } else if (!fetch.page_ready()) {
      ev.error = fetch.error();
      ev.hold_for = fetch.hold_for();
      refused_key_ = !platform_ && fetch.hold_for() && fetch.last_status() == 401;
    } else {
      if (!platform_) source_.refusals.accepted();
      ev.page = std::move(fetch.page());
    }
    log_->trace("job {}: page {} fetched in {} ms", job_.name, action.page_number,
                std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - page_started).count());
    co_return ev;
  }

  // The no-change pass: a page equal to one found settled before is counted
  // from its digest. Members that left show only in the set digest; then the
  // next run plans every page again, which marks every member it sees and
  // lets the snapshot be pruned exactly.
  void plan_roster_page(int page_number) {
    RosterPage& page = machine_.page();
    for (const Member& m : page.members) seen_.add(m.user_id);
    const std::uint64_t digest = page_digest(page, options_digest_);
    const std::string& target = target_.config->name;
    PagePlan plan;
    if (std::optional<PagePlan> settled = engine_.store.settled_page(job_.name, page_number, digest)) {
      plan = std::move(*settled);
      every_page_planned_ = false;
    } else {
      plan = plan_page(page, plan_opts_, report_.run_id, [&](const std::vector<std::string>& person_keys) {
        return engine_.store.find_memberships(target, job_.hierarchy_id, person_keys, job_.name);
      });
      run_.stats.new_members +=
          engine_.store.commit_page(report_.run_id, job_.name, target, job_.hierarchy_id, plan, page_number,
                                    plan.settles_when_sent ? std::optional(digest) : std::nullopt);
    }
    run_.stats.pages = page_number;
    run_.stats.add_page(plan);
    log_->debug("job {} page {}: {} members, {} to create, {} present, {} deferred, {} skipped", job_.name,
                page_number, plan.members, plan.writes.size(), plan.already_present, plan.deferred,
                plan.members - plan.already_present - plan.deferred - static_cast<int>(plan.writes.size()));
    run_.progress.pages = run_.stats.pages;
    run_.progress.members = run_.stats.members_seen;
    run_.progress.queued = run_.stats.creates_planned;
    run_.report();
    for (auto& c : plan.writes) sender_.enqueue(std::move(c));
  }

  Engine::Impl& engine_;
  config::Job& job_;
  JobReport& report_;
  std::shared_ptr<spdlog::logger> log_;
  SourceLink& source_;
  TargetLink& target_;
  const bool platform_;
  RunState run_;
  BatchSender sender_;
  PageAuth auth_;
  PlanOptions plan_opts_;
  RunMachine machine_;
  std::uint64_t options_digest_;
  MemberSetDigest seen_;
  bool every_page_planned_ = true;
  bool walk_not_counted_ = false;  // the group decision found the walk held (empty) or moved
  bool refused_key_ = false;       // LTIAAS answered the last page with 401: a key was refused
};

void JobRun::close(std::chrono::steady_clock::time_point started) {
  store::Store& store = engine_.store;
  RunStats& stats = run_.stats;
  if (machine_.repeated_members() > 0) {
    log_->info("job {}: {} member(s) came twice in this walk (the roster changed while it was paged); counted once",
               job_.name, machine_.repeated_members());
  }
  stats.walk_not_counted = walk_not_counted_ ? 1 : 0;
  stats.pending = engine_.dry_run ? 0 : stats.writes_planned() - stats.writes_confirmed() - stats.failed;
  RunVerdict verdict = decide_outcome({machine_.walk_complete(), machine_.walk_error(), run_.target_error,
                                       engine_.stopping, stats.pending, stats.failed});
  Result<Done> recorded = store::attempt([&] {
    store.transaction([&] {
      store.settle_pages(job_.name, report_.run_id,
                         verdict.outcome == RunOutcome::ok && stats.pending == 0 && stats.failed == 0 &&
                             stats.deferred == 0);
      // A walk that counted for nobody (an empty roster held, a roster that
      // moved) keeps the snapshot the next walk compares with.
      if (verdict.prune_snapshot && !walk_not_counted_ && !machine_.moved()) {
        store.forget_pages(job_.name, stats.pages);
        if (every_page_planned_) {
          store.prune_snapshot(job_.name, report_.run_id);
        } else if (store.snapshot_digest(job_.name) != seen_) {
          store.forget_pages(job_.name, 0);
          log_->info("job {}: members left the roster (or it repeated one); the next run plans every page again and "
                     "drops them from the snapshot", job_.name);
        }
      }
      store.finish_run(report_.run_id, stats, verdict.outcome, verdict.error);
    });
  });
  if (!recorded) {
    verdict.outcome = RunOutcome::failed;
    verdict.error = recorded.failure().describe();
    // The end record could not be written: it is written once the store works
    // again, so that the run does not stay `running` for the daemon's lifetime.
    engine_.unrecorded_runs.push_back({report_.run_id, stats, verdict.error});
    run_.note_store_failure(recorded.failure());
  }

  report_.outcome = verdict.outcome;
  report_.stats = stats;
  report_.would_send = std::move(run_.would_send);
  for (auto& w : run_.held_restores) report_.held_writes.push_back(std::move(w));
  report_.error = verdict.error;
  report_.retry_in = run_.hold_set_for;
  if (run_.store_busy) {
    // Another process held the database: try again soon, not an interval later.
    const auto soon = target_.config->retry.max_retry_delay;
    report_.retry_in = report_.retry_in ? std::min(*report_.retry_in, soon) : soon;
    log_->warn("job {}: the state database was busy (another process held it) or its disk full; the run is retried "
               "in {} s", job_.name, std::chrono::duration_cast<std::chrono::seconds>(soon).count());
  }
  report_.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  auto level = verdict.outcome == RunOutcome::ok ? spdlog::level::info : spdlog::level::warn;
  ScopedRecordFields summary_fields({{"MESSAGE_ID", kRunSummaryMessageId},
                                     {"OUTCOME", to_string(verdict.outcome)},
                                     {"CREATED", std::to_string(stats.created)},
                                     {"FAILED", std::to_string(stats.failed)}});
  log_->log(level,
            "job {} run {} {}{}: {} pages, {} members ({} new), {} created, {} already present, {} skipped, {} deferred, "
            "{} failed, {} pending in {:.1f}s{}{}{}",
            job_.name, report_.run_id, to_string(verdict.outcome), engine_.dry_run ? " (dry run, nothing sent)" : "",
            stats.pages, stats.members_seen, stats.new_members, stats.created, stats.already_present,
            stats.skipped_total(), stats.deferred, stats.failed, stats.pending, report_.seconds,
            describe_upkeep(stats), report_.error.empty() ? "" : ": ", report_.error);
}

}  // namespace

asio::awaitable<void> perform_run(Engine::Impl& engine, config::Job& job, JobReport& report,
                                  std::shared_ptr<spdlog::logger> log, bool probing,
                                  const std::function<void()>& walk_end, Clock::time_point started) {
  JobRun run(engine, job, report, std::move(log), probing);
  co_await run.drive(walk_end);
  walk_end();
  run.close(started);
}

}  // namespace rostersync::sync::io
