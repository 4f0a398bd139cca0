// journald's native protocol encoding and the level mapping.
#include <gtest/gtest.h>

#include <spdlog/common.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "daemon/journal.hpp"
#include "sync/io/log_fields.hpp"

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

// The catalog shipped for `journalctl -x` explains the summary's MESSAGE_ID,
// and journalctl itself accepts the file.
TEST(Journal, TheShippedCatalogDescribesTheRunSummaryMessageId) {
  namespace fs = std::filesystem;
  const fs::path catalog = fs::path(ROSTERSYNC_SOURCE_DIR) / "systemd" / "rostersync.catalog";
  std::ifstream in(catalog);
  ASSERT_TRUE(in) << catalog;
  std::vector<std::string> ids;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("-- ", 0) == 0) ids.push_back(line.substr(3));
  }
  ASSERT_EQ(ids, std::vector<std::string>{rostersync::sync::kRunSummaryMessageId});

  const fs::path root = fs::temp_directory_path() / ("rostersync-catalog-" + std::to_string(getpid()));
  fs::create_directories(root / "usr/lib/systemd/catalog");
  fs::copy_file(catalog, root / "usr/lib/systemd/catalog/rostersync.catalog");
  ASSERT_EQ(std::system(("journalctl --root=" + root.string() + " --update-catalog").c_str()), 0);
  FILE* list = popen(("journalctl --root=" + root.string() + " --list-catalog").c_str(), "r");
  ASSERT_NE(list, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, list)) out += buf;
  pclose(list);
  EXPECT_NE(out.find(std::string(rostersync::sync::kRunSummaryMessageId) + " rostersync: Run @RUN_ID@ of job @JOB@"),
            std::string::npos) << out;
  fs::remove_all(root);
}
