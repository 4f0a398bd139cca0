// Departures and the removal guard: which memberships a complete walk
// says should go, and whether the guard lets them go without a human.
//
// Pure functions over what the state database holds for a group (GroupRow)
// and what the walk saw; no I/O, no clock. The engine calls them only after
// a COMPLETE, validated walk (never after a failed, partial, capped or
// unparseable one) and only for jobs with remove_departed on.
#pragma once

#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "config/domain/group.hpp"

namespace rostersync::sync {

struct DepartureRules {
  int grace_walks = 2;         // complete walks in a row without the member before its membership goes
  bool remove_inactive = true;  // a member the roster lists as Inactive goes at once
};

struct DeparturePlan {
  // Memberships to delete (op remove, reason "departed" or "inactive").
  std::vector<PlannedWrite> removals;
  // Of those, how many were approved (`rostersync approve`) or already
  // queued by an earlier run (a delete not confirmed yet): the guard does
  // not count them again.
  int decided = 0;
  // Absent from this walk: membership id -> complete walks in a row now.
  std::vector<std::pair<std::string, int>> absent;
  // Seen again after being absent, held, approved or rejected: counters and flags reset.
  std::vector<std::string> back;
  int owned = 0;  // memberships of the job rostersync may delete (the guard's base)
};

// `rows`: the job's memberships in the walk's group. `seen`: person keys of
// every member the walk listed (skipped ones included: a member whose role
// is not mapped is still in the course); `inactive`: those listed Inactive.
// Only owned memberships confirmed in itslearning (state created, or a
// pending update or delete) can be removed: one never confirmed is not
// deleted, nor is one parked or rejected.
DeparturePlan plan_departures(const std::vector<GroupRow>& rows, const std::unordered_set<std::string>& seen,
                              const std::unordered_set<std::string>& inactive, const DepartureRules& rules);

struct RemovalLimits {
  int max_deletes = 500;         // per job and run
  int max_delete_percent = 20;   // of the job's owned memberships in the group
};

struct RemovalVerdict {
  bool hold = false;   // delete nothing; the job awaits `rostersync approve` or `reject`
  std::string reason;  // which guard, with the numbers
};

// `undecided`: planned deletions neither approved nor already queued.
// `walk_members`: members the walk returned; `snapshot_members`: members
// the snapshot held before it. An empty walk where there were members is
// always held, whatever the limits.
RemovalVerdict judge_removals(int undecided, int owned, int walk_members, int snapshot_members,
                              const RemovalLimits& limits);

}  // namespace rostersync::sync
