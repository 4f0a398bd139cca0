// Store: keeping memberships right over time (store.hpp's last section):
// a group's rows and listings, walks and the group's decision, removals,
// write holds and their decisions, group reads (adoption and restore).
#include "store/store.hpp"

#include <algorithm>
#include <string>

#include "store/holds.hpp"
#include "store/membership_rows.hpp"

namespace rostersync::store {

std::vector<GroupRow> Store::group_rows(const std::string& target, const std::string& hierarchy_id) {
  Stmt& s = cached(
      "SELECT membership_id, person_key, role_type, job, state, op, origin, COALESCE(departure, ''), "
      "removal_approved, removal_rejected, COALESCE(held, ''), COALESCE(held_since, ''), withdrawn FROM membership "
      "WHERE target=? AND hierarchy_id=?");
  s.bind(1, target).bind(2, hierarchy_id);
  std::vector<GroupRow> rows;
  while (s.step()) {
    GroupRow r;
    r.membership_id = s.text(0);
    r.person_key = s.text(1);
    r.role_type = s.text(2);
    r.job = s.text(3);
    r.state = parse_state(s.text(4));
    r.op = parse_op(s.text(5));
    r.adopted = s.text(6) == "adopted";
    r.departure = s.text(7);
    r.removal_approved = s.integer(8) != 0;
    r.removal_rejected = s.integer(9) != 0;
    r.held = s.text(10);
    r.held_since = s.text(11);
    r.withdrawn = s.integer(12) != 0;
    rows.push_back(std::move(r));
  }
  s.reset();
  return rows;
}

std::vector<Listing> Store::listings(const std::string& target, const std::string& hierarchy_id) {
  Stmt& s = cached(
      "SELECT job, person_key, role_type, inactive, absent_walks FROM listing WHERE target=? AND hierarchy_id=?");
  s.bind(1, target).bind(2, hierarchy_id);
  std::vector<Listing> out;
  while (s.step()) {
    out.push_back({s.text(0), s.text(1), s.text(2), s.integer(3) != 0, static_cast<int>(s.integer(4))});
  }
  s.reset();
  return out;
}

std::vector<std::string> Store::group_jobs(const std::string& target, const std::string& hierarchy_id) {
  Stmt& s = cached("SELECT DISTINCT job FROM listing WHERE target=? AND hierarchy_id=? ORDER BY job");
  s.bind(1, target).bind(2, hierarchy_id);
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.text(0));
  s.reset();
  return out;
}

void Store::record_walk(const std::string& target, const std::string& hierarchy_id, const std::string& job,
                        const std::vector<std::string>& absent, const std::vector<std::string>& back) {
  durable(false);
  Transaction tx(db_);
  Stmt& away = cached(std::string("INSERT INTO listing (target, hierarchy_id, person_key, job, absent_walks, "
                                  "absent_since) VALUES (?1, ?2, ?3, ?4, 1, ") +
                      kSqlNow + ") ON CONFLICT DO UPDATE SET absent_walks=absent_walks+1, " +
                      "absent_since=COALESCE(absent_since, excluded.absent_since)");
  for (const auto& person : absent) away.bind(1, target).bind(2, hierarchy_id).bind(3, person).bind(4, job).run();
  Stmt& seen = cached(
      "UPDATE listing SET absent_walks=0, absent_since=NULL WHERE target=? AND hierarchy_id=? AND person_key=? AND "
      "job=?");
  for (const auto& person : back) seen.bind(1, target).bind(2, hierarchy_id).bind(3, person).bind(4, job).run();
  if (!absent.empty() || !back.empty()) {
    Stmt& pages = cached(
        "DELETE FROM page_digest WHERE job IN (SELECT DISTINCT job FROM listing WHERE target=?1 AND hierarchy_id=?2 "
        "AND job<>?3)");
    pages.bind(1, target).bind(2, hierarchy_id).bind(3, job).run();
  }
  tx.commit();
}

void Store::record_group_decision(const std::string& target, const std::vector<std::string>& back,
                                  const std::vector<std::string>& released, const std::vector<PlannedWrite>& held) {
  durable(false);
  Transaction tx(db_);
  Stmt& reset = cached(
      "UPDATE membership SET departure=NULL, removal_approved=0, removal_rejected=0, held=NULL, held_since=NULL "
      "WHERE target=? AND membership_id=? AND (held IS NULL OR held='delete')");
  for (const auto& id : back) reset.bind(1, target).bind(2, id).run();
  Stmt& release = cached("UPDATE membership SET withdrawn=0 WHERE target=? AND membership_id=?");
  for (const auto& id : released) release.bind(1, target).bind(2, id).run();
  Stmt& flag = cached(std::string("UPDATE membership SET held='delete', departure=?, held_since=COALESCE(held_since, ") +
                      kSqlNow + ") WHERE target=? AND membership_id=?");
  for (const auto& w : held) flag.bind(1, w.reason).bind(2, target).bind(3, w.membership_id).run();
  tx.commit();
}

