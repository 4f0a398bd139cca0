#include "sync/policy/run_outcome.hpp"

namespace rostersync::sync {

RunStart decide_start(const std::optional<Hold>& job_hold, const std::optional<Hold>& target_hold,
                      const std::optional<Hold>& source_hold) {
  for (const auto* hold : {&job_hold, &source_hold, &target_hold}) {
    if (*hold && (*hold)->active()) return {false, false, describe(**hold), (*hold)->remaining};
  }
  return {true, target_hold && target_hold->kind == HoldKind::breaker, "", {}};
}

RunVerdict decide_outcome(const RunEnd& end) {
  RunVerdict v;
  v.prune_snapshot = end.walk_complete && end.walk_error.empty();
  v.error = end.walk_error;
  if (!end.target_error.empty()) v.error = v.error.empty() ? end.target_error : v.error + "; " + end.target_error;
  if (end.stopping && v.error.empty() && (!end.walk_complete || end.pending > 0)) {
    v.outcome = RunOutcome::interrupted;
    v.error = end.walk_complete ? "stopped with " + std::to_string(end.pending) + " item(s) not sent or unanswered"
                                : "stopped before the walk completed";
  } else if (!v.error.empty()) {
    v.outcome = RunOutcome::failed;
  } else if (end.failed > 0 || end.pending > 0) {
    v.outcome = RunOutcome::partial;
  } else {
    v.outcome = RunOutcome::ok;
  }
  return v;
}

}  // namespace rostersync::sync
