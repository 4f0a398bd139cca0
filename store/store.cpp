#include "store/store.hpp"

#include <sqlite3.h>

#include <filesystem>

#include "sync/retry_policy.hpp"

namespace rostersync::store {
namespace {

// Schema migrations; migration i takes the schema from version i to i+1.
// Never edit a released entry: append a new one.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE roster_member (
  job            TEXT NOT NULL,
  user_id        TEXT NOT NULL,
  person_key     TEXT,              -- NULL when the member has none (or an unusable one)
  roles          TEXT NOT NULL,     -- space-separated LTI roles as received
  status         TEXT NOT NULL,     -- Active / Inactive
  outcome        TEXT NOT NULL,     -- eligible, or the reason it was skipped
  first_seen_run INTEGER NOT NULL,
  last_seen_run  INTEGER NOT NULL,
  last_seen_at   TEXT NOT NULL,
  PRIMARY KEY (job, user_id)
) WITHOUT ROWID;

CREATE TABLE membership (
  target         TEXT NOT NULL,     -- configured target name (one itslearning site)
  membership_id  TEXT NOT NULL,     -- the id sent to itslearning; never shown there again
  hierarchy_id   TEXT NOT NULL,
  person_key     TEXT NOT NULL,
  role_type      TEXT NOT NULL,
  job            TEXT NOT NULL,     -- the job that first planned it
  state          TEXT NOT NULL CHECK (state IN ('pending', 'created', 'failed')),
  attempts       INTEGER NOT NULL DEFAULT 0,
  last_error     TEXT,
  queued_run     INTEGER,           -- last run that queued it for sending
  created_at     TEXT NOT NULL,     -- when the id was chosen
  updated_at     TEXT NOT NULL,
  PRIMARY KEY (target, membership_id),
  UNIQUE (target, hierarchy_id, person_key)
);
CREATE INDEX membership_by_job_state ON membership (job, state);

CREATE TABLE run (
  run_id                      INTEGER PRIMARY KEY AUTOINCREMENT,
  job                         TEXT NOT NULL,
  started_at                  TEXT NOT NULL,
  ended_at                    TEXT,
  outcome                     TEXT NOT NULL
                              CHECK (outcome IN ('running', 'ok', 'partial', 'failed', 'interrupted')),
  pages                       INTEGER NOT NULL DEFAULT 0,
  members_seen                INTEGER NOT NULL DEFAULT 0,
  new_members                 INTEGER NOT NULL DEFAULT 0,
  already_present             INTEGER NOT NULL DEFAULT 0,
  creates_planned             INTEGER NOT NULL DEFAULT 0,
  created                     INTEGER NOT NULL DEFAULT 0,
  failed                      INTEGER NOT NULL DEFAULT 0,
  pending                     INTEGER NOT NULL DEFAULT 0,
  skipped_inactive            INTEGER NOT NULL DEFAULT 0,
  skipped_test_user           INTEGER NOT NULL DEFAULT 0,
  skipped_no_person_key       INTEGER NOT NULL DEFAULT 0,
  skipped_invalid_person_key  INTEGER NOT NULL DEFAULT 0,
  skipped_unmapped_role       INTEGER NOT NULL DEFAULT 0,
  skipped_malformed           INTEGER NOT NULL DEFAULT 0,
  error                       TEXT
);
CREATE INDEX run_by_job ON run (job, run_id);
)sql",
    R"sql(
-- When `rostersync run` will next start each job (for `rostersync status`).
CREATE TABLE job_schedule (
  job          TEXT PRIMARY KEY,
  next_run_at  TEXT NOT NULL       -- UTC ISO 8601
) WITHOUT ROWID;
)sql",
    R"sql(
-- Per-item retries: an item itslearning refused waits before its next send
-- and is parked (state 'failed') after too many refusals. Earlier 'failed'
-- rows were resent every run; they start over as pending.
ALTER TABLE membership ADD COLUMN refusals INTEGER NOT NULL DEFAULT 0;
ALTER TABLE membership ADD COLUMN next_attempt_at TEXT;  -- UTC ISO 8601; NULL = at the next run
UPDATE membership SET state='pending' WHERE state='failed';
ALTER TABLE run ADD COLUMN deferred INTEGER NOT NULL DEFAULT 0;  -- items waiting for their next attempt or parked
-- A job or target rostersync stopped sending to: 'blocked' after a
-- configuration error, 'breaker' after failing nearly everything.
CREATE TABLE hold (
  scope   TEXT NOT NULL CHECK (scope IN ('job', 'target')),
  name    TEXT NOT NULL,
  kind    TEXT NOT NULL CHECK (kind IN ('blocked', 'breaker')),
  reason  TEXT NOT NULL,
  since   TEXT NOT NULL,             -- UTC ISO 8601
  until   TEXT NOT NULL,             -- no new try before this (a reload clears holds)
  PRIMARY KEY (scope, name)
) WITHOUT ROWID;
)sql",
};

