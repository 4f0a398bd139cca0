// Secrets never reach the logs or the state database: a debug-level sync
// (including a failed walk and a rejected IMS-ES password) with known secret
// values, scanning every log line and every text cell of every table.
#include <gtest/gtest.h>

#include "harness.hpp"

using namespace rostersync::testing;

namespace {

void expect_no_secret(const std::string& where, const std::string& text, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) EXPECT_EQ(text.find(secret), std::string::npos) << "'" << secret << "' in " << where;
}

std::string dump_database(const Workspace& ws) {
  std::string all;
  for (const auto& table : ws.rows("SELECT name FROM sqlite_master WHERE type='table'")) {
    for (const auto& row : ws.rows("SELECT * FROM " + table[0])) {
      for (const auto& cell : row) all += cell + "\n";
    }
  }
  return all;
}

}  // namespace

TEST(Redaction, NoSecretInDebugLogsOrTheDatabase) {
  Simulator sim({"--contexts", "2", "--members", "30", "--mix"});
  sim.post("/_sim/faults", R"({"fail_page": 2})");  // a failed walk writes its URL and error text
  Workspace ws;
  auto jobs = course_jobs(2, "    page_limit: 20\n");
  jobs.push_back({"stale", "not-a-registered-key-3b7", "h-x", ""});  // a 401 error path too
  ws.configure(sim, jobs);
  const std::vector<std::string> secrets = {kApiKey, kImsesPassword, "course-1-key", "course-2-key",
                                            "not-a-registered-key-3b7"};

  auto [rc1, log1] = ws.rostersync_output({"--log-level", "trace", "sync"}, true);
  EXPECT_EQ(rc1, 1);
  ASSERT_NE(log1.find("roster walk failed at page 2"), std::string::npos) << log1;  // the log really is verbose
  ASSERT_NE(log1.find("batch"), std::string::npos) << log1;
  expect_no_secret("sync log", log1, secrets);

  // A rejected password: the fault text is logged and stored, the password is not.
  sim.post("/_sim/faults", R"({"fail_page": 0})");  // page 2 now loads, so its members are sent
  ws.write("secrets/password", "wrong-pass-8e1\n");
  auto [rc2, log2] = ws.rostersync_output({"--log-level", "trace", "sync"}, true);
  EXPECT_EQ(rc2, 1);
  ASSERT_NE(log2.find("InvalidSecurity"), std::string::npos) << log2;
  std::vector<std::string> with_wrong = secrets;
  with_wrong.push_back("wrong-pass-8e1");
  expect_no_secret("second sync log", log2, with_wrong);

  expect_no_secret("state database", dump_database(ws), with_wrong);
  for (const char* cmd : {"status", "runs", "failures"}) {
    auto [rc, out] = ws.rostersync_output({cmd, "--json"}, true);
    EXPECT_EQ(rc, 0);
    expect_no_secret(cmd, out, with_wrong);
  }
}
