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
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sync/planner.hpp"

struct sqlite3;

namespace rostersync::store {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr int kSchemaVersion = 2;

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
  std::array<int, sync::kSkipReasonCount> skipped{};
  int skipped_total() const;
};

struct ItemResult {
  std::string membership_id;
  sync::MembershipState state;
  std::string error;  // "" for success
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

  // Stores per-item outcomes (state and last error) in one transaction.
  void record_results(const std::string& target, const std::vector<ItemResult>& results);

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
