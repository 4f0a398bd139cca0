// The state database, as the sync side writes it: roster snapshots, the
// memberships rostersync created (or is creating) with their ids, run
// history, holds and the schedule. SQLite in WAL mode; membership ids are on
// disk (fsynced) before any request carries them, the rest commits without
// an fsync of its own (see durable() in store.cpp). One .cpp per section
// of the class below, named in each section's marker.
//
// Storage only: every decision (what to create, when to retry, when to park
// an item or hold a target) is made by the caller and recorded here. Every
// method that changes state is one transaction, so the file is consistent
// after a crash at any point. Every method throws StoreError (our text: the
// file and what was asked; SQLite's message apart) on failure; the sync side
// calls it through store::attempt (attempt.hpp), which makes that failure a
// value the run and batch machines handle (the run ends as failed).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <utility>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "domain/digest.hpp"
#include "domain/group.hpp"
#include "domain/roster.hpp"
#include "domain/run.hpp"
#include "store/holds.hpp"
#include "store/migrations.hpp"
#include "store/reports.hpp"
#include "store/sqlite.hpp"

namespace rostersync::store {

class Store {
 public:
  // Opens `path` read-write, creating the file, its directory and the schema
  // (or migrating an older one). Throws StoreError, also for a newer schema.
  // `busy_timeout`: how long a call waits for another process's lock before
  // it fails with a busy StoreError (the daemon's event loop waits with it).
  explicit Store(const std::string& path, std::chrono::milliseconds busy_timeout = std::chrono::seconds(5));

  const std::string& path() const { return db_.path(); }
  // "" while the file works; else why it cannot be trusted any more (corrupt,
  // not a database, an I/O error): a daemon stops with exit 3.
  const std::string& unusable() const { return db_.unusable(); }
  int schema_version() { return store::schema_version(db_); }
  // The schema the file had when this Store opened it: 0 for a new file,
  // kSchemaVersion when no upgrade was needed.
  int upgraded_from() const { return upgraded_from_; }

  // Runs `body` in one transaction (one commit, one fsync, instead of one
  // per call). Only the single-statement methods may be called in it:
  // finish_run, settle_pages, forget_pages, prune_snapshot, snapshot_digest.
  // Rolled back if `body` throws.
  void transaction(const std::function<void()>& body);

  // --- runs and pages (runs.cpp) ---

  // Runs still marked running belong to a process that died: mark them interrupted.
  int close_abandoned_runs();

  std::int64_t begin_run(const std::string& job, const std::string& hierarchy_id = "");
  // The hierarchy a run writes to, once a template is filled in.
  void set_run_hierarchy(std::int64_t run_id, const std::string& hierarchy_id);
  void finish_run(std::int64_t run_id, const RunStats& stats, RunOutcome outcome, const std::string& error);

  // Records one planned page: snapshot rows, the job's listings in the group
  // (each member with a person key, with its role), new pending memberships (their ids
  // are committed here, before any request carries them), and resends marked
  // queued. `page_number` (1-based) and `digest` remember a settled page, or
  // one that settles once this run's creates are confirmed (see
  // settled_page, settle_pages); without a digest, any page remembered at
  // that position is forgotten. Returns how many members were new to the snapshot.
  int commit_page(std::int64_t run_id, const std::string& job, const std::string& target,
                  const std::string& hierarchy_id, const PagePlan& plan, int page_number = 0,
                  std::optional<std::uint64_t> digest = std::nullopt);

  // The counts of the page at `page_number` if it was committed settled with
  // this `digest` (members, already present, skipped; no snapshot rows or
  // creates); nullopt when the page is new or changed.
  std::optional<PagePlan> settled_page(const std::string& job, int page_number, std::uint64_t digest);
  // At the end of a run: its pages waiting for their creates become settled
  // (`confirmed`: every create was confirmed) or are forgotten.
  void settle_pages(const std::string& job, std::int64_t run_id, bool confirmed);
  // Forgets settled pages after `last_page` (the roster got shorter), or all with 0.
  void forget_pages(const std::string& job, int last_page);

  // The set of user ids in the job's snapshot, as a digest (one scan).
  MemberSetDigest snapshot_digest(const std::string& job);

  // After a complete walk: drop snapshot rows of members no longer in the roster.
  int prune_snapshot(const std::string& job, std::int64_t run_id);

  // --- memberships (memberships.cpp) ---

  // `job`: the job asking; other_roles holds what the other jobs of the group list.
  std::optional<StoredMembership> find_membership(const std::string& target, const std::string& hierarchy_id,
                                                  const std::string& person_key, const std::string& job = "");
  // The same for many person keys at once (one query per few hundred keys);
  // the answer is in the order of `person_keys`.
  std::vector<std::optional<StoredMembership>> find_memberships(const std::string& target,
                                                                const std::string& hierarchy_id,
                                                                const std::vector<std::string>& person_keys,
                                                                const std::string& job = "");

