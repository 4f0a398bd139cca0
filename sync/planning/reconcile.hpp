// Adoption and reconcile: what to make of a group as itslearning lists it
// (readMembershipsForGroup), given what the state database holds for it.
//
// Before the first create into a hierarchy (and on `rostersync adopt`), every
// membership already there is adopted: its id is stored and used, so no
// (person, group) pair ever gets a second membership because of rostersync.
// Later reads (`reconcile_interval`) also restore memberships rostersync
// made that itslearning no longer has, and report the ones it did not make.
// Pure: no I/O, no clock.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "domain/group.hpp"

namespace rostersync::sync {

// `rows`: every membership stored for the group; `found`: the group as read;
// `own_adopted`: the group's own_adopted now (sync/planning/removals.hpp).
// Only memberships rostersync owns and itslearning had confirmed are
// restored; whether the restores may go without a person is judge_restores'.
ReconcilePlan plan_reconcile(const std::vector<GroupRow>& rows, const std::vector<RemoteMembership>& found,
                             bool own_adopted);

}  // namespace rostersync::sync
