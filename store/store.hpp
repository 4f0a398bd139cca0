// The state database: roster snapshots, memberships rostersync created (or is
// creating) with their ids, and run history. SQLite, WAL mode.
//
// Every method that changes state is one transaction, so the file is
// consistent after a crash at any point. Schema changes are migrations keyed
// by PRAGMA user_version. Errors (disk full, corrupt file, locked) throw
// StoreError naming the database path and the failing operation; the job
// runner turns them into a failed run.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "sync/planner.hpp"

struct sqlite3;

namespace rostersync::store {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr int kSchemaVersion = 3;

enum class RunOutcome { running, ok, partial, failed, interrupted };
const char* to_string(RunOutcome);

struct RunStats {
  int pages = 0;
  int members_seen = 0;
  int new_members = 0;      // not in the snapshot before this run
  int already_present = 0;  // eligible and already created
  int creates_planned = 0;  // items queued for sending (new ids and resends)
  int created = 0;
  int failed = 0;           // items itslearning refused
  int pending = 0;          // items whose outcome is not known yet
  int deferred = 0;         // items not sent: waiting for their next attempt, or parked
  std::array<int, sync::kSkipReasonCount> skipped{};
  int skipped_total() const;
};

struct ItemResult {
  std::string membership_id;
  sync::MembershipState state;  // created; failed = refused by itslearning; pending = outcome unknown
  std::string error;            // "" for success
};

// A job or target rostersync has stopped sending to.
struct Hold {
  std::string scope;   // "job" or "target"
  std::string name;
  std::string kind;    // "blocked" (configuration error) or "breaker" (failing nearly everything)
  std::string reason;  // the error that caused it, e.g. the SOAP fault text
  std::string since;   // UTC ISO 8601
  std::string until;   // UTC ISO 8601: no new try before this
  std::chrono::milliseconds remaining{0};  // until - now (negative once past)
  bool active() const { return remaining.count() > 0; }
};

class Store {
 public:
  enum class Mode { read_write, read_only };

  // Opens (creating and migrating if needed in read_write mode).
  explicit Store(const std::string& path, Mode mode = Mode::read_write);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }
  int schema_version();

  // Runs still marked running belong to a process that died: mark them interrupted.
  int close_abandoned_runs();

  std::int64_t begin_run(const std::string& job);
  void finish_run(std::int64_t run_id, const RunStats& stats, RunOutcome outcome, const std::string& error);

  std::optional<sync::StoredMembership> find_membership(const std::string& target, const std::string& hierarchy_id,
                                                       const std::string& person_key);

  // Records one planned page: snapshot rows, new pending memberships (their ids
  // are committed here, before any request carries them), and resends marked
  // queued. Returns how many members were new to the snapshot.
  int commit_page(std::int64_t run_id, const std::string& job, const std::string& target,
                  const std::string& hierarchy_id, const sync::PagePlan& plan);

  // Counts one more send attempt for these ids.
  void mark_attempt(const std::string& target, const std::vector<std::string>& ids);

  // Stores per-item outcomes in one transaction. A refused item counts one
  // more refusal and either waits (next_attempt_at) or is parked as failed,
  // per `item_retry`. Returns how many items were parked.
  int record_results(const std::string& target, const std::vector<ItemResult>& results,
                     const config::ItemRetrySettings& item_retry);

  // `rostersync retry`: parked and waiting items become due at the next run
  // (refusal count reset). Filters are optional. Returns how many changed.
  int requeue_parked(const std::optional<std::string>& job, const std::optional<std::string>& membership_id);

  // Holds: set (or extend) for `duration` from now, look up, lift.
  void set_hold(const Hold& hold, std::chrono::seconds duration);
  std::optional<Hold> find_hold(const std::string& scope, const std::string& name);
  void clear_hold(const std::string& scope, const std::string& name);
  int clear_holds();

  // Records when `rostersync run` will next start this job.
  void set_next_run(const std::string& job, std::int64_t seconds_from_now);

  // After a complete walk: drop snapshot rows of members no longer in the roster.
  int prune_snapshot(const std::string& job, std::int64_t run_id);

  sqlite3* handle() { return db_; }

 private:
  void exec(const char* sql);
  void migrate();

  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace rostersync::store
