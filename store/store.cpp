#include "store/store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>
#include <unordered_map>

#include "domain/version.hpp"
#include "store/migrations.hpp"

namespace rostersync::store {
namespace {

MembershipState parse_state(const std::string& s) {
  if (s == "created") return MembershipState::created;
  if (s == "failed") return MembershipState::failed;
  if (s == "deleted") return MembershipState::deleted;
  return MembershipState::pending;
}

MembershipOp parse_op(const std::string& s) {
  if (s == "update") return MembershipOp::update;
  if (s == "delete") return MembershipOp::remove;
  return MembershipOp::create;
}

// Person keys per membership lookup query. Shorter chunks are padded with
// NULL (which matches nothing), so one prepared statement serves every page.
constexpr int kLookupChunk = 128;

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

namespace {

constexpr const char* kHoldColumns =
    "job, kind, target, hierarchy_id, planned, base, reason, run_id, since, accepted FROM write_hold";

WriteHold read_write_hold(Stmt& s) {
  WriteHold h;
  h.job = s.text(0);
  h.kind = s.text(1);
  h.target = s.text(2);
  h.hierarchy_id = s.text(3);
  h.planned = static_cast<int>(s.integer(4));
  h.base = static_cast<int>(s.integer(5));
  h.reason = s.text(6);
  h.run_id = s.integer(7);
  h.since = s.text(8);
  h.accepted = s.integer(9) != 0;
  return h;
}

std::string hex12(std::uint64_t h) {
  static const char* digits = "0123456789abcdef";
  std::string out(12, '0');
  for (int i = 11; i >= 0; --i, h >>= 4) out[static_cast<std::size_t>(i)] = digits[h & 0xF];
  return out;
}

}  // namespace

std::vector<HeldWrite> read_held_writes(Connection& db, const std::string& target, const std::string& hierarchy_id,
                                        const std::string& kind) {
  Stmt s(db,
         "SELECT held, membership_id, person_key, role_type, COALESCE(departure, CASE held WHEN 'restore' THEN "
         "'missing in itslearning' END, ''), COALESCE(held_since, '') FROM membership WHERE target=? AND hierarchy_id=? "
         "AND held=? ORDER BY membership_id");
  s.bind(1, target).bind(2, hierarchy_id).bind(3, kind);
  std::vector<HeldWrite> out;
  while (s.step()) out.push_back({s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5)});
  return out;
}

std::vector<WriteHold> read_write_holds(Connection& db, const std::optional<std::string>& job) {
  Stmt s(db, std::string("SELECT ") + kHoldColumns + " WHERE accepted=0 AND (?1 IS NULL OR job=?1) ORDER BY job, kind");
  if (job) s.bind(1, *job);
  else s.bind_null(1);
  std::vector<WriteHold> out;
  while (s.step()) out.push_back(read_write_hold(s));
  for (WriteHold& h : out) {
    std::uint64_t digest = hash64(h.kind);
    if (h.kind == "empty_roster") {
      digest = hash64(h.job + "\n" + h.target + "\n" + h.hierarchy_id + "\n" + h.since, digest);
    } else {
      digest = hash64(h.target + "\n" + h.hierarchy_id, digest);
      for (const HeldWrite& w : read_held_writes(db, h.target, h.hierarchy_id, h.kind)) {
        digest = hash64(w.membership_id, digest);
      }
    }
    h.id = hex12(digest);
  }
  return out;
}

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

std::optional<StoredMembership> Store::find_membership(const std::string& target, const std::string& hierarchy_id,
                                                       const std::string& person_key, const std::string& job) {
  return find_memberships(target, hierarchy_id, {person_key}, job).front();
}

std::vector<std::optional<StoredMembership>> Store::find_memberships(const std::string& target,
                                                                     const std::string& hierarchy_id,
                                                                     const std::vector<std::string>& person_keys,
                                                                     const std::string& job) {
  // ?1 target, ?2 hierarchy, ?3 the asking job, then the keys.
  static const std::string sql = [] {
    std::string q =
        std::string("SELECT m.person_key, m.membership_id, m.state, COALESCE(m.queued_run, 0), "
                    "COALESCE(m.next_attempt_at > ") +
        kSqlNow +
        ", 0), m.refusals, m.role_type, m.op, m.origin='adopted', m.held IS NOT NULL, m.withdrawn, "
        "(SELECT COALESCE(group_concat(l.role_type, ' '), '') FROM listing l WHERE l.target=m.target AND "
        "l.hierarchy_id=m.hierarchy_id AND l.person_key=m.person_key AND l.job<>?3 AND l.absent_walks=0 AND "
        "l.role_type<>'') FROM membership m WHERE m.target=?1 AND m.hierarchy_id=?2 AND m.person_key IN (";
    for (int i = 0; i < kLookupChunk; ++i) q += (i ? ", ?" : "?") + std::to_string(i + 4);
    return q + ")";
  }();
  auto read = [](Stmt& s) {
    StoredMembership m{s.text(1),         parse_state(s.text(2)), s.integer(3), s.integer(4) != 0,
                       static_cast<int>(s.integer(5)), s.text(6), parse_op(s.text(7))};
    m.adopted = s.integer(8) != 0;
    m.held = s.integer(9) != 0;
    m.withdrawn = s.integer(10) != 0;
    m.other_roles = s.text(11);
    return m;
  };
  std::vector<std::optional<StoredMembership>> found(person_keys.size());
  std::unordered_map<std::string_view, std::size_t> index;
  for (std::size_t start = 0; start < person_keys.size(); start += kLookupChunk) {
    std::size_t end = std::min(person_keys.size(), start + kLookupChunk);
    Stmt& s = prepared(find_memberships_, sql);
    s.bind(1, target).bind(2, hierarchy_id).bind(3, job);
    for (std::size_t i = start; i < start + kLookupChunk; ++i) {
      if (i < end) {
        s.bind(static_cast<int>(i - start) + 4, person_keys[i]);
        index.emplace(person_keys[i], i);
      } else {
        s.bind_null(static_cast<int>(i - start) + 4);
      }
    }
    while (s.step()) {
      auto it = index.find(s.text(0));
      if (it == index.end()) continue;
      found[it->second] = read(s);
    }
    s.reset();
  }
  // A key asked twice gets the same answer twice.
  for (std::size_t i = 0; i < person_keys.size(); ++i) {
    if (!found[i]) {
      auto it = index.find(person_keys[i]);
      if (it != index.end() && it->second != i) found[i] = found[it->second];
    }
  }
  return found;
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

Stmt& Store::cached(const std::string& sql) {
  std::unique_ptr<Stmt>& slot = cache_[sql];
  return prepared(slot, sql);
}

Stmt& Store::prepared(std::unique_ptr<Stmt>& slot, const std::string& sql) {
  if (!slot) slot = std::make_unique<Stmt>(db_, sql);
  else slot->reset();
  return *slot;
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

void Store::mark_attempt(const std::string& target, const std::vector<std::string>& ids) {
  // The barrier before a send: ids committed since the last one reach the disk.
  const bool barrier = ids_durable_ < ids_committed_;
  durable(barrier);
  Transaction tx(db_);
  Stmt& s = cached(std::string("UPDATE membership SET attempts=attempts+1, updated_at=") + kSqlNow +
                   " WHERE target=? AND membership_id=?");
  for (const auto& id : ids) s.bind(1, target).bind(2, id).run();
  tx.commit();
  if (barrier) ids_durable_ = ids_committed_;
}

void Store::record_results(const std::string& target, const std::vector<ItemResult>& results) {
  durable(false);
  Transaction tx(db_);
  Stmt& unknown = cached(std::string("UPDATE membership SET state='pending', last_error=?, updated_at=") + kSqlNow +
                         " WHERE target=? AND membership_id=?");
  Stmt& refused =
      cached(std::string("UPDATE membership SET state=?, last_error=?, refusals=?, next_attempt_at=CASE WHEN ? "
                         "THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ? || ' seconds') END, updated_at=") +
             kSqlNow + " WHERE target=? AND membership_id=?");
  Stmt& created =
      cached(std::string("UPDATE membership SET state=CASE WHEN op='delete' THEN 'deleted' ELSE 'created' END, "
                         "last_error=NULL, next_attempt_at=NULL, refusals=0, updated_at=") +
             kSqlNow + " WHERE target=? AND membership_id=?");
  for (const auto& r : results) {
    switch (r.fate) {
      case ItemResult::Fate::created:
        created.bind(1, target).bind(2, r.membership_id).run();
        break;
      case ItemResult::Fate::waiting:
      case ItemResult::Fate::parked: {
        bool parked = r.fate == ItemResult::Fate::parked;
        refused.bind(1, std::string(parked ? "failed" : "pending")).bind(2, r.error).bind(3, r.refusals);
        refused.bind(4, parked ? 1 : 0).bind(5, std::to_string(r.wait.count()));
        refused.bind(6, target).bind(7, r.membership_id).run();
        break;
      }
      case ItemResult::Fate::unknown:
        unknown.bind_or_null(1, r.error).bind(2, target).bind(3, r.membership_id).run();
        break;
    }
  }
  tx.commit();
}

int Store::requeue_parked(const std::optional<std::string>& job, const std::optional<std::string>& membership_id) {
  Stmt s(db_, std::string("UPDATE membership SET state='pending', refusals=0, next_attempt_at=NULL, updated_at=") +
                  kSqlNow +
                  " WHERE (state='failed' OR next_attempt_at IS NOT NULL) AND (? IS NULL OR job=?) AND (? IS NULL OR "
                  "membership_id=?)");
  if (job) s.bind(1, *job).bind(2, *job);
  else s.bind_null(1).bind_null(2);
  if (membership_id) s.bind(3, *membership_id).bind(4, *membership_id);
  else s.bind_null(3).bind_null(4);
  s.run();
  return db_.changes();
}

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

std::vector<Store::MembershipCount> Store::membership_counts() {
  std::vector<MembershipCount> counts;
  Stmt& s = cached(std::string("SELECT job, CASE state WHEN 'failed' THEN 'parked' WHEN 'pending' THEN "
                               "CASE WHEN COALESCE(next_attempt_at <= ") + kSqlNow + ", 1) THEN 'pending' ELSE 'waiting' END "
                   "ELSE state END AS shown, count(*) FROM membership WHERE state <> 'deleted' GROUP BY job, shown");
  while (s.step()) counts.push_back({s.text(0), s.text(1), s.integer(2)});
  s.reset();
  return counts;
}

std::map<std::string, std::int64_t> Store::last_ok_runs() {
  std::map<std::string, std::int64_t> last;
  Stmt s(db_, "SELECT job, CAST(strftime('%s', max(ended_at)) AS INTEGER) FROM run WHERE outcome='ok' GROUP BY job");
  while (s.step()) last[s.text(0)] = s.integer(1);
  return last;
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

int Store::prune_snapshot(const std::string& job, std::int64_t run_id) {
  Stmt s(db_, "DELETE FROM roster_member WHERE job=? AND last_seen_run<>?");
  s.bind(1, job).bind(2, run_id).run();
  return db_.changes();
}

}  // namespace rostersync::store

namespace rostersync::store {

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

}  // namespace rostersync::store

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

namespace rostersync::store {

void copy_database(const std::string& from, const std::string& to) {
  Connection source(from, Connection::Mode::read_only, 5000);
  Stmt s(source, "VACUUM INTO ?");
  s.bind(1, to).run();
}

}  // namespace rostersync::store