void Store::queue_removals(const std::string& target, std::int64_t run_id, const std::vector<PlannedWrite>& removals) {
  durable(false);  // made durable by mark_attempt() before any send
  if (!removals.empty()) ++ids_committed_;
  Transaction tx(db_);
  Stmt& s = cached(std::string("UPDATE membership SET op='delete', state='pending', departure=?, queued_run=?, "
                               "removal_approved=0, held=NULL, held_since=NULL, updated_at=") +
                   kSqlNow + " WHERE target=? AND membership_id=?");
  for (const auto& r : removals) s.bind(1, r.reason).bind(2, run_id).bind(3, target).bind(4, r.membership_id).run();
  tx.commit();
}

void Store::set_write_hold(const WriteHold& h, const std::vector<std::string>& jobs) {
  durable(false);
  Transaction tx(db_);
  Stmt& s = cached(std::string("INSERT INTO write_hold (job, kind, target, hierarchy_id, planned, base, reason, run_id, "
                               "since, updated_at, accepted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ") +
                   kSqlNow + ", " + kSqlNow +
                   ", ?) ON CONFLICT (job, kind, target, hierarchy_id) DO UPDATE SET planned=excluded.planned, "
                   "base=excluded.base, reason=excluded.reason, run_id=excluded.run_id, updated_at=excluded.updated_at, "
                   "accepted=excluded.accepted");
  for (const auto& job : jobs) {
    s.bind(1, job).bind(2, h.kind).bind(3, h.target).bind(4, h.hierarchy_id).bind(5, std::int64_t{h.planned});
    s.bind(6, std::int64_t{h.base}).bind(7, h.reason).bind(8, h.run_id).bind(9, std::int64_t{h.accepted ? 1 : 0}).run();
  }
  tx.commit();
}

void Store::clear_write_hold(const std::string& kind, const std::string& target, const std::string& hierarchy_id) {
  Stmt& s = cached("DELETE FROM write_hold WHERE kind=? AND target=? AND hierarchy_id=?");
  s.bind(1, kind).bind(2, target).bind(3, hierarchy_id).run();
}

std::optional<Store::WriteHold> Store::find_walk_hold(const std::string& job) {
  Stmt& s = cached(std::string("SELECT ") + kHoldColumns + " WHERE job=? AND kind='empty_roster'");
  s.bind(1, job);
  std::optional<WriteHold> found;
  if (s.step()) found = read_write_hold(s);
  s.reset();
  return found;
}

void Store::clear_walk_hold(const std::string& job) {
  Stmt& s = cached("DELETE FROM write_hold WHERE job=? AND kind='empty_roster'");
  s.bind(1, job).run();
}

std::vector<Store::HeldWrite> Store::held_writes(const std::string& target, const std::string& hierarchy_id,
                                                 const std::string& kind) {
  return read_held_writes(db_, target, hierarchy_id, kind);
}

std::vector<Store::WriteHold> Store::write_holds(const std::optional<std::string>& job) {
  return read_write_holds(db_, job);
}