constexpr const char* kNow = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql, const std::string& path) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) {
      throw StoreError(path + ": preparing statement failed: " + sqlite3_errmsg(db));
    }
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& bind_null(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  // True while a row is available.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw StoreError(path_ + ": " + sqlite3_errmsg(db_));
  }
  void run() {
    while (step()) {
    }
    reset();
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string text(int col) const {
    auto* p = sqlite3_column_text(stmt_, col);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3* db_;
  std::string path_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back if the scope exits by exception.
class Transaction {
 public:
  explicit Transaction(Store& s) : s_(s) { exec("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!done_) sqlite3_exec(s_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    exec("COMMIT");
    done_ = true;
  }

 private:
  void exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(s_.handle(), sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      throw StoreError(s_.path() + ": " + sql + ": " + msg);
    }
  }
  Store& s_;
  bool done_ = false;
};

sync::MembershipState parse_state(const std::string& s) {
  if (s == "created") return sync::MembershipState::created;
  if (s == "failed") return sync::MembershipState::failed;
  return sync::MembershipState::pending;
}

}  // namespace

const char* to_string(RunOutcome o) {
  switch (o) {
    case RunOutcome::ok: return "ok";
    case RunOutcome::partial: return "partial";
    case RunOutcome::failed: return "failed";
    case RunOutcome::interrupted: return "interrupted";
    default: return "running";
  }
}

int RunStats::skipped_total() const {
  int total = 0;
  for (int n : skipped) total += n;
  return total;
}

Store::Store(const std::string& path, Mode mode) : path_(path) {
  if (mode == Mode::read_write) {
    auto dir = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  }
  int flags = mode == Mode::read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw StoreError(path + ": cannot open state database: " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  if (mode == Mode::read_write) {
    // A throwing constructor runs no destructor: close the handle here (found
    // by LeakSanitizer when a newer schema was refused).
    try {
      exec("PRAGMA journal_mode=WAL");
      // FULL: a commit is on disk before COMMIT returns, so an id reported as
      // committed survives a power cut too (NORMAL could lose the last commits).
      exec("PRAGMA synchronous=FULL");
      migrate();
    } catch (...) {
      sqlite3_close(db_);
      db_ = nullptr;
      throw;
    }
  }
}

Store::~Store() { sqlite3_close(db_); }

void Store::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw StoreError(path_ + ": " + msg);
  }
}

int Store::schema_version() {
  Stmt s(db_, "PRAGMA user_version", path_);
  s.step();
  return static_cast<int>(s.integer(0));
}

void Store::migrate() {
  int version = schema_version();
  constexpr int latest = static_cast<int>(std::size(kMigrations));
  static_assert(latest == kSchemaVersion);
  if (version > latest) {
    throw StoreError(path_ + ": schema version " + std::to_string(version) + " is newer than this rostersync (" +
                     std::to_string(latest) + "); upgrade rostersync");
  }
  for (; version < latest; ++version) {
    Transaction tx(*this);
    exec(kMigrations[version]);
    exec(("PRAGMA user_version=" + std::to_string(version + 1)).c_str());
    tx.commit();
  }
}

int Store::close_abandoned_runs() {
  Stmt s(db_,
         std::string("UPDATE run SET outcome='interrupted', ended_at=") + kNow +
             ", error='the process ended during the run' WHERE outcome='running'",
         path_);
  s.run();
  return sqlite3_changes(db_);
}

std::int64_t Store::begin_run(const std::string& job) {
  Stmt s(db_, std::string("INSERT INTO run (job, started_at, outcome) VALUES (?, ") + kNow + ", 'running')", path_);
  s.bind(1, job).run();
  return sqlite3_last_insert_rowid(db_);
}

