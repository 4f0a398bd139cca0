// The group vocabulary: what the state database holds for one itslearning
// group (hierarchy), what itslearning lists for it, and what a read of it
// changes (adoption, restore). Plain data; includes nothing of the rooms.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/domain/roster.hpp"

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
  bool owned = true;     // rostersync may delete it
  bool adopted = false;  // found in itslearning, not created by rostersync
  int absent_walks = 0;
  std::string departure;  // "" or why it is to be deleted
  bool removal_approved = false;
  bool removal_rejected = false;
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
  // Ids of ours whose delete was not confirmed (pending, refused, parked)
  // and that itslearning no longer has: deleted after all.
  std::vector<std::string> gone;
  // A second membership for a person who already has one in the group:
  // never adopted, never deleted, only reported.
  std::vector<RemoteMembership> duplicates;
  int present = 0;  // ids of ours that itslearning has, as stored
  // Anything stored changes: the next pages must be planned one by one.
  bool changes() const { return !adopt.empty() || !confirm.empty() || !restore.empty() || !gone.empty(); }
};

}  // namespace rostersync
