#include "sync/planning/removals.hpp"

namespace rostersync::sync {

DeparturePlan plan_departures(const std::vector<GroupRow>& rows, const std::unordered_set<std::string>& seen,
                              const std::unordered_set<std::string>& inactive, const DepartureRules& rules) {
  DeparturePlan plan;
  for (const GroupRow& row : rows) {
    if (!row.owned || row.state == MembershipState::deleted) continue;
    ++plan.owned;
    const bool queued_delete = row.state == MembershipState::pending && row.op == MembershipOp::remove;
    const bool confirmed = row.state == MembershipState::created ||
                           (row.state == MembershipState::pending && row.op != MembershipOp::create);
    const bool listed = seen.count(row.person_key) > 0;
    const bool gone_inactive = rules.remove_inactive && inactive.count(row.person_key) > 0;
    if (listed && !gone_inactive) {
      if (row.absent_walks > 0 || !row.departure.empty() || row.removal_approved || row.removal_rejected) {
        plan.back.push_back(row.membership_id);
      }
      // (Back while its delete was pending: the planner creates it again under the same id.)
      continue;
    }
    int absent = listed ? row.absent_walks : row.absent_walks + 1;
    if (!listed) plan.absent.emplace_back(row.membership_id, absent);
    if (!confirmed || row.removal_rejected) continue;
    std::string reason;
    if (gone_inactive) reason = "inactive";
    else if (absent >= rules.grace_walks) reason = "departed";
    else continue;
    PlannedWrite w;
    w.membership_id = row.membership_id;
    w.person_key = row.person_key;
    w.role_type = row.role_type;
    w.is_new = false;
    w.op = MembershipOp::remove;
    w.reason = reason;
    if (queued_delete || row.removal_approved) ++plan.decided;
    plan.removals.push_back(std::move(w));
  }
  return plan;
}

RemovalVerdict judge_removals(int undecided, int owned, int walk_members, int snapshot_members,
                              const RemovalLimits& limits) {
  RemovalVerdict v;
  if (undecided <= 0) return v;
  const std::string planned = std::to_string(undecided) + " deletion(s) planned";
  if (walk_members == 0 && snapshot_members > 0) {
    v.hold = true;
    v.reason = planned + ": the roster came back empty (it listed " + std::to_string(snapshot_members) +
               " members before); an empty roster is always held";
  } else if (undecided > limits.max_deletes) {
    v.hold = true;
    v.reason = planned + ", more than max_deletes (" + std::to_string(limits.max_deletes) + ")";
  } else if (owned > 0 && static_cast<long long>(undecided) * 100 > static_cast<long long>(limits.max_delete_percent) * owned) {
    v.hold = true;
    v.reason = planned + ", " + std::to_string((undecided * 100 + owned - 1) / owned) + "% of the job's " +
               std::to_string(owned) + " memberships, more than max_delete_percent (" +
               std::to_string(limits.max_delete_percent) + "%)";
  }
  return v;
}

}  // namespace rostersync::sync
