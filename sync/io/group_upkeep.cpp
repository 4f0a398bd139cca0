#include "sync/io/group_upkeep.hpp"

#include "store/attempt.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <unordered_set>

#include "domain/text.hpp"
#include "sync/imses/request.hpp"
#include "sync/imses/soap.hpp"
#include "sync/io/batch_sender.hpp"
#include "sync/planning/reconcile.hpp"

namespace rostersync::sync::io {

namespace {

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

std::vector<std::string> names_of(const std::vector<FeedingJob>& jobs) {
  std::vector<std::string> out;
  for (const FeedingJob& j : jobs) out.push_back(j.name);
  return out;
}

}  // namespace

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

namespace {

// Why the group is read now ("" = it is not): adoption before the first
// create, a reconcile that is due, or deletions in doubt.
std::string group_read_due(RunState& run, const config::Job& job) {
  const config::Target& target = *run.target.config;
  std::optional<std::chrono::milliseconds> age = run.store.group_read_age(target.name, job.hierarchy_id);
  const bool reconcile_due = job.reconcile_interval.count() > 0 && (!age || *age >= job.reconcile_interval);
  if (job.adopt_existing && !age) return "adoption";
  if (reconcile_due) return "reconcile";
  // A delete sent but not confirmed may have happened: a read tells, where
  // resending it could only be refused (the membership is gone).
  if (run.store.deletes_in_doubt(target.name, job.hierarchy_id)) return "deletions in doubt";
  return "";
}

void apply_group_read(RunState& run, const config::Job& job, const soap::GroupReadOutcome& read, const std::string& why);

}  // namespace

asio::awaitable<Result<std::string>> read_group_if_due(RunState& run, const config::Job& job) {
  const config::Target& target = *run.target.config;
  Result<std::string> why = store::attempt([&] { return group_read_due(run, job); });
  if (!why) co_return why.failure();
  if (why->empty()) co_return std::string();

  // The read goes through the same machine as a batch of one: the same
  // retries and back-off, and a rejected call (credentials) holds the target.
  co_await run.target.budget->acquire(1);  // a read holds one operation of the budget
  soap::Credentials credentials{target.username, target.password.reveal()};
  BatchSendMachine machine(target, redact_url(target.endpoint), {BatchItem{job.hierarchy_id, 0}});
  std::string body;
  int status = 0;
  co_await drive_batch(run, machine, "readMembershipsForGroup", [&](int attempt) -> asio::awaitable<Result<HttpResponse>> {
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
  if (result.items.empty() || result.items[0].fate != ItemResult::Fate::confirmed) {
    std::string why = result.items.empty() || result.items[0].error.empty() ? result.error : result.items[0].error;
    co_return "readMembershipsForGroup of '" + job.hierarchy_id + "' at " + redact_url(target.endpoint) + " failed: " +
        (why.empty() ? std::string("no answer") : why);
  }
  soap::GroupReadOutcome read = soap::interpret_group_read(status, body);
  if (read.kind != soap::BatchOutcome::Kind::per_item) {
    co_return "readMembershipsForGroup of '" + job.hierarchy_id + "' at " + redact_url(target.endpoint) +
        " failed: " + read.failure.describe();
  }
  Result<Done> applied = store::attempt([&] { apply_group_read(run, job, read, *why); });
  if (!applied) co_return applied.failure();
  co_return std::string();
}

namespace {

// What the read found, applied: adoption, restores (or their hold), and the log line.
void apply_group_read(RunState& run, const config::Job& job, const soap::GroupReadOutcome& read, const std::string& why) {
  const config::Target& target = *run.target.config;
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
                job.name, job.hierarchy_id, why, read.memberships.size(),
                plan.adopt.size(), plan.restore.size(), foreign,
                plan.duplicates.empty() ? std::string()
                                        : "; " + std::to_string(plan.duplicates.size()) +
                                              " person(s) hold a second membership (kept, never deleted), e.g. '" +
                                              clip_for_message(plan.duplicates.front().membership_id, 80) + "'");
}

}  // namespace

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

}  // namespace rostersync::sync::io
