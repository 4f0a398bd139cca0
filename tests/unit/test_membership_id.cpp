// Membership ids: deterministic, unique per pair, at most 255 characters.
#include <gtest/gtest.h>

#include <set>

#include "sync/imses/membership_id.hpp"

using namespace rostersync::sync;

TEST(MembershipId, PlainFormCarriesTheLengthPrefix) {
  EXPECT_EQ(membership_id("sis-1", "course-7"), "rs:5:sis-1:course-7");
}

TEST(MembershipId, IsTheDocumentedFormAcrossVersions) {
  // Ids are stored and never shown again by itslearning: a change of form
  // would create a second membership for every pair. Pin the exact values.
  EXPECT_EQ(membership_id("sis-1", "course-7"), "rs:5:sis-1:course-7");
  EXPECT_EQ(membership_id("李小龍", "Ω"), "rs:9:李小龍:Ω");
  std::string long_key(300, 'k');
  std::string hashed = membership_id(long_key, "g");
  EXPECT_EQ(hashed, "rs:h:" + sha256_hex("rs:300:" + long_key + ":g"));
  EXPECT_EQ(hashed.size(), 69u);
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");  // FIPS 180-2 vector
}

TEST(MembershipId, SeparatorCannotCollide) {
  // Naive joins collide on these; the length prefix keeps them apart.
  EXPECT_NE(membership_id("a:b", "c"), membership_id("a", "b:c"));
  EXPECT_NE(membership_id("ab", "c"), membership_id("a", "bc"));
  EXPECT_NE(membership_id("1:x", "y"), membership_id("1", "x:y"));
  EXPECT_NE(membership_id("", "5:abcde:"), membership_id("5:abcde", ""));
}

TEST(MembershipId, UniqueAcrossManyPairs) {
  std::set<std::string> ids;
  const std::vector<std::string> parts = {"", "a", "b", ":", "a:", ":b", "1", "1:", "rs", "h", "a:b", "ab", "1:a"};
  int pairs = 0;
  for (const auto& p : parts) {
    for (const auto& g : parts) {
      ids.insert(membership_id(p, g));
      ++pairs;
    }
  }
  EXPECT_EQ(static_cast<int>(ids.size()), pairs);
}

TEST(MembershipId, LongPairsGetAStableHashedFormWithin255) {
  std::string person(200, 'p');
  std::string group(60, 'g');
  std::string id = membership_id(person, group);
  EXPECT_LE(id.size(), kMaxMembershipIdLength);
  EXPECT_EQ(id.rfind("rs:h:", 0), 0u);
  EXPECT_EQ(id.size(), 5u + 64u);
  EXPECT_NE(id, membership_id(person, group + "x"));
  // Exactly at the limit stays plain; one more byte switches to the hash.
  std::string fits(255 - std::string("rs:3:abc:").size(), 'x');
  EXPECT_EQ(membership_id("abc", fits).size(), 255u);
  EXPECT_EQ(membership_id("abc", fits).rfind("rs:3:", 0), 0u);
  EXPECT_EQ(membership_id("abc", fits + "x").rfind("rs:h:", 0), 0u);
}

TEST(MembershipId, Sha256MatchesAKnownVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
