// The group vocabulary: what the state database holds for one itslearning
// group (hierarchy), what itslearning lists for it, and what a read of it
// changes (adoption, restore). Plain data; includes nothing of the rooms.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "domain/roster.hpp"

namespace rostersync {

// One membership the state database holds for a group (target, hierarchy),
// as removal and reconcile decisions read it.
struct GroupRow {
  std::string membership_id;
  std::string person_key;
  std::string role_type;
  std::string job;
  MembershipState state = MembershipState::pending;
  MembershipOp op = MembershipOp::create;
  // Found in itslearning, not created by rostersync. Whether rostersync
  // owns it is decided when a decision is made, from the configuration in
  // force then (owned_now() in sync/planning/removals.hpp), never stored.
  bool adopted = false;
  std::string departure;  // "" or why it is to be deleted
  bool removal_approved = false;
  bool removal_rejected = false;
  // A write a guard held for a person to approve: "" (none), "delete" or "restore".
  std::string held;
  std::string held_since;  // UTC ISO 8601, when it was first held
  // A restore an operator rejected: itslearning lost it on purpose (an end
  // of term cleanup); not created again until the person has left every
  // roster of the group and comes back.
  bool withdrawn = false;
};

// What one job's roster says of one person of a group: the group's desired
// state is the union of these over every job feeding the group.
struct Listing {
  std::string job;
  std::string person_key;
  // The roleType this job's roster maps the person to; "" when the job
  // lists the person but skips them (unmapped role, test user: still in the
  // course), or has never listed them.
  std::string role_type;
  bool inactive = false;  // listed with status Inactive
  // This job's complete, trusted walks in a row without the person (0: listed by the last one).
  int absent_walks = 0;
};

// One membership as itslearning lists it (readMembershipsForGroup).
struct RemoteMembership {
  std::string membership_id;
  std::string group_id;
  std::string person_key;  // the person's sync key
  std::string role_type;
  bool operator==(const RemoteMembership&) const = default;
};

struct ReconcilePlan {
  struct Adopt {
    RemoteMembership found;
    // The row it takes the place of: the same person under an id of ours
    // that itslearning does not have (never confirmed, or gone since).
    std::optional<std::string> replaces;
  };
  std::vector<Adopt> adopt;
  // Ids of ours that itslearning has, whose stored state or role differs
  // from what it lists: stored as created with the listed role (the planner
  // then updates the role if the roster wants another).
  std::vector<RemoteMembership> confirm;
  // Ids of ours, once confirmed, that itslearning no longer has: created
  // again under the same id (when the member is still in the roster).
  std::vector<std::string> restore;
  // Adopted memberships rostersync does not own that itslearning no longer
  // has (their owner removed them): recorded as gone and withdrawn, never
  // created again by rostersync while the person stays listed.
  std::vector<std::string> lost_foreign;
  // Ids of ours whose delete was not confirmed (pending, refused, parked)
  // and that itslearning no longer has: deleted after all.
  std::vector<std::string> gone;
  // A second membership for a person who already has one in the group:
  // never adopted, never deleted, only reported.
  std::vector<RemoteMembership> duplicates;
  int present = 0;  // ids of ours that itslearning has, as stored
  // Anything stored changes: the next pages must be planned one by one.
  bool changes() const { return !adopt.empty() || !confirm.empty() || !restore.empty() || !gone.empty() || !lost_foreign.empty(); }
};

}  // namespace rostersync