  // Counts one more send attempt for these ids. Called before every send:
  // it is also the durability barrier for ids committed since the last one.
  void mark_attempt(const std::string& target, const std::vector<std::string>& ids);
  // True while ids are committed but not yet fsynced (until the next mark_attempt).
  bool ids_awaiting_fsync() const { return ids_durable_ < ids_committed_; }

  // Stores per-item fates, as the retry policy decided them, in one transaction.
  void record_results(const std::string& target, const std::vector<ItemResult>& results);

  // `rostersync retry`: parked and waiting items become due at the next run
  // (refusal count reset). Filters are optional. Returns how many changed.
  int requeue_parked(const std::optional<std::string>& job, const std::optional<std::string>& membership_id);

  // For metrics: each job's memberships by state as an operator counts them
  // (created; pending: sent at the next run; waiting: refused, retried
  // later; parked: refused too often), and (runs.cpp) each job's last run
  // that ended ok (unix seconds).
  struct MembershipCount {
    std::string job, state;
    long long count = 0;
  };
  std::vector<MembershipCount> membership_counts();
  std::map<std::string, std::int64_t> last_ok_runs();

  // --- holds and schedule (schedule.cpp) ---

  // Holds: set (or extend) for `duration` from now, look up, lift.
  void set_hold(const Hold& hold, std::chrono::seconds duration);
  std::optional<Hold> find_hold(HoldScope scope, const std::string& name);
  void clear_hold(HoldScope scope, const std::string& name);
  // Lifts every hold; returns those lifted.
  std::vector<Hold> clear_holds();
  // Holds still in force (until in the future).
  std::vector<Hold> active_holds();

  // Records when `rostersync run` will next start this job.
  void set_next_run(const std::string& job, std::int64_t seconds_from_now);
  // The same for many jobs, in one transaction.
  void set_next_runs(const std::vector<std::pair<std::string, std::int64_t>>& seconds_from_now);

  // What a starting daemon needs to place each job: the time until the run
  // the previous process planned (negative when overdue), and whether it ever ran.
  struct PlannedRun {
    std::optional<std::chrono::milliseconds> planned_in;
    bool has_run = false;
  };
  std::map<std::string, PlannedRun> planned_runs();

  // --- the file's own facts and retention (store.cpp) ---

  // The daemon's pass as a whole (one row, replaced each time).
  void record_pass(const PassProgress& pass);

  // A value of the `meta` table ("" when unset), and setting one. Keys the
  // daemon and the CLI share: registry_refused_files (one per line; or why
  // the registry could not be read), registry_errors (one per line),
  // registry_awaiting, registry_change_id (a
  // registry change waiting for confirm-registry), registry_confirmed_id
  // (and _by, _at: who confirmed which change).
  std::string meta(const std::string& key);
  void set_meta(const std::string& key, const std::string& value);

  // What the daemon runs now (its configuration's jobs and the registry
  // courses the guard lets run), replacing the last record, with meta
  // daemon_jobs_at: `status --check` judges these, from the database alone.
  void record_daemon_jobs(const std::vector<DaemonJob>& jobs);
  // The last record (none when never recorded), in name order.
  std::vector<DaemonJob> recorded_daemon_jobs();

  // Deletes runs that ended more than `retention` ago, but never a job's
  // newest run (status still shows its last outcome). Returns how many.
  int prune_runs(std::chrono::seconds retention);

  // --- keeping memberships right over time (upkeep.cpp; see sync/planning/removals.hpp, reconcile.hpp) ---

  // Every membership stored for a group, of every job.
  std::vector<GroupRow> group_rows(const std::string& target, const std::string& hierarchy_id);
  // What every job says of the group's persons (sync/planning/removals.hpp).
  std::vector<Listing> listings(const std::string& target, const std::string& hierarchy_id);
  // The jobs with listings in the group.
  std::vector<std::string> group_jobs(const std::string& target, const std::string& hierarchy_id);
  // After a trusted complete walk of `job`: one more absent walk for the
  // persons in `absent` (a new listing starts at 1), none for `back`. When
  // anything changed, the pages of the group's other jobs are planned one
  // by one again (the group's role for a person may have changed).
  void record_walk(const std::string& target, const std::string& hierarchy_id, const std::string& job,
                   const std::vector<std::string>& absent, const std::vector<std::string>& back);
  // The group decision (sync/planning/removals.hpp): departure flags reset
  // for `back`, withdrawn lifted for `released`, `held` flagged for approval
  // (only the held set is flagged; what was flagged before and is not held
  // now, because its person came back, was reset through `back`).
  void record_group_decision(const std::string& target, const std::vector<std::string>& back,
                             const std::vector<std::string>& released, const std::vector<PlannedWrite>& held);
  // Deletions about to be sent: the intent is committed (op delete, pending)
  // and made durable by the next mark_attempt(), before any request carries it.
  void queue_removals(const std::string& target, std::int64_t run_id, const std::vector<PlannedWrite>& removals);

