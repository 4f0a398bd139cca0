// Deterministic itslearning membership ids, one per (person key, hierarchy id).
//
// Plain form: "rs:<byte length of person key>:<person key>:<hierarchy id>".
// The length prefix makes the pair recoverable from the id, so two different
// pairs can never share an id whatever characters the keys contain (joining
// with a bare separator would let "a:b"+"c" collide with "a"+"b:c").
// When the plain form exceeds 255 characters (itslearning's limit) the id is
// "rs:h:<sha256 hex of the plain form>": stable, 69 characters, and disjoint
// from plain forms (which continue with a digit after "rs:").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rostersync::sync {

inline constexpr std::size_t kMaxMembershipIdLength = 255;

std::string membership_id(std::string_view person_key, std::string_view hierarchy_id);

std::string sha256_hex(std::string_view data);

}  // namespace rostersync::sync
