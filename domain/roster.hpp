// The roster vocabulary every room shares: members as NRPS sends them, one
// page of a roster, why a member is skipped, what the state database holds
// for a membership, and what the planner decided for one page.
//
// Plain data, no behaviour beyond naming; includes nothing of the project's
// rooms, so store, sync and daemon can all speak it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rostersync {

struct Member {
  std::string user_id;
  std::vector<std::string> roles;
  bool active = true;                 // status Active or absent
  std::string status;                 // as sent ("" when absent)
  std::string lis_person_sourcedid;   // "" when absent
  std::string email;                  // "" when absent
  std::string name;                   // display name, "" when absent
};

struct RosterPage {
  std::string container_id;  // top-level `id`: the LMS's NRPS URL for this roster ("" if absent)
  std::string context_id;
  std::string context_label;  // the course code, e.g. "CPS435" ("" if absent)
  std::string context_title;  // the course name ("" if absent)
  std::vector<Member> members;
  std::optional<std::string> next;  // the source's link to the following page, exactly as received
  std::optional<std::string> last;  // Link rel="last" where the platform sends one (offset paging's end), resolved
  int malformed_members = 0;        // entries without a usable user_id or a roles array
};

// Why a member gets no membership. New reasons go last: the order is the
// order of the run table's skipped_* columns.
enum class SkipReason {
  inactive, test_user, no_person_key, invalid_person_key, unmapped_role, malformed,
  role_filter,  // not in the job's role_filter (re-applied here: platforms drop `role` from their next links)
  count_
};
inline constexpr std::size_t kSkipReasonCount = static_cast<std::size_t>(SkipReason::count_);

// Stable names, used as database column suffixes and in logs.
const char* to_string(SkipReason);

// The writes rostersync makes in itslearning (createMemberships,
// updateMemberships, deleteMemberships).
enum class MembershipOp { create, update, remove };
const char* to_string(MembershipOp);  // "create", "update", "delete"

// What the state database holds for one (target, hierarchy, person) pair:
// `pending` while its last write (see StoredMembership::op) is not confirmed,
// `created` once itslearning confirmed it (the membership exists with
// role_type), `failed` when that write was parked, `deleted` once
// itslearning confirmed its deletion.
enum class MembershipState { pending, created, failed, deleted };
const char* to_string(MembershipState);

struct StoredMembership {
  std::string membership_id;
  MembershipState state = MembershipState::pending;
  std::int64_t queued_run = 0;  // the last run that queued it for sending
  bool waiting = false;         // refused earlier; its next attempt is not due yet
  int refusals = 0;             // how often itslearning refused it since it was last put back
  std::string role_type;        // the role it has in itslearning (or is being given)
  MembershipOp op = MembershipOp::create;  // the write `state` is about
  bool adopted = false;         // found in itslearning (owned only while own_adopted says so)
  bool held = false;            // a guard holds a write of it for approval: nothing is sent
  bool withdrawn = false;       // a rejected restore: not created again while listed
  // The roleTypes other jobs feeding the same group list the person with,
  // space-separated ("" when no other job lists them).
  std::string other_roles;
};

// One write to send: a create, an update (a new role under the stored id) or
// a delete (by stored id).
struct PlannedWrite {
  std::string membership_id;
  std::string person_key;
  std::string role_type;
  bool is_new = true;  // false: a write under an id the state database holds
  int refusals = 0;    // refusals so far (from the state database), for the next verdict
  MembershipOp op = MembershipOp::create;
  std::string old_role;  // update: the role it had
  std::string reason;    // delete: why ("departed", "inactive")
};

struct SnapshotRow {
  std::string user_id;
  std::string person_key;
  std::string roles;    // space-separated, as received
  std::string status;   // Active / Inactive / as received
  std::string outcome;  // "eligible" or a SkipReason name
  std::string role_type;  // the mapped roleType when eligible, else ""
  bool active = true;     // false: listed with status Inactive
};

struct PagePlan {
  std::vector<SnapshotRow> snapshot;
  std::vector<PlannedWrite> writes;  // creates and updates (deletes are decided after the walk)
  std::array<int, kSkipReasonCount> skipped{};
  int already_present = 0;  // eligible, and created earlier with the right role (or queued in this run)
  int deferred = 0;         // eligible, but parked (failed), waiting for its next attempt, or held for approval
  int not_owned_role_differs = 0;  // adopted memberships rostersync does not own whose role differs: reported, not sent
  int members = 0;          // members on the page, malformed ones included
  // Every eligible member's membership is confirmed created and nothing is
  // to be sent: the page may be recognised by its digest next time and
  // counted without looking at its members one by one.
  bool settled = false;
  // Nothing parked or waiting: once this run's writes are confirmed, the
  // page is settled too.
  bool settles_when_sent = false;
};

}  // namespace rostersync