void Store::finish_run(std::int64_t run_id, const RunStats& st, RunOutcome outcome, const std::string& error) {
  Stmt s(db_,
         std::string("UPDATE run SET ended_at=") + kNow +
             ", outcome=?, pages=?, members_seen=?, new_members=?, already_present=?, creates_planned=?, created=?, "
             "failed=?, pending=?, skipped_inactive=?, skipped_test_user=?, skipped_no_person_key=?, "
             "skipped_invalid_person_key=?, skipped_unmapped_role=?, skipped_malformed=?, error=?, deferred=? "
             "WHERE run_id=?",
         path_);
  using R = sync::SkipReason;
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
  s.bind(17, st.deferred).bind(18, run_id).run();
}

std::optional<sync::StoredMembership> Store::find_membership(const std::string& target, const std::string& hierarchy_id,
                                                            const std::string& person_key) {
  Stmt s(db_,
         std::string("SELECT membership_id, state, COALESCE(queued_run, 0), COALESCE(next_attempt_at > ") + kNow +
             ", 0) FROM membership WHERE target=? AND hierarchy_id=? AND person_key=?",
         path_);
  s.bind(1, target).bind(2, hierarchy_id).bind(3, person_key);
  if (!s.step()) return std::nullopt;
  return sync::StoredMembership{s.text(0), parse_state(s.text(1)), s.integer(2), s.integer(3) != 0};
}

int Store::commit_page(std::int64_t run_id, const std::string& job, const std::string& target,
                       const std::string& hierarchy_id, const sync::PagePlan& plan) {
  Transaction tx(*this);
  int new_members = 0;
  {
    Stmt upsert(db_,
                std::string("INSERT INTO roster_member (job, user_id, person_key, roles, status, outcome, "
                            "first_seen_run, last_seen_run, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ") +
                    kNow +
                    ") ON CONFLICT (job, user_id) DO UPDATE SET person_key=excluded.person_key, "
                    "roles=excluded.roles, status=excluded.status, outcome=excluded.outcome, "
                    "last_seen_run=excluded.last_seen_run, last_seen_at=excluded.last_seen_at "
                    "RETURNING first_seen_run",
                path_);
    for (const auto& row : plan.snapshot) {
      upsert.bind(1, job).bind(2, row.user_id);
      if (row.person_key.empty()) upsert.bind_null(3);
      else upsert.bind(3, row.person_key);
      upsert.bind(4, row.roles).bind(5, row.status).bind(6, row.outcome).bind(7, run_id).bind(8, run_id);
      if (upsert.step() && upsert.integer(0) == run_id) ++new_members;
      upsert.reset();
    }
  }
  Stmt insert(db_,
              std::string("INSERT INTO membership (target, membership_id, hierarchy_id, person_key, role_type, job, "
                          "state, attempts, queued_run, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ") +
                  kNow + ", " + kNow + ")",
              path_);
  Stmt requeue(db_,
               std::string("UPDATE membership SET queued_run=?, role_type=?, updated_at=") + kNow +
                   " WHERE target=? AND membership_id=?",
               path_);
  for (const auto& c : plan.creates) {
    if (c.is_new) {
      insert.bind(1, target).bind(2, c.membership_id).bind(3, hierarchy_id).bind(4, c.person_key);
      insert.bind(5, c.role_type).bind(6, job).bind(7, run_id).run();
    } else {
      requeue.bind(1, run_id).bind(2, c.role_type).bind(3, target).bind(4, c.membership_id).run();
    }
  }
  tx.commit();
  return new_members;
}

void Store::mark_attempt(const std::string& target, const std::vector<std::string>& ids) {
  Transaction tx(*this);
  Stmt s(db_,
         std::string("UPDATE membership SET attempts=attempts+1, updated_at=") + kNow +
             " WHERE target=? AND membership_id=?",
         path_);
  for (const auto& id : ids) s.bind(1, target).bind(2, id).run();
  tx.commit();
}

