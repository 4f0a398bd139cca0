#include "store/reports.hpp"

#include "store/holds.hpp"

#include "domain/run.hpp"
#include "store/migrations.hpp"

#include <filesystem>
#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace rostersync::store {
namespace {

// A pending membership whose next send is due (not waiting after a refusal).
const std::string kNotWaiting = std::string("COALESCE(next_attempt_at <= ") + kSqlNow + ", 1)";
// What operators see: created, pending (goes out at the next run), waiting
// (refused; tried again at next_try), parked (refused too often; `rostersync retry`).
const std::string kDerivedState = "CASE WHEN m.state IN ('created', 'deleted') THEN m.state WHEN m.state='failed' THEN 'parked' WHEN " +
                                  kNotWaiting + " THEN 'pending' ELSE 'waiting' END";

}  // namespace

int PassTotals::skipped_total() const {
  int total = 0;
  for (int n : skipped) total += n;
  return total;
}

namespace {

// Opening read-only never creates the file: say plainly when there is none
// yet, and with the OS's reason when this user may not read it (a monitoring
// agent's user outside the group that may).
const std::string& existing(const std::string& path) {
  std::error_code ec;
  const bool there = std::filesystem::exists(path, ec);
  int err = ec ? ec.value() : 0;
  if (!err && there && ::access(path.c_str(), R_OK) != 0) err = errno;
  if (err) {
    throw StoreError(path + ": cannot read the state database: " + std::strerror(err) +
                     " (run it as root, as the service's user (`sudo -u rostersync rostersync status`), or as a member of "
                     "group rostersync-monitor: README \"Monitoring without sudo\")");
  }
  if (!there) {
    throw StoreError(path + ": no state database yet (nothing has synced): start the service or run `rostersync sync`");
  }
  return path;
}

}  // namespace

Reports::Reports(const std::string& path) : db_(existing(path), Connection::Mode::read_only, 5000) {
  int version = schema_version(db_);
  if (version < kSchemaVersion) {
    throw StoreError(path + " has schema version " + std::to_string(version) +
                     "; run `rostersync sync` (or the daemon) once to upgrade it");
  }
}

namespace {

ReportTable::Cell cell(Stmt& st, int c) {
  switch (st.type(c)) {
    case Stmt::Type::integer: return st.integer(c);
    case Stmt::Type::text: return st.text(c);
    default: return std::monostate{};
  }
}

}  // namespace

ReportTable Reports::query(const std::string& sql, const std::vector<std::string>& binds) {
  Stmt st(db_, sql);
  for (std::size_t i = 0; i < binds.size(); ++i) st.bind(static_cast<int>(i + 1), binds[i]);
  ReportTable t;
  for (int c = 0; c < st.columns(); ++c) t.columns.push_back(st.column_name(c));
  while (st.step()) {
    std::vector<ReportTable::Cell> row;
    for (int c = 0; c < st.columns(); ++c) row.push_back(cell(st, c));
    t.rows.push_back(std::move(row));
  }
  return t;
}

ReportTable Reports::per_job(const std::string& sql, const std::vector<JobRef>& jobs,
                             const std::function<std::vector<std::string>(const JobRef&)>& binds) {
  Stmt st(db_, sql);
  ReportTable t;
  for (int c = 0; c < st.columns(); ++c) t.columns.push_back(st.column_name(c));
  for (const auto& job : jobs) {
    st.reset();
    std::vector<std::string> values = binds(job);
    for (std::size_t i = 0; i < values.size(); ++i) st.bind(static_cast<int>(i + 1), values[i]);
    while (st.step()) {
      std::vector<ReportTable::Cell> row;
      for (int c = 0; c < st.columns(); ++c) row.push_back(cell(st, c));
      t.rows.push_back(std::move(row));
    }
  }
  st.reset();
  return t;
}

