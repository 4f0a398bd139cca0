// Holds that wait for a person, as the state database keeps them: a group's
// deletions or restores that a guard held, or a job's roster that came back
// empty; and the held writes themselves. Read by the writer (Store) and by
// the read-only views (Reports) through the same two functions, so that
// both name a hold by the same id.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/sqlite.hpp"

namespace rostersync::store {

// Stored once per job feeding the held group, so that each job's views show
// it; approving or rejecting it through any of them settles it for all.
struct WriteHold {
  std::string job;
  std::string kind;  // "delete", "restore", "empty_roster"
  std::string target, hierarchy_id;
  int planned = 0;  // writes held
  int base = 0;     // the group's owned, confirmed memberships then
  std::string reason;
  std::int64_t run_id = 0;
  std::string since;      // UTC ISO 8601
  bool accepted = false;  // empty_roster approved: the job's empty walks count
  // Names exactly the held set: a digest of the held membership ids (of the
  // job, group and time for an empty roster). `approve --hold ID` applies to
  // this set only; whatever a later run holds changes the id.
  std::string id;
};

// One held write.
struct HeldWrite {
  std::string kind;  // "delete" or "restore"
  std::string membership_id, person_key, role_type, reason, since;
};

// A write_hold row: `"SELECT " + kHoldColumns + " WHERE ..."` read by read_write_hold().
inline constexpr const char* kHoldColumns =
    "job, kind, target, hierarchy_id, planned, base, reason, run_id, since, accepted FROM write_hold";
WriteHold read_write_hold(Stmt& s);

// Holds awaiting a person (accepted empty rosters are not), of one job or all, with their ids.
std::vector<WriteHold> read_write_holds(Connection& db, const std::optional<std::string>& job);
// The writes a group's hold of `kind` holds, by membership id.
std::vector<HeldWrite> read_held_writes(Connection& db, const std::string& target, const std::string& hierarchy_id,
                                        const std::string& kind);

}  // namespace rostersync::store
