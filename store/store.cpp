// The state database as a file: opening it (migrations, WAL, the umask),
// transactions and durability, the meta facts, the daemon's job list, the
// pass, and retention. The domain operations live beside it, one file per
// section of store.hpp: runs.cpp, memberships.cpp, schedule.cpp, upkeep.cpp.
#include "store/store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "domain/version.hpp"
#include "store/migrations.hpp"

namespace rostersync::store {

namespace {

// The state database holds membership ids itslearning never shows again.
// An empty file where a database is expected is
// almost always a lost one: starting on it would adopt every membership in
// itslearning as not rostersync's, silently.
const std::string& prepare_database_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (fs::exists(st)) {
    if (fs::is_regular_file(st) && fs::file_size(path, ec) == 0 && !ec) {
      throw StoreError(path + " (state_db) is an empty file (0 bytes): if rostersync ran here before, its database is "
                       "lost, and with it the membership ids itslearning never shows again. Restore the backup "
                       "(README \"Restore\"); only for a genuinely new start, delete the empty file",
                       true);
    }
    return path;
  }
  return path;
}



}  // namespace

Store::PrivateFiles::PrivateFiles() : old(::umask(077)) {}
Store::PrivateFiles::~PrivateFiles() { ::umask(old); }

// The umask holds while the file, its -wal and its -shm are created (SQLite
// gives them 0644 less the umask): 0600 whatever the process's umask.
Store::Store(const std::string& path, std::chrono::milliseconds busy_timeout)
    : Store(path, busy_timeout, PrivateFiles{}) {}

Store::Store(const std::string& path, std::chrono::milliseconds busy_timeout, PrivateFiles&&)
    : db_(prepare_database_file(path), Connection::Mode::read_write, static_cast<int>(busy_timeout.count())) {
  try {
    open_for_writing();
  } catch (const StoreError& e) {
    // A file rostersync cannot write (a -shm left by a start as another
    // user) blocks every start: name it and what to do.
    for (const std::string suffix : {"", "-wal", "-shm"}) {
      const std::string file = path + suffix;
      if (::access(file.c_str(), F_OK) == 0 && ::access(file.c_str(), W_OK) != 0) {
        struct stat st{};
        ::stat(file.c_str(), &st);
        throw StoreError(std::string(e.what()) + ": " + file + " is not writable by this user (owner uid " +
                         std::to_string(st.st_uid) + ", mode " + std::to_string((st.st_mode >> 6) & 7) +
                         std::to_string((st.st_mode >> 3) & 7) + std::to_string(st.st_mode & 7) +
                         "): give it to the service user (chown rostersync: " + file + ")" +
                         (suffix == "-shm" ? " or, while no rostersync runs, remove it (SQLite rebuilds it)"
                                           : "; never remove it: it holds committed data"),
                         e.unusable());
      }
    }
    throw;
  }
}