  using WriteHold = store::WriteHold;
  using HeldWrite = store::HeldWrite;
  // Sets (or updates) the hold for each of `jobs`.
  void set_write_hold(const WriteHold& hold, const std::vector<std::string>& jobs);
  // Lifts a group's hold of `kind` for every job (the guard no longer holds).
  void clear_write_hold(const std::string& kind, const std::string& target, const std::string& hierarchy_id);
  // The job's empty_roster hold, if any (accepted or not).
  std::optional<WriteHold> find_walk_hold(const std::string& job);
  void clear_walk_hold(const std::string& job);
  // Holds awaiting a person (accepted empty rosters are not), of one job or all, with their ids.
  std::vector<WriteHold> write_holds(const std::optional<std::string>& job = std::nullopt);

  std::vector<HeldWrite> held_writes(const std::string& target, const std::string& hierarchy_id,
                                     const std::string& kind);

  // `rostersync approve` / `reject`: applies the decision to exactly the
  // set the hold `hold_id` of `job` names, records who decided, when and
  // why, and lifts the hold. Approved deletions go at the next run of a job
  // of the group (those whose persons are still gone then); approved
  // restores are created again; an approved empty roster counts from its
  // next walk. Rejected deletions stay until their persons are seen again
  // and leave again; rejected restores stay removed (withdrawn); a rejected
  // empty roster is held again at its next empty walk. Returns the hold and
  // how many memberships the decision applied to, or why nothing was done.
  struct HoldDecision {
    WriteHold hold;
    int writes = 0;
  };
  std::variant<HoldDecision, std::string> decide_hold(const std::string& job, const std::string& hold_id, bool approve,
                                                      const std::string& who, const std::string& reason);

  // The last readMembershipsForGroup of a group: how long ago (nullopt: never read).
  std::optional<std::chrono::milliseconds> group_read_age(const std::string& target, const std::string& hierarchy_id);
  // Applies a read's plan to the group's rows and records the read, in one
  // transaction. `held_restores`: restores a guard holds (flagged, not
  // restored); the plan's `restore` holds only those that go now.
  void apply_group_read(const std::string& target, const std::string& hierarchy_id, const std::string& job,
                        std::int64_t run_id, int listed, const ReconcilePlan& plan,
                        const std::vector<std::string>& held_restores = {});
  // Deletions in the group sent at least once and not confirmed (a crash
  // after the send, or a refusal: perhaps it was gone already). A read of
  // the group settles them.
  bool deletes_in_doubt(const std::string& target, const std::string& hierarchy_id);
  // What `forget --delete-memberships` deletes: memberships rostersync
  // created for the persons the job lists (or planned), that exist in
  // itslearning (or may: a write not confirmed), and that no other job of
  // the group lists: a membership is one (person, group) pair, and another
  // job's roster still asks for it. By target.
  std::map<std::string, std::vector<PlannedWrite>> owned_memberships(const std::string& job);
  // `rostersync adopt`: the job's groups are read again at its next run. Returns how many records were dropped.
  int forget_group_reads(const std::string& job, const std::string& target);

  // `rostersync forget`: a job's runs, snapshot, settled pages, schedule
  // and holds. Its listings stay: in a group that other jobs feed, what it
  // listed last keeps those persons' memberships (nothing is deleted
  // because a job was forgotten). Its memberships stay: they are what rostersync created in
  // itslearning (their ids are shown nowhere else). Returns the runs deleted.
  int forget_job(const std::string& job);

 private:
  // Sets umask 077 for its lifetime (the constructor's: see store.cpp).
  struct PrivateFiles {
    PrivateFiles();
    ~PrivateFiles();
    unsigned old;
  };
  Store(const std::string& path, std::chrono::milliseconds busy_timeout, PrivateFiles&&);
  // WAL mode, migrations, the version record: the first writes.
  void open_for_writing();
  // A statement prepared on first use and reset before each later one: for
  // the calls made once per member.
  Stmt& prepared(std::unique_ptr<Stmt>& slot, const std::string& sql);
  // The same, kept by its SQL: for the statements of every page and batch.
  Stmt& cached(const std::string& sql);
  // Sets synchronous=FULL or NORMAL for the next commits (outside a transaction).
  void durable(bool full);
  bool synchronous_full_ = false;
  int upgraded_from_ = 0;
  std::uint64_t ids_committed_ = 0;  // commits that carried new or requeued ids
  std::uint64_t ids_durable_ = 0;    // of those, how many are fsynced

  Connection db_;
  // Declared after db_: finalized before it closes.
  std::unique_ptr<Stmt> find_memberships_;  // for kLookupChunk keys
  std::unique_ptr<Stmt> settled_page_;
  std::unique_ptr<Stmt> begin_run_, finish_run_, find_hold_, settle_pages_[2], forget_pages_;
  std::unordered_map<std::string, std::unique_ptr<Stmt>> cache_;
};

// A consistent copy of the database at `from` (read while a daemon may be
// writing it) into the new file `to`, through VACUUM INTO: never a copy of
// the live file. Throws StoreError.
void copy_database(const std::string& from, const std::string& to);

}  // namespace rostersync::store
