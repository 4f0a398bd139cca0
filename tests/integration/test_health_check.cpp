// `rostersync status --check` as Nagios or Icinga runs it: the real binary
// on a real state database, one line and the exit code for each state.
// The rules themselves are unit-tested (tests/unit/test_health.cpp).
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <algorithm>

#include "harness.hpp"

using namespace rostersync::testing;

namespace {

void sql(const Workspace& ws, const std::string& statement) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(ws.db().c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

std::string one_line(const std::string& out) {
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
  return out;
}

}  // namespace

TEST(HealthCheckCommand, SaysUnknownOkWarningAndCriticalWithTheMatchingExitCode) {
  Simulator sim({"--contexts", "2", "--members", "20"});
  Workspace ws;
  ws.configure(sim, course_jobs(2));

  auto [unknown_rc, unknown] = ws.rostersync_output({"status", "--check"});
  EXPECT_EQ(unknown_rc, 3) << unknown;
  EXPECT_EQ(one_line(unknown).rfind("ROSTERSYNC UNKNOWN - ", 0), 0u) << unknown;

  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  auto [ok_rc, ok] = ws.rostersync_output({"status", "--check"});
  EXPECT_EQ(ok_rc, 0) << ok;
  EXPECT_EQ(one_line(ok).rfind("ROSTERSYNC OK - 2 job(s) synced", 0), 0u) << ok;
  EXPECT_TRUE(has(ok, "| jobs=2;;;0")) << ok;

  // course-1's last success was 3 intervals (of 30 min) ago.
  sql(ws, "UPDATE run SET started_at=strftime('%Y-%m-%dT%H:%M:%fZ','now','-91 minutes'), "
          "ended_at=strftime('%Y-%m-%dT%H:%M:%fZ','now','-91 minutes') WHERE job='course-1'");
  auto [warn_rc, warn] = ws.rostersync_output({"status", "--check"});
  EXPECT_EQ(warn_rc, 1) << warn;
  EXPECT_TRUE(has(one_line(warn), "ROSTERSYNC WARNING - 1 of 2 job(s) need attention: course-1 last success 91 min ago"))
      << warn;
  // The operator's thresholds decide; --job narrows.
  EXPECT_EQ(ws.rostersync({"status", "--check", "--warning", "4"}), 0);
  EXPECT_EQ(ws.rostersync({"status", "--check", "--job", "course-2"}), 0);

  // The target is blocked (a refused password): every job is critical.
  sql(ws, "INSERT INTO hold (scope, name, kind, reason, since, until) VALUES ('target', 'its', 'blocked', "
          "'SOAP Fault a:InvalidSecurity', strftime('%Y-%m-%dT%H:%M:%fZ','now'), "
          "strftime('%Y-%m-%dT%H:%M:%fZ','now','+1 hour'))");
  auto [crit_rc, crit] = ws.rostersync_output({"status", "--check"});
  EXPECT_EQ(crit_rc, 2) << crit;
  EXPECT_TRUE(has(one_line(crit), "ROSTERSYNC CRITICAL - 2 of 2 job(s) need attention")) << crit;
  EXPECT_TRUE(has(crit, "target its: SOAP Fault a:InvalidSecurity")) << crit;
  EXPECT_TRUE(has(crit, "held=2;;;0")) << crit;

  // A broken configuration is the plugin's own failure: UNKNOWN, not CRITICAL.
  ws.write("rostersync.yaml", "sources: [\n");
  auto [bad_rc, bad] = ws.rostersync_output({"status", "--check"});
  EXPECT_EQ(bad_rc, 3) << bad;
  EXPECT_EQ(one_line(bad).rfind("ROSTERSYNC UNKNOWN - configuration error: ", 0), 0u) << bad;
}