void Store::open_for_writing() {
  db_.exec("PRAGMA journal_mode=WAL");
  // The -wal and -shm stay when the last writer closes: a reader that may
  // not create files in the state directory (the monitoring group's
  // `status --check`, README "Monitoring without sudo") can still open the
  // database while neither the daemon nor a sync runs.
  // The kept -wal is cut back to this size whenever it restarts from its beginning.
  int persist = 1;
  sqlite3_file_control(db_.raw(), "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
  db_.exec("PRAGMA journal_size_limit=16777216");
  durable(true);
  upgraded_from_ = migrate(db_);
  Transaction tx(db_);
  Stmt put(db_, "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value=excluded.value");
  put.bind(1, std::string("rostersync_version")).bind(2, std::string(kVersion)).run();
  if (upgraded_from_ > 0 && upgraded_from_ < kSchemaVersion) {
    put.bind(1, std::string("upgraded_from")).bind(2, std::to_string(upgraded_from_)).run();
    Stmt now(db_, std::string("SELECT ") + kSqlNow);
    now.step();
    put.bind(1, std::string("upgraded_at")).bind(2, now.text(0)).run();
  }
  tx.commit();
}

// FULL: a commit is on disk before COMMIT returns. NORMAL (WAL): the file
// stays consistent at any crash, and a power cut may lose the last commits.
// Only one promise needs FULL: a membership id is on disk before any request
// carries it. Pages commit their ids with NORMAL, and mark_attempt(), which
// runs before every send, commits with FULL whenever ids were committed
// since the last FULL commit: the WAL is one sequential file, so that one
// fsync makes every earlier commit durable too (a group commit for all the
// pages read meanwhile). Everything else (results, run records, settled
// pages, the pass) stays NORMAL: losing the last of those at a power cut
// costs a resend with the same id at most, and no fsync per commit keeps
// thousands of courses from waiting on the disk.
void Store::durable(bool full) {
  if (full == synchronous_full_) return;
  db_.exec(full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  synchronous_full_ = full;
}

void Store::transaction(const std::function<void()>& body) {
  durable(false);
  Transaction tx(db_);
  body();
  tx.commit();
}

Stmt& Store::cached(const std::string& sql) {
  std::unique_ptr<Stmt>& slot = cache_[sql];
  return prepared(slot, sql);
}

Stmt& Store::prepared(std::unique_ptr<Stmt>& slot, const std::string& sql) {
  if (!slot) slot = std::make_unique<Stmt>(db_, sql);
  else slot->reset();
  return *slot;
}

std::string Store::meta(const std::string& key) {
  Stmt& s = cached("SELECT value FROM meta WHERE key=?1");
  s.bind(1, key);
  std::string value = s.step() ? s.text(0) : "";
  s.reset();
  return value;
}

void Store::set_meta(const std::string& key, const std::string& value) {
  cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value=excluded.value")
      .bind(1, key)
      .bind(2, value)
      .run();
}

void Store::record_daemon_jobs(const std::vector<DaemonJob>& jobs) {
  Transaction tx(db_);
  cached("DELETE FROM daemon_job").run();
  Stmt& put = cached(
      "INSERT INTO daemon_job (name, source, target, hierarchy_id, interval_ms, origin) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  for (const DaemonJob& j : jobs) {
    put.bind(1, j.ref.name)
        .bind(2, j.ref.source)
        .bind(3, j.ref.target)
        .bind(4, j.ref.hierarchy_id)
        .bind(5, static_cast<std::int64_t>(j.interval.count()))
        .bind(6, j.ref.origin)
        .run();
  }
  cached(std::string("INSERT INTO meta (key, value) VALUES ('daemon_jobs_at', ") + kSqlNow +
         ") ON CONFLICT (key) DO UPDATE SET value=excluded.value")
      .run();
  tx.commit();
}

std::vector<DaemonJob> Store::recorded_daemon_jobs() { return daemon_job_rows(db_); }

void Store::record_pass(const PassProgress& p) {
  Stmt& s = cached(
      "INSERT INTO pass (id, active, started_at, ended_at, updated_at, courses_done, courses_total, running, members, "
      "created, failed, runs_not_ok) VALUES (1, ?1, strftime('%Y-%m-%dT%H:%M:%SZ', ?2, 'unixepoch'), "
      "CASE WHEN ?3 > 0 THEN strftime('%Y-%m-%dT%H:%M:%SZ', ?3, 'unixepoch') END, strftime('%Y-%m-%dT%H:%M:%SZ', "
      "'now'), "
      "?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO UPDATE SET active=excluded.active, "
      "started_at=excluded.started_at, "
      "ended_at=excluded.ended_at, updated_at=excluded.updated_at, courses_done=excluded.courses_done, "
      "courses_total=excluded.courses_total, running=excluded.running, members=excluded.members, "
      "created=excluded.created, failed=excluded.failed, runs_not_ok=excluded.runs_not_ok");
  s.bind(1, std::int64_t{p.active ? 1 : 0})
      .bind(2, p.started_unix)
      .bind(3, p.ended_unix)
      .bind(4, std::int64_t{p.courses_done});
  s.bind(5, std::int64_t{p.courses_total}).bind(6, std::int64_t{p.running}).bind(7, std::int64_t{p.members});
  s.bind(8, std::int64_t{p.created}).bind(9, std::int64_t{p.failed}).bind(10, std::int64_t{p.runs_not_ok}).run();
}

int Store::prune_runs(std::chrono::seconds retention) {
  Stmt s(db_,
         "DELETE FROM run WHERE ended_at IS NOT NULL AND ended_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ? || ' "
         "seconds') "
         "AND run_id NOT IN (SELECT MAX(run_id) FROM run GROUP BY job)");
  s.bind(1, std::to_string(-retention.count())).run();
  return db_.changes();
}

int Store::forget_job(const std::string& job) {
  Transaction tx(db_);
  int runs = 0;
  for (const char* sql :
       {"DELETE FROM run WHERE job=?", "DELETE FROM roster_member WHERE job=?", "DELETE FROM page_digest WHERE job=?",
        "DELETE FROM job_schedule WHERE job=?", "DELETE FROM hold WHERE scope='job' AND name=?",
        "DELETE FROM write_hold WHERE job=?"}) {
    Stmt s(db_, sql);
    s.bind(1, job).run();
    if (runs == 0 && std::string(sql).find("FROM run ") != std::string::npos) runs = db_.changes();
  }
  tx.commit();
  return runs;
}

void copy_database(const std::string& from, const std::string& to) {
  Connection source(from, Connection::Mode::read_only, 5000);
  Stmt s(source, "VACUUM INTO ?");
  s.bind(1, to).run();
}

}  // namespace rostersync::store