std::variant<Store::HoldDecision, std::string> Store::decide_hold(const std::string& job, const std::string& hold_id,
                                                                  bool approve, const std::string& who,
                                                                  const std::string& reason) {
  durable(true);
  Transaction tx(db_);
  std::vector<WriteHold> holds = write_holds(job);
  auto it = std::find_if(holds.begin(), holds.end(), [&](const WriteHold& h) { return h.id == hold_id; });
  if (it == holds.end()) {
    std::string known;
    for (const auto& h : holds) known += (known.empty() ? "" : ", ") + h.id + " (" + h.kind + ")";
    return holds.empty() ? "job " + job + " has no writes awaiting approval"
                         : "job " + job + " has no hold " + hold_id + " (it changed since it was shown, or never was); "
                               "holds now: " + known + "; `rostersync status --job " + job + "` lists them";
  }
  HoldDecision d{*it, 0};
  const WriteHold& h = d.hold;
  auto run_sql = [&](const char* sql) {
    Stmt s(db_, sql);
    s.bind(1, h.target).bind(2, h.hierarchy_id).run();
    d.writes += db_.changes();
  };
  if (h.kind == "delete") {
    run_sql(approve ? "UPDATE membership SET removal_approved=1, held=NULL WHERE target=?1 AND hierarchy_id=?2 AND "
                      "held='delete'"
                    : "UPDATE membership SET removal_rejected=1, removal_approved=0, departure=NULL, held=NULL, "
                      "held_since=NULL WHERE target=?1 AND hierarchy_id=?2 AND held='delete'");
  } else if (h.kind == "restore") {
    run_sql(approve ? "UPDATE membership SET state='pending', op='create', queued_run=NULL, held=NULL, held_since=NULL "
                      "WHERE target=?1 AND hierarchy_id=?2 AND held='restore'"
                    : "UPDATE membership SET state='deleted', withdrawn=1, held=NULL, held_since=NULL WHERE "
                      "target=?1 AND hierarchy_id=?2 AND held='restore'");
    // The group's pages are planned one by one again: the planner sends the restores.
    Stmt pages(db_, "DELETE FROM page_digest WHERE job IN (SELECT DISTINCT job FROM listing WHERE target=?1 AND "
                    "hierarchy_id=?2)");
    pages.bind(1, h.target).bind(2, h.hierarchy_id).run();
  } else {
    d.writes = h.planned;
  }
  if (h.kind == "empty_roster") {
    Stmt s(db_, approve ? "UPDATE write_hold SET accepted=1 WHERE job=? AND kind='empty_roster'"
                        : "DELETE FROM write_hold WHERE job=? AND kind='empty_roster'");
    s.bind(1, job).run();
  } else {
    clear_write_hold(h.kind, h.target, h.hierarchy_id);
  }
  Stmt record(db_, std::string("INSERT INTO decision (at, who, action, job, kind, target, hierarchy_id, hold_id, "
                               "writes, reason) VALUES (") +
                       kSqlNow + ", ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  record.bind(1, who).bind(2, std::string(approve ? "approve" : "reject")).bind(3, job).bind(4, h.kind);
  record.bind(5, h.target).bind(6, h.hierarchy_id).bind(7, hold_id).bind(8, std::int64_t{d.writes});
  if (reason.empty()) record.bind_null(9);
  else record.bind(9, reason);
  record.run();
  tx.commit();
  return d;
}

std::optional<std::chrono::milliseconds> Store::group_read_age(const std::string& target,
                                                               const std::string& hierarchy_id) {
  Stmt& s = cached(
      "SELECT CAST(round((julianday('now') - julianday(read_at)) * 86400000) AS INTEGER) FROM group_read WHERE "
      "target=? AND hierarchy_id=?");
  s.bind(1, target).bind(2, hierarchy_id);
  std::optional<std::chrono::milliseconds> age;
  if (s.step()) age = std::chrono::milliseconds(s.integer(0));
  s.reset();
  return age;
}

void Store::apply_group_read(const std::string& target, const std::string& hierarchy_id, const std::string& job,
                             std::int64_t run_id, int listed, const ReconcilePlan& plan,
                             const std::vector<std::string>& held_restores) {
  durable(false);
  Transaction tx(db_);
  // Whether rostersync owns an adopted membership is decided from the
  // configuration when a write is planned (origin 'adopted'), never stored.
  Stmt& rekey = cached(std::string("UPDATE membership SET membership_id=?, role_type=?, state='created', op='create', "
                                   "origin='adopted', queued_run=NULL, refusals=0, next_attempt_at=NULL, "
                                   "last_error=NULL, departure=NULL, held=NULL, held_since=NULL, updated_at=") +
                       kSqlNow + " WHERE target=? AND membership_id=?");
  Stmt& insert = cached(std::string("INSERT OR IGNORE INTO membership (target, membership_id, hierarchy_id, person_key, "
                                    "role_type, job, state, op, origin, created_at, updated_at) VALUES (?, ?, ?, "
                                    "?, ?, ?, 'created', 'create', 'adopted', ") +
                        kSqlNow + ", " + kSqlNow + ")");
  for (const auto& a : plan.adopt) {
    if (a.replaces) {
      rekey.bind(1, a.found.membership_id).bind(2, a.found.role_type);
      rekey.bind(3, target).bind(4, *a.replaces).run();
    } else {
      insert.bind(1, target).bind(2, a.found.membership_id).bind(3, hierarchy_id).bind(4, a.found.person_key);
      insert.bind(5, a.found.role_type).bind(6, job).run();
    }
  }
  // Restores held by an earlier read are judged again by this one.
  Stmt& unhold = cached("UPDATE membership SET held=NULL, held_since=NULL WHERE target=? AND hierarchy_id=? AND "
                        "held='restore'");
  unhold.bind(1, target).bind(2, hierarchy_id).run();
  Stmt& hold = cached(std::string("UPDATE membership SET held='restore', held_since=COALESCE(held_since, ") + kSqlNow +
                      ") WHERE target=? AND membership_id=?");
  for (const auto& id : held_restores) hold.bind(1, target).bind(2, id).run();
  Stmt& lost = cached(std::string("UPDATE membership SET state='deleted', withdrawn=1, updated_at=") + kSqlNow +
                      " WHERE target=? AND membership_id=?");
  for (const auto& id : plan.lost_foreign) lost.bind(1, target).bind(2, id).run();
  Stmt& confirm = cached(std::string("UPDATE membership SET state='created', op='create', role_type=?, refusals=0, "
                                     "next_attempt_at=NULL, last_error=NULL, updated_at=") +
                         kSqlNow + " WHERE target=? AND membership_id=?");
  for (const auto& c : plan.confirm) confirm.bind(1, c.role_type).bind(2, target).bind(3, c.membership_id).run();
  Stmt& restore = cached(std::string("UPDATE membership SET state='pending', op='create', queued_run=NULL, updated_at=") +
                         kSqlNow + " WHERE target=? AND membership_id=?");
  for (const auto& id : plan.restore) restore.bind(1, target).bind(2, id).run();
  Stmt& gone = cached(std::string("UPDATE membership SET state='deleted', updated_at=") + kSqlNow +
                      " WHERE target=? AND membership_id=?");
  for (const auto& id : plan.gone) gone.bind(1, target).bind(2, id).run();
  Stmt& read = cached(std::string("INSERT INTO group_read (target, hierarchy_id, read_at, run_id, memberships, adopted, "
                                  "restored, foreign_memberships) VALUES (?, ?, ") +
                      kSqlNow +
                      ", ?, ?, ?, ?, ?) ON CONFLICT (target, hierarchy_id) DO UPDATE SET read_at=excluded.read_at, "
                      "run_id=excluded.run_id, memberships=excluded.memberships, adopted=excluded.adopted, "
                      "restored=excluded.restored, foreign_memberships=excluded.foreign_memberships");
  read.bind(1, target).bind(2, hierarchy_id).bind(3, run_id).bind(4, std::int64_t{listed});
  read.bind(5, static_cast<std::int64_t>(plan.adopt.size())).bind(6, static_cast<std::int64_t>(plan.restore.size()));
  read.bind(7, static_cast<std::int64_t>(plan.duplicates.size())).run();
  // Anything stored changed: the pages of every job of the group are planned one by one again.
  if (plan.changes()) {
    Stmt& pages = cached(
        "DELETE FROM page_digest WHERE job=?1 OR job IN (SELECT DISTINCT job FROM listing WHERE target=?2 AND "
        "hierarchy_id=?3)");
    pages.bind(1, job).bind(2, target).bind(3, hierarchy_id).run();
  }
  tx.commit();
}

std::map<std::string, std::vector<PlannedWrite>> Store::owned_memberships(const std::string& job) {
  Stmt s(db_,
         "SELECT m.target, m.membership_id, m.person_key, m.role_type FROM membership m WHERE m.origin='created' AND "
         "(m.job=?1 OR EXISTS (SELECT 1 FROM listing l WHERE l.target=m.target AND l.hierarchy_id=m.hierarchy_id AND "
         "l.person_key=m.person_key AND l.job=?1 AND l.role_type<>'')) AND "
         "NOT EXISTS (SELECT 1 FROM listing o WHERE o.target=m.target AND o.hierarchy_id=m.hierarchy_id AND "
         "o.person_key=m.person_key AND o.job<>?1 AND o.absent_walks=0) AND "
         "(m.state='created' OR (m.state IN ('pending', 'failed') AND (m.op<>'create' OR m.attempts > 0))) "
         "ORDER BY m.target, m.membership_id");
  s.bind(1, job);
  std::map<std::string, std::vector<PlannedWrite>> out;
  while (s.step()) {
    PlannedWrite w;
    w.membership_id = s.text(1);
    w.person_key = s.text(2);
    w.role_type = s.text(3);
    w.is_new = false;
    w.op = MembershipOp::remove;
    w.reason = "forgotten";
    out[s.text(0)].push_back(std::move(w));
  }
  return out;
}

bool Store::deletes_in_doubt(const std::string& target, const std::string& hierarchy_id) {
  Stmt& s = cached(
      "SELECT EXISTS (SELECT 1 FROM membership WHERE target=? AND hierarchy_id=? AND op='delete' AND state IN "
      "('pending', 'failed') AND attempts > 0)");
  s.bind(1, target).bind(2, hierarchy_id);
  bool found = s.step() && s.integer(0) != 0;
  s.reset();
  return found;
}

int Store::forget_group_reads(const std::string& job, const std::string& target) {
  Stmt s(db_,
         "DELETE FROM group_read WHERE target=?1 AND hierarchy_id IN (SELECT hierarchy_id FROM run WHERE job=?2 AND "
         "hierarchy_id IS NOT NULL UNION SELECT hierarchy_id FROM membership WHERE job=?2 AND target=?1)");
  s.bind(1, target).bind(2, job).run();
  return db_.changes();
}

}  // namespace rostersync::store
