// Content digests for the no-change pass: a 64-bit hash of text, and an
// order-independent digest of a set of roster members.
//
// Not cryptographic and not stable across builds: digests are compared only
// with digests this same binary computed (they live in the state database,
// and a mismatch only costs a slower comparison, never a wrong decision on
// its own; see sync/planning/planner.hpp and store/store.hpp).
#pragma once

#include <cstdint>
#include <string_view>

namespace rostersync {

// A 64-bit hash of `text`, continuing from `seed`; a strong finaliser per
// eight bytes so that similar inputs land far apart.
std::uint64_t hash64(std::string_view text, std::uint64_t seed = 0xcbf29ce484222325ULL);

// Mixes one more value into a running hash.
std::uint64_t hash_combine(std::uint64_t running, std::uint64_t value);

// A multiset of user ids as (count, sum of hashes): two walks that saw the
// same members, in any order, have equal digests; a member seen twice or one
// missing changes it.
struct MemberSetDigest {
  std::uint64_t count = 0;
  std::uint64_t sum = 0;
  void add(std::string_view user_id) {
    ++count;
    sum += hash64(user_id);
  }
  bool operator==(const MemberSetDigest&) const = default;
};

}  // namespace rostersync
