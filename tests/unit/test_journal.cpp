// The journal sink (its writer replaced, as the seam allows) and the level mapping.
#include <gtest/gtest.h>

#include <spdlog/common.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include <spdlog/logger.h>

#include "daemon/journal.hpp"
#include "sync/io/log_fields.hpp"

using namespace rostersync::daemon;

namespace {

// The sink with the writer replaced: what it would hand to sd_journal_sendv().
struct Captured {
  std::vector<JournalFields> entries;
  bool accept = true;
};

std::shared_ptr<spdlog::logger> logger_into(Captured& c, const std::string& name = "rostersync") {
  auto sink = make_journal_sink([&c](const JournalFields& f) {
    c.entries.push_back(f);
    return c.accept;
  });
  auto logger = std::make_shared<spdlog::logger>(name, sink);
  logger->set_level(spdlog::level::trace);
  return logger;
}

std::map<std::string, std::string> as_map(const JournalFields& f) { return {f.begin(), f.end()}; }

}  // namespace

TEST(Journal, EachRecordIsOneEntryWithPriorityIdentifierAndTheRunsFields) {
  Captured c;
  logger_into(c)->info("rostersync starting");
  logger_into(c, rostersync::sync::run_logger_name("cps435", 7))->warn("job cps435 run 7 partial");
  ASSERT_EQ(c.entries.size(), 2u);
  auto first = as_map(c.entries[0]);
  EXPECT_EQ(first["MESSAGE"], "rostersync starting");
  EXPECT_EQ(first["PRIORITY"], "6");
  EXPECT_EQ(first["SYSLOG_IDENTIFIER"], "rostersync");
  EXPECT_EQ(first.count("JOB"), 0u);
  auto second = as_map(c.entries[1]);
  EXPECT_EQ(second["PRIORITY"], "4");
  EXPECT_EQ(second["JOB"], "cps435");
  EXPECT_EQ(second["RUN_ID"], "7");
}

TEST(Journal, ABigRecordGoesWholeAndAnUnwrittenOneToStderr) {
  Captured c;
  const std::string big(100 * 1024, 'x');  // the old native-protocol sink cut at 32 KiB
  logger_into(c)->error("{}", big);
  ASSERT_EQ(c.entries.size(), 1u);
  EXPECT_EQ(as_map(c.entries[0])["MESSAGE"].size(), big.size());
  // The journal refuses: the line is not lost, stderr (its stream) gets it with the priority prefix.
  c.accept = false;
  ::testing::internal::CaptureStderr();
  logger_into(c)->error("journald is away");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "<3>journald is away\n");
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
