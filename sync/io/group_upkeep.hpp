// The group's side of a run: which jobs feed the run's group, the group read
// (readMembershipsForGroup: adoption, reconcile and restores, deletions in
// doubt) and, after a complete walk, the group's decision: whether the walk
// counts, what each job listed, and which deletions go out or wait for
// approval (the pure rules are in sync/planning/removals.hpp).
#pragma once

#include <string>
#include <vector>

#include "sync/io/engine_impl.hpp"
#include "sync/machines/run.hpp"
#include "sync/planning/removals.hpp"

namespace rostersync::sync::io {

// The jobs feeding the run's group, as the configuration in force and the
// state database know them: configured jobs of the same target whose
// hierarchy_id is the group (templates resolve only by walking: those
// count once they have listings), and every job with listings there.
std::vector<FeedingJob> feeding_jobs(RunState& run, const config::Job& job);

// Reads the group (readMembershipsForGroup) when adoption or reconcile is
// due, and applies what it finds. Returns "" or why the walk must stop: a
// create into a group that could not be read might give someone a second
// membership, so nothing is planned before the read succeeds; or the state
// database's failure, as a value.
asio::awaitable<Result<std::string>> read_group_if_due(RunState& run, const config::Job& job);

// After a complete walk: whether it counts (an empty roster is held, a
// roster that moved under the walk counts for nobody), the job's listings,
// then the group's decision: deletions sent only if the guard lets them go.
// Returns the writes to send.
std::vector<PlannedWrite> settle_group(RunState& run, const config::Job& job, const RunMachine& walk,
                                       JobReport& report, bool& walk_not_counted);

}  // namespace rostersync::sync::io