ReportTable Reports::status(const std::vector<JobRef>& jobs, bool writer_running) {
  const std::string sql =
      "SELECT ?1 AS job, r.started_at AS last_run, r.outcome AS last_outcome, r.created AS last_created, "
      "r.updated AS last_updated, r.deleted AS last_deleted, r.failed AS last_failed, (SELECT next_run_at FROM job_schedule WHERE job=?1) AS next_run, "
      "(SELECT CASE WHEN ?3 THEN 'planned ' ELSE 'stale: no rostersync runs; planned ' END || COALESCE(written_at, '?') "
      "FROM job_schedule WHERE job=?1) AS schedule, "
      "(SELECT count(*) FROM roster_member WHERE job=?1) AS members, "
      "(SELECT count(*) FROM membership WHERE job=?1 AND state='created') AS created, "
      "(SELECT count(*) FROM membership WHERE job=?1 AND state='pending' AND " + kNotWaiting + ") AS pending, "
      "(SELECT count(*) FROM membership WHERE job=?1 AND state='pending' AND NOT " + kNotWaiting + ") AS waiting, "
      "(SELECT count(*) FROM membership WHERE job=?1 AND state='failed') AS parked, "
      "(SELECT count(*) FROM membership WHERE job=?1 AND origin='adopted' AND state<>'deleted') AS adopted, "
      "(SELECT group_concat(j, ', ') FROM (SELECT DISTINCT l.job AS j FROM listing l WHERE l.target=?2 AND l.job<>?1 "
      "AND l.hierarchy_id IN (SELECT hierarchy_id FROM listing WHERE job=?1 AND target=?2) ORDER BY l.job)) "
      "AS shares_group_with, "
      "(SELECT group_concat('awaiting approval: ' || CASE kind WHEN 'delete' THEN planned || ' deletion(s)' WHEN "
      "'restore' THEN planned || ' restore(s)' ELSE 'an empty roster' END || ' in group ' || hierarchy_id || "
      "' held since ' || since || ': ' || reason, '; ') || ' (rostersync status --job ' || ?1 || ' lists them; "
      "approve or reject --job ' || ?1 || ' --hold ID)' FROM write_hold WHERE job=?1 AND accepted=0) AS removals, "
      "(SELECT CASE h.kind WHEN 'breaker' THEN 'breaker open' ELSE 'blocked' END || ' until ' || h.until || "
      "': ' || h.scope || ' ' || h.name || ': ' || h.reason FROM hold h "
      "WHERE ((h.scope='job' AND h.name=?1) OR (h.scope='target' AND h.name=?2) OR (h.scope='source' AND h.name=?4)) "
      "AND h.until > " + std::string(kSqlNow) + " ORDER BY h.scope LIMIT 1) AS hold "
      "FROM (SELECT 1) LEFT JOIN (SELECT * FROM run WHERE job=?1 ORDER BY run_id DESC LIMIT 1) r";
  return per_job(sql, jobs, [&](const JobRef& job) {
    return std::vector<std::string>{job.name, job.target, writer_running ? "1" : "0", job.source};
  });
}

std::vector<JobHealth> Reports::health(const std::vector<JobRef>& jobs) {
  const std::string sql =
      "SELECT (SELECT CAST(strftime('%s', ended_at) AS INTEGER) FROM run WHERE job=?1 AND outcome='ok' "
      "ORDER BY run_id DESC LIMIT 1), "
      "(SELECT CAST(strftime('%s', started_at) AS INTEGER) FROM run WHERE job=?1 ORDER BY run_id LIMIT 1), "
      "(SELECT h.kind || '|' || h.scope || '|' || CASE h.kind WHEN 'breaker' THEN 'breaker open' ELSE 'blocked' END || ': ' || "
      "h.scope || ' ' || h.name || ': ' || h.reason FROM hold h "
      "WHERE ((h.scope='job' AND h.name=?1) OR (h.scope='target' AND h.name=?2) OR (h.scope='source' AND h.name=?3)) "
      "AND h.until > " + std::string(kSqlNow) + " ORDER BY h.scope LIMIT 1), "
      "(SELECT count(*) FROM membership WHERE job=?1 AND state='failed'), "
      "(SELECT sum(planned) FROM write_hold WHERE job=?1 AND accepted=0)";
  Stmt st(db_, sql);
  std::vector<JobHealth> out;
  for (const auto& job : jobs) {
    st.reset();
    st.bind(1, job.name).bind(2, job.target).bind(3, job.source);
    JobHealth h;
    h.job = job.name;
    if (st.step()) {
      if (st.type(0) != Stmt::Type::null) h.last_ok_unix = st.integer(0);
      if (st.type(1) != Stmt::Type::null) h.first_run_unix = st.integer(1);
      if (st.type(2) != Stmt::Type::null) {
        std::string hold = st.text(2);
        const std::size_t bar = hold.find('|'), scope_bar = hold.find('|', bar + 1);
        h.breaker = hold.substr(0, bar) == "breaker";
        h.hold_shared = hold.substr(bar + 1, scope_bar - bar - 1) != "job";
        h.hold = hold.substr(scope_bar + 1);
      }
      h.parked = static_cast<int>(st.integer(3));
      if (st.type(4) != Stmt::Type::null) h.awaiting_approval = static_cast<int>(st.integer(4));
    }
    out.push_back(std::move(h));
  }
  st.reset();
  return out;
}

