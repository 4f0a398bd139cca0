// Store: holds and schedule: the holds on jobs, sources and targets that
// stop sending (a refused credential, an open breaker), and when the daemon
// next starts each job.
#include "store/store.hpp"

#include <string>

namespace rostersync::store {

void Store::set_hold(const Hold& hold, std::chrono::seconds duration) {
  Stmt s(db_, std::string("INSERT INTO hold (scope, name, kind, reason, since, until) VALUES (?, ?, ?, ?, ") + kSqlNow +
                  ", strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ? || ' seconds')) ON CONFLICT (scope, name) DO UPDATE SET "
                  "kind=excluded.kind, reason=excluded.reason, until=excluded.until, "
                  "since=CASE WHEN hold.kind=excluded.kind THEN hold.since ELSE excluded.since END");
  s.bind(1, std::string(to_string(hold.scope)))
      .bind(2, hold.name)
      .bind(3, std::string(to_string(hold.kind)))
      .bind(4, hold.reason);
  s.bind(5, std::to_string(duration.count())).run();
}

std::optional<Hold> Store::find_hold(HoldScope scope, const std::string& name) {
  Stmt& s = prepared(find_hold_,
                     "SELECT kind, reason, since, until, CAST(round((julianday(until) - julianday('now')) * 86400000) "
                     "AS INTEGER) FROM hold WHERE scope=? AND name=?");
  s.bind(1, std::string(to_string(scope))).bind(2, name);
  std::optional<Hold> found;
  if (s.step()) {
    // The schema's CHECK allows only the two kinds.
    HoldKind kind = parse_hold_kind(s.text(0)).value_or(HoldKind::blocked);
    found = Hold{scope, name, kind, s.text(1), s.text(2), s.text(3), std::chrono::milliseconds(s.integer(4))};
  }
  s.reset();
  return found;
}

void Store::clear_hold(HoldScope scope, const std::string& name) {
  Stmt s(db_, "DELETE FROM hold WHERE scope=? AND name=?");
  s.bind(1, std::string(to_string(scope))).bind(2, name).run();
}

namespace {

// Every row of a statement that yields scope, name, kind, reason, since, until.
std::vector<Hold> read_holds(Stmt& s) {
  std::vector<Hold> holds;
  while (s.step()) {
    Hold h;
    h.scope = parse_hold_scope(s.text(0)).value_or(HoldScope::job);
    h.name = s.text(1);
    h.kind = parse_hold_kind(s.text(2)).value_or(HoldKind::blocked);
    h.reason = s.text(3);
    h.since = s.text(4);
    h.until = s.text(5);
    holds.push_back(std::move(h));
  }
  return holds;
}

}  // namespace

std::vector<Hold> Store::clear_holds() {
  Stmt s(db_, "DELETE FROM hold RETURNING scope, name, kind, reason, since, until");
  return read_holds(s);
}

std::vector<Hold> Store::active_holds() {
  Stmt s(db_, std::string("SELECT scope, name, kind, reason, since, until FROM hold WHERE until > ") + kSqlNow +
                  " ORDER BY scope, name");
  return read_holds(s);
}


void Store::set_next_run(const std::string& job, std::int64_t seconds_from_now) {
  Stmt& s = cached(
      "INSERT INTO job_schedule (job, next_run_at, written_at) VALUES (?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ? || "
      "' seconds'), strftime('%Y-%m-%dT%H:%M:%SZ', 'now')) "
      "ON CONFLICT (job) DO UPDATE SET next_run_at=excluded.next_run_at, written_at=excluded.written_at");
  s.bind(1, job).bind(2, std::to_string(seconds_from_now)).run();
}

void Store::set_next_runs(const std::vector<std::pair<std::string, std::int64_t>>& runs) {
  Transaction tx(db_);
  for (const auto& [job, seconds] : runs) set_next_run(job, seconds);
  tx.commit();
}

std::map<std::string, Store::PlannedRun> Store::planned_runs() {
  std::map<std::string, PlannedRun> out;
  Stmt planned(
      db_,
      "SELECT job, CAST(round((julianday(next_run_at) - julianday('now')) * 86400000) AS INTEGER) FROM job_schedule");
  while (planned.step()) out[planned.text(0)].planned_in = std::chrono::milliseconds(planned.integer(1));
  Stmt ran(db_, "SELECT DISTINCT job FROM run WHERE outcome <> 'running'");
  while (ran.step()) out[ran.text(0)].has_run = true;
  return out;
}

}  // namespace rostersync::store
