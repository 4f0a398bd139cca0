#include "sync/planning/reconcile.hpp"

#include "sync/planning/removals.hpp"

#include <unordered_map>
#include <unordered_set>

namespace rostersync::sync {

ReconcilePlan plan_reconcile(const std::vector<GroupRow>& rows, const std::vector<RemoteMembership>& found,
                             bool own_adopted) {
  ReconcilePlan plan;
  std::unordered_map<std::string, const GroupRow*> by_id, by_person;
  for (const GroupRow& r : rows) {
    by_id.emplace(r.membership_id, &r);
    by_person.emplace(r.person_key, &r);
  }
  std::unordered_set<std::string> found_ids;
  for (const RemoteMembership& f : found) found_ids.insert(f.membership_id);

  std::unordered_set<std::string> taken_persons;  // a person whose membership is settled by this read
  std::unordered_set<std::string> replaced;       // our ids an adopted one takes the place of
  // First the ids we hold: they are the person's membership, whatever else is listed.
  for (const RemoteMembership& f : found) {
    auto it = by_id.find(f.membership_id);
    if (it == by_id.end()) continue;
    const GroupRow& row = *it->second;
    taken_persons.insert(row.person_key);
    const bool delete_pending = row.state == MembershipState::pending && row.op == MembershipOp::remove;
    if (delete_pending || (row.state == MembershipState::created && row.role_type == f.role_type)) {
      ++plan.present;
    } else {
      plan.confirm.push_back(f);
    }
  }
  for (const RemoteMembership& f : found) {
    if (by_id.count(f.membership_id)) continue;
    if (!taken_persons.insert(f.person_key).second) {
      plan.duplicates.push_back(f);
      continue;
    }
    ReconcilePlan::Adopt adopt{f, std::nullopt};
    if (auto mine = by_person.find(f.person_key); mine != by_person.end()) {
      adopt.replaces = mine->second->membership_id;
      replaced.insert(mine->second->membership_id);
    }
    plan.adopt.push_back(std::move(adopt));
  }
  for (const GroupRow& row : rows) {
    if (found_ids.count(row.membership_id) || replaced.count(row.membership_id)) continue;
    const bool was_confirmed = row.state == MembershipState::created ||
                               (row.state == MembershipState::pending && row.op == MembershipOp::update);
    // What rostersync does not own (an adopted membership whose owner
    // deleted it) is not rostersync's to bring back.
    if (was_confirmed && owned_now(row, own_adopted)) plan.restore.push_back(row.membership_id);
    else if (was_confirmed) plan.lost_foreign.push_back(row.membership_id);
    const bool delete_unconfirmed =
        row.op == MembershipOp::remove && (row.state == MembershipState::pending || row.state == MembershipState::failed);
    if (delete_unconfirmed) plan.gone.push_back(row.membership_id);
  }
  return plan;
}

}  // namespace rostersync::sync