std::vector<DaemonJob> daemon_job_rows(Connection& db) {
  Stmt st(db, "SELECT name, source, target, hierarchy_id, interval_ms, origin FROM daemon_job ORDER BY name");
  std::vector<DaemonJob> jobs;
  while (st.step()) {
    DaemonJob j;
    j.ref.name = st.text(0);
    j.ref.source = st.text(1);
    j.ref.target = st.text(2);
    j.ref.hierarchy_id = st.text(3);
    j.interval = std::chrono::milliseconds(st.integer(4));
    j.ref.origin = st.text(5);
    jobs.push_back(std::move(j));
  }
  return jobs;
}

std::optional<std::vector<DaemonJob>> Reports::daemon_jobs() {
  if (meta("daemon_jobs_at").empty()) return std::nullopt;
  return daemon_job_rows(db_);
}

ReportTable Reports::courses(const std::vector<JobRef>& jobs) {
  const std::string sql =
      "SELECT ?1 AS course, ?2 AS source, ?3 AS target, ?4 AS hierarchy_id, "
      "(SELECT hierarchy_id FROM run WHERE job=?1 AND hierarchy_id IS NOT NULL ORDER BY run_id DESC LIMIT 1) AS last_hierarchy, "
      "(SELECT next_run_at FROM job_schedule WHERE job=?1) AS next_run, r.started_at AS last_run, "
      "r.outcome AS last_outcome, ?5 AS defined_in "
      "FROM (SELECT 1) LEFT JOIN (SELECT * FROM run WHERE job=?1 ORDER BY run_id DESC LIMIT 1) r";
  return per_job(sql, jobs, [](const JobRef& job) {
    return std::vector<std::string>{job.name, job.source, job.target, job.hierarchy_id,
                                    job.origin.empty() ? "configuration" : job.origin};
  });
}

std::string Reports::meta(const std::string& key) {
  Stmt st(db_, "SELECT value FROM meta WHERE key=?1");
  st.bind(1, key);
  return st.step() ? st.text(0) : "";
}

std::string Reports::pass_line() {
  Stmt st(db_, "SELECT active, started_at, COALESCE(ended_at, ''), courses_done, courses_total, running, members, "
               "created, failed, runs_not_ok FROM pass WHERE id=1");
  if (!st.step()) return "";
  PassProgress p;
  p.active = st.integer(0) != 0;
  p.courses_done = static_cast<int>(st.integer(3));
  p.courses_total = static_cast<int>(st.integer(4));
  p.running = static_cast<int>(st.integer(5));
  p.members = st.integer(6);
  p.created = st.integer(7);
  p.failed = st.integer(8);
  p.runs_not_ok = static_cast<int>(st.integer(9));
  std::string text = describe(p);  // "pass: ..."
  std::string rest = text.substr(6);
  if (p.active) return "pass since " + st.text(1) + " (" + std::to_string(p.running) + " running): " + rest;
  return "last pass " + st.text(1) + " - " + st.text(2) + ": " + rest;
}

ReportTable Reports::runs(const std::optional<std::string>& job, int limit) {
  std::string sql =
      "SELECT run_id, job, started_at, ended_at, outcome, pages, members_seen, new_members, created, updated, deleted, "
      "deletes_held, adopted, restored, already_present, failed, pending, deferred, skipped_inactive + skipped_test_user + skipped_no_person_key + skipped_invalid_person_key + "
      "skipped_unmapped_role + skipped_malformed + skipped_role_filter AS skipped, error FROM run ";
  std::vector<std::string> binds;
  if (job) {
    sql += "WHERE job=? ";
    binds.push_back(*job);
  }
  sql += "ORDER BY run_id DESC LIMIT " + std::to_string(limit);
  return query(sql, binds);
}

