// Store: runs and pages (store.hpp's first section): a run's record, the
// pages a walk commits with their new membership ids, the page digests that
// let an unchanged page be skipped, and the roster snapshot.
#include "store/store.hpp"

#include <sstream>
#include <string>

namespace rostersync::store {

namespace {

// The counts a later walk reports for this page once it is settled: its creates are present by then.
std::string counts_text(const PagePlan& plan) {
  std::string out =
      std::to_string(plan.members) + " " + std::to_string(plan.already_present + static_cast<int>(plan.writes.size()));
  for (int n : plan.skipped) out += " " + std::to_string(n);
  return out;
}

std::optional<PagePlan> parse_counts(const std::string& text) {
  std::istringstream in(text);
  PagePlan plan;
  in >> plan.members >> plan.already_present;
  for (int& n : plan.skipped) in >> n;
  if (!in) return std::nullopt;  // written by another version: plan the page afresh
  plan.settled = true;
  return plan;
}

}  // namespace

int Store::close_abandoned_runs() {
  Stmt s(db_, std::string("UPDATE run SET outcome='interrupted', ended_at=") + kSqlNow +
                  ", error='the process ended during the run' WHERE outcome='running'");
  s.run();
  return db_.changes();
}

std::int64_t Store::begin_run(const std::string& job, const std::string& hierarchy_id) {
  durable(false);
  Stmt& s = prepared(begin_run_, std::string("INSERT INTO run (job, started_at, outcome, hierarchy_id) VALUES (?, ") +
                                     kSqlNow + ", 'running', ?)");
  s.bind(1, job).bind_or_null(2, hierarchy_id).run();
  return db_.last_insert_rowid();
}

void Store::set_run_hierarchy(std::int64_t run_id, const std::string& hierarchy_id) {
  Stmt s(db_, "UPDATE run SET hierarchy_id=? WHERE run_id=?");
  s.bind(1, hierarchy_id).bind(2, run_id).run();
}

void Store::finish_run(std::int64_t run_id, const RunStats& st, RunOutcome outcome, const std::string& error) {
  Stmt& s = prepared(
      finish_run_,
      std::string("UPDATE run SET ended_at=") + kSqlNow +
          ", outcome=?, pages=?, members_seen=?, new_members=?, already_present=?, creates_planned=?, created=?, "
          "failed=?, pending=?, skipped_inactive=?, skipped_test_user=?, skipped_no_person_key=?, "
          "skipped_invalid_person_key=?, skipped_unmapped_role=?, skipped_malformed=?, error=?, deferred=?, "
          "skipped_role_filter=?, updates_planned=?, updated=?, deletes_planned=?, deleted=?, deletes_held=?, "
          "adopted=?, restored=?, foreign_memberships=?, restores_held=?, not_owned_role_differs=?, walk_not_counted=? "
          "WHERE run_id=?");
  using R = SkipReason;
  auto skip = [&](R r) { return static_cast<std::int64_t>(st.skipped[static_cast<std::size_t>(r)]); };
  s.bind(1, std::string(to_string(outcome)))
      .bind(2, st.pages)
      .bind(3, st.members_seen)
      .bind(4, st.new_members)
      .bind(5, st.already_present)
      .bind(6, st.creates_planned)
      .bind(7, st.created)
      .bind(8, st.failed)
      .bind(9, st.pending)
      .bind(10, skip(R::inactive))
      .bind(11, skip(R::test_user))
      .bind(12, skip(R::no_person_key))
      .bind(13, skip(R::invalid_person_key))
      .bind(14, skip(R::unmapped_role))
      .bind(15, skip(R::malformed));
  if (error.empty()) s.bind_null(16);
  else s.bind(16, error);
  s.bind(17, st.deferred).bind(18, skip(R::role_filter));
  s.bind(19, st.updates_planned).bind(20, st.updated).bind(21, st.deletes_planned).bind(22, st.deleted);
  s.bind(23, st.deletes_held).bind(24, st.adopted).bind(25, st.restored).bind(26, st.foreign);
  s.bind(27, st.restores_held).bind(28, st.not_owned_role_differs).bind(29, st.walk_not_counted);
  s.bind(30, run_id).run();
}

std::optional<PagePlan> Store::settled_page(const std::string& job, int page_number, std::uint64_t digest) {
  Stmt& s = prepared(settled_page_, "SELECT counts FROM page_digest WHERE job=? AND page=? AND digest=? AND settled=1");
  s.bind(1, job).bind(2, page_number).bind(3, static_cast<std::int64_t>(digest));
  std::optional<PagePlan> plan;
  if (s.step()) plan = parse_counts(s.text(0));
  s.reset();
  return plan;
}

void Store::settle_pages(const std::string& job, std::int64_t run_id, bool confirmed) {
  Stmt& s = prepared(settle_pages_[confirmed ? 1 : 0],
                     confirmed ? "UPDATE page_digest SET settled=1 WHERE job=? AND run_id=? AND settled=0"
                               : "DELETE FROM page_digest WHERE job=? AND run_id=? AND settled=0");
  s.bind(1, job).bind(2, run_id).run();
}

void Store::forget_pages(const std::string& job, int last_page) {
  Stmt& s = prepared(forget_pages_, "DELETE FROM page_digest WHERE job=? AND page>?");
  s.bind(1, job).bind(2, last_page).run();
}

MemberSetDigest Store::snapshot_digest(const std::string& job) {
  Stmt& s = cached("SELECT user_id FROM roster_member WHERE job=?");
  s.bind(1, job);
  MemberSetDigest digest;
  while (s.step()) digest.add(s.text(0));
  s.reset();
  return digest;
}

int Store::commit_page(std::int64_t run_id, const std::string& job, const std::string& target,
                       const std::string& hierarchy_id, const PagePlan& plan, int page_number,
                       std::optional<std::uint64_t> digest) {
  durable(false);  // made durable by mark_attempt() before any send
  if (!plan.writes.empty()) ++ids_committed_;  // new ids, and intents (role changes) that must survive a crash
  Transaction tx(db_);
  int new_members = 0;
  {
    Stmt& upsert = cached(std::string("INSERT INTO roster_member (job, user_id, person_key, roles, status, outcome, "
                                      "first_seen_run, last_seen_run, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ") +
                          kSqlNow +
                          ") ON CONFLICT (job, user_id) DO UPDATE SET person_key=excluded.person_key, "
                          "roles=excluded.roles, status=excluded.status, outcome=excluded.outcome, "
                          "last_seen_run=excluded.last_seen_run, last_seen_at=excluded.last_seen_at "
                          "RETURNING first_seen_run");
    // What this job says of each person: its listing in the group. A change
    // (a new person, another role, Inactive, back after an absence) makes
    // the group's other jobs plan their pages again.
    Stmt& listing = cached(
        "INSERT INTO listing (target, hierarchy_id, person_key, job, role_type, inactive, absent_walks) VALUES (?, ?, "
        "?, ?, ?, ?, 0) ON CONFLICT DO UPDATE SET role_type=excluded.role_type, inactive=excluded.inactive, "
        "absent_walks=0, absent_since=NULL WHERE role_type<>excluded.role_type OR inactive<>excluded.inactive OR "
        "absent_walks<>0");
    int listings_changed = 0;
    for (const auto& row : plan.snapshot) {
      if (!row.person_key.empty() && !hierarchy_id.empty()) {
        listing.bind(1, target).bind(2, hierarchy_id).bind(3, row.person_key).bind(4, job).bind(5, row.role_type);
        listing.bind(6, std::int64_t{row.active ? 0 : 1}).run();
        listings_changed += db_.changes();
      }
      upsert.bind(1, job).bind(2, row.user_id);
      if (row.person_key.empty()) upsert.bind_null(3);
      else upsert.bind(3, row.person_key);
      upsert.bind(4, row.roles).bind(5, row.status).bind(6, row.outcome).bind(7, run_id).bind(8, run_id);
      if (upsert.step() && upsert.integer(0) == run_id) ++new_members;
      upsert.reset();
    }
    if (listings_changed > 0) {
      Stmt& pages = cached(
          "DELETE FROM page_digest WHERE job IN (SELECT DISTINCT job FROM listing WHERE target=?1 AND hierarchy_id=?2 "
          "AND job<>?3)");
      pages.bind(1, target).bind(2, hierarchy_id).bind(3, job).run();
    }
  }
  Stmt& insert = cached(
      std::string("INSERT INTO membership (target, membership_id, hierarchy_id, person_key, role_type, job, "
                  "state, attempts, queued_run, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ") +
      kSqlNow + ", " + kSqlNow + ")");
  // A write under a stored id: a resend, a role change (the old role is
  // kept, with when it changed) or a create again after a delete.
  Stmt& requeue = cached(std::string("UPDATE membership SET queued_run=?1, state='pending', op=?5, "
                                     "previous_role=CASE WHEN ?5='update' AND role_type<>?2 THEN role_type ELSE "
                                     "previous_role END, role_changed_at=CASE WHEN ?5='update' AND role_type<>?2 THEN ") +
                         kSqlNow + " ELSE role_changed_at END, role_type=?2, updated_at=" + kSqlNow +
                         " WHERE target=?3 AND membership_id=?4");
  for (const auto& c : plan.writes) {
    if (c.is_new) {
      insert.bind(1, target).bind(2, c.membership_id).bind(3, hierarchy_id).bind(4, c.person_key);
      insert.bind(5, c.role_type).bind(6, job).bind(7, run_id).run();
    } else {
      requeue.bind(1, run_id).bind(2, c.role_type).bind(3, target).bind(4, c.membership_id);
      requeue.bind(5, std::string(to_string(c.op))).run();
    }
  }
  if (page_number > 0 && digest) {
    Stmt& remember = cached(
        "INSERT INTO page_digest (job, page, digest, counts, run_id, settled) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (job, page) DO UPDATE SET digest=excluded.digest, counts=excluded.counts, "
        "run_id=excluded.run_id, settled=excluded.settled");
    remember.bind(1, job).bind(2, page_number).bind(3, static_cast<std::int64_t>(*digest)).bind(4, counts_text(plan));
    remember.bind(5, run_id).bind(6, std::int64_t{plan.settled ? 1 : 0}).run();
  } else if (page_number > 0) {
    Stmt& forget = cached("DELETE FROM page_digest WHERE job=? AND page=?");
    forget.bind(1, job).bind(2, page_number).run();
  }
  tx.commit();
  return new_members;
}

std::map<std::string, std::int64_t> Store::last_ok_runs() {
  std::map<std::string, std::int64_t> last;
  Stmt s(db_, "SELECT job, CAST(strftime('%s', max(ended_at)) AS INTEGER) FROM run WHERE outcome='ok' GROUP BY job");
  while (s.step()) last[s.text(0)] = s.integer(1);
  return last;
}

int Store::prune_snapshot(const std::string& job, std::int64_t run_id) {
  Stmt s(db_, "DELETE FROM roster_member WHERE job=? AND last_seen_run<>?");
  s.bind(1, job).bind(2, run_id).run();
  return db_.changes();
}

}  // namespace rostersync::store