int Store::record_results(const std::string& target, const std::vector<ItemResult>& results,
                          const config::ItemRetrySettings& item_retry) {
  Transaction tx(*this);
  Stmt plain(db_,
             std::string("UPDATE membership SET state=?, last_error=?, updated_at=") + kNow +
                 " WHERE target=? AND membership_id=?",
             path_);
  Stmt refusals(db_, "SELECT refusals FROM membership WHERE target=? AND membership_id=?", path_);
  Stmt refused(db_,
               std::string("UPDATE membership SET state=?, last_error=?, refusals=?, "
                           "next_attempt_at=CASE WHEN ? THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ? || ' seconds') END, "
                           "updated_at=") + kNow + " WHERE target=? AND membership_id=?",
               path_);
  Stmt created(db_,
               std::string("UPDATE membership SET state='created', last_error=NULL, next_attempt_at=NULL, updated_at=") +
                   kNow + " WHERE target=? AND membership_id=?",
               path_);
  int parked = 0;
  for (const auto& r : results) {
    if (r.state == sync::MembershipState::created) {
      created.bind(1, target).bind(2, r.membership_id).run();
    } else if (r.state == sync::MembershipState::failed) {
      refusals.bind(1, target).bind(2, r.membership_id);
      int n = (refusals.step() ? static_cast<int>(refusals.integer(0)) : 0) + 1;
      refusals.reset();
      sync::ItemVerdict verdict = sync::item_verdict(item_retry, n);
      parked += verdict.parked ? 1 : 0;
      auto wait_s = std::chrono::duration_cast<std::chrono::seconds>(verdict.wait).count();
      refused.bind(1, std::string(verdict.parked ? "failed" : "pending")).bind(2, r.error).bind(3, n);
      refused.bind(4, verdict.parked ? 1 : 0).bind(5, std::to_string(wait_s));
      refused.bind(6, target).bind(7, r.membership_id).run();
    } else {
      plain.bind(1, std::string("pending"));
      if (r.error.empty()) plain.bind_null(2);
      else plain.bind(2, r.error);
      plain.bind(3, target).bind(4, r.membership_id).run();
    }
  }
  tx.commit();
  return parked;
}

int Store::requeue_parked(const std::optional<std::string>& job, const std::optional<std::string>& membership_id) {
  Stmt s(db_,
         std::string("UPDATE membership SET state='pending', refusals=0, next_attempt_at=NULL, updated_at=") + kNow +
             " WHERE (state='failed' OR next_attempt_at IS NOT NULL) AND (? IS NULL OR job=?) AND (? IS NULL OR membership_id=?)",
         path_);
  if (job) s.bind(1, *job).bind(2, *job);
  else s.bind_null(1).bind_null(2);
  if (membership_id) s.bind(3, *membership_id).bind(4, *membership_id);
  else s.bind_null(3).bind_null(4);
  s.run();
  return sqlite3_changes(db_);
}

void Store::set_hold(const Hold& hold, std::chrono::seconds duration) {
  Stmt s(db_,
         std::string("INSERT INTO hold (scope, name, kind, reason, since, until) VALUES (?, ?, ?, ?, ") + kNow +
             ", strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ? || ' seconds')) ON CONFLICT (scope, name) DO UPDATE SET "
             "kind=excluded.kind, reason=excluded.reason, until=excluded.until, "
             "since=CASE WHEN hold.kind=excluded.kind THEN hold.since ELSE excluded.since END",
         path_);
  s.bind(1, hold.scope).bind(2, hold.name).bind(3, hold.kind).bind(4, hold.reason);
  s.bind(5, std::to_string(duration.count())).run();
}

std::optional<Hold> Store::find_hold(const std::string& scope, const std::string& name) {
  Stmt s(db_,
         "SELECT kind, reason, since, until, CAST(round((julianday(until) - julianday('now')) * 86400000) AS INTEGER) "
         "FROM hold WHERE scope=? AND name=?",
         path_);
  s.bind(1, scope).bind(2, name);
  if (!s.step()) return std::nullopt;
  Hold h{scope, name, s.text(0), s.text(1), s.text(2), s.text(3), std::chrono::milliseconds(s.integer(4))};
  return h;
}

void Store::clear_hold(const std::string& scope, const std::string& name) {
  Stmt s(db_, "DELETE FROM hold WHERE scope=? AND name=?", path_);
  s.bind(1, scope).bind(2, name).run();
}

int Store::clear_holds() {
  exec("DELETE FROM hold");
  return sqlite3_changes(db_);
}

void Store::set_next_run(const std::string& job, std::int64_t seconds_from_now) {
  Stmt s(db_,
         "INSERT INTO job_schedule (job, next_run_at) VALUES (?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ? || ' seconds')) "
         "ON CONFLICT (job) DO UPDATE SET next_run_at=excluded.next_run_at",
         path_);
  s.bind(1, job).bind(2, std::to_string(seconds_from_now)).run();
}

int Store::prune_snapshot(const std::string& job, std::int64_t run_id) {
  Stmt s(db_, "DELETE FROM roster_member WHERE job=? AND last_seen_run<>?", path_);
  s.bind(1, job).bind(2, run_id).run();
  return sqlite3_changes(db_);
}

}  // namespace rostersync::store