ReportTable Reports::members(const JobRef& job) {
  // A skipped member has no membership: its state is why, not "pending".
  return query("SELECT r.user_id, r.person_key, r.status, r.outcome, m.membership_id, m.role_type, CASE WHEN "
                   "r.outcome <> 'eligible' THEN 'skipped: ' || r.outcome WHEN m.membership_id IS NULL THEN 'not planned' "
                   "ELSE " + kDerivedState + " END AS state FROM roster_member r LEFT JOIN membership m ON m.target=?2 AND "
                   // A hierarchy_id template is filled in per roster: the group is the one the last run wrote to.
                   "m.hierarchy_id=(CASE WHEN instr(?3, '{') > 0 THEN (SELECT hierarchy_id FROM run WHERE job=?1 AND "
                   "hierarchy_id IS NOT NULL AND hierarchy_id <> '' ORDER BY run_id DESC LIMIT 1) ELSE ?3 END) AND "
                   "m.person_key=r.person_key WHERE r.job=?1 ORDER BY r.user_id",
               {job.name, job.target, job.hierarchy_id});
}

ReportTable Reports::failures(const std::optional<std::string>& job) {
  std::string sql = "SELECT m.job, m.membership_id, m.person_key, m.hierarchy_id, m.role_type, m.op AS operation, " +
                    kDerivedState +
                    " AS state, m.attempts, m.refusals, m.last_error, m.updated_at, "
                    "CASE WHEN m.state='failed' THEN NULL WHEN " + kNotWaiting + " THEN s.next_run_at ELSE m.next_attempt_at END "
                    "AS next_try FROM membership m LEFT JOIN job_schedule s ON s.job=m.job WHERE m.state NOT IN ('created', 'deleted') ";
  std::vector<std::string> binds;
  if (job) {
    sql += "AND m.job=? ";
    binds.push_back(*job);
  }
  sql += "ORDER BY m.job, m.state, m.person_key";
  return query(sql, binds);
}

PassTotals Reports::totals_since(std::int64_t after_run) {
  Stmt st(db_,
          "SELECT members_seen, created, already_present, failed, pending, skipped_inactive, skipped_test_user, "
          "skipped_no_person_key, skipped_invalid_person_key, skipped_unmapped_role, skipped_malformed, skipped_role_filter FROM run "
          "WHERE run_id > ?");
  st.bind(1, after_run);
  static_assert(kSkipReasonCount == 7, "one skipped_* column per SkipReason, in its order");
  PassTotals t;
  while (st.step()) {
    t.members += static_cast<int>(st.integer(0));
    t.created += static_cast<int>(st.integer(1));
    t.present += static_cast<int>(st.integer(2));
    t.failed += static_cast<int>(st.integer(3));
    t.pending += static_cast<int>(st.integer(4));
    for (std::size_t i = 0; i < kSkipReasonCount; ++i) t.skipped[i] += static_cast<int>(st.integer(5 + static_cast<int>(i)));
  }
  return t;
}

std::int64_t Reports::latest_run_id() {
  Stmt st(db_, "SELECT COALESCE(MAX(run_id), 0) FROM run");
  return st.step() ? st.integer(0) : 0;
}

ReportTable Reports::held(const std::string& job) {
  ReportTable t;
  t.columns = {"hold", "kind", "group", "person_key", "membership_id", "reason", "since"};
  for (const WriteHold& h : read_write_holds(db_, job)) {
    if (h.kind == "empty_roster") {
      t.rows.push_back({h.id, h.kind, h.hierarchy_id, std::monostate{}, std::monostate{}, h.reason, h.since});
      continue;
    }
    for (const HeldWrite& w : read_held_writes(db_, h.target, h.hierarchy_id, h.kind)) {
      t.rows.push_back({h.id, h.kind, h.hierarchy_id, w.person_key, w.membership_id, w.reason, w.since});
    }
  }
  return t;
}

}  // namespace rostersync::store
