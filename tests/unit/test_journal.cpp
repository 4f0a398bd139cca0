// journald's native protocol encoding and the level mapping.
#include <gtest/gtest.h>

#include <spdlog/common.h>

#include "daemon/journal.hpp"

using namespace rostersync::daemon;

TEST(Journal, SimpleFieldsAreKeyValueLines) {
  EXPECT_EQ(encode_journal_entry({{"MESSAGE", "job cps435 run 7 ok"}, {"PRIORITY", "6"}, {"JOB", "cps435"}}),
            "MESSAGE=job cps435 run 7 ok\nPRIORITY=6\nJOB=cps435\n");
}

TEST(Journal, ValuesWithNewlinesUseTheLengthPrefixedForm) {
  std::string entry = encode_journal_entry({{"MESSAGE", "two\nlines"}, {"PRIORITY", "3"}});
  std::string expected = "MESSAGE\n";
  expected += std::string("\x09\0\0\0\0\0\0\0", 8);  // 9 bytes, little-endian 64-bit
  expected += "two\nlines\nPRIORITY=3\n";
  EXPECT_EQ(entry, expected);
}

TEST(Journal, LevelsMapToSyslogPriorities) {
  EXPECT_EQ(journal_priority(spdlog::level::critical), 2);
  EXPECT_EQ(journal_priority(spdlog::level::err), 3);
  EXPECT_EQ(journal_priority(spdlog::level::warn), 4);
  EXPECT_EQ(journal_priority(spdlog::level::info), 6);
  EXPECT_EQ(journal_priority(spdlog::level::debug), 7);
  EXPECT_EQ(journal_priority(spdlog::level::trace), 7);
}
