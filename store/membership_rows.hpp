// How a membership row's `state` and `op` columns read back (internal to
// store/: memberships.cpp and upkeep.cpp read them).
#pragma once

#include <string>

#include "domain/group.hpp"
#include "domain/roster.hpp"

namespace rostersync::store {

inline MembershipState parse_state(const std::string& s) {
  if (s == "created") return MembershipState::created;
  if (s == "failed") return MembershipState::failed;
  if (s == "deleted") return MembershipState::deleted;
  return MembershipState::pending;
}

inline MembershipOp parse_op(const std::string& s) {
  if (s == "update") return MembershipOp::update;
  if (s == "delete") return MembershipOp::remove;
  return MembershipOp::create;
}

}  // namespace rostersync::store
