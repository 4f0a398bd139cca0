// `rostersync status --check` as Nagios or Icinga runs it: the real binary
// on a real state database, one line and the exit code for each state.
// The rules themselves are unit-tested (tests/unit/test_health.cpp).
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

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

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
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
  EXPECT_TRUE(has(crit, "target its: SOAP Fault a:InvalidSecurity (2 job(s) wait for it)")) << crit;
  EXPECT_EQ(crit.find("InvalidSecurity"), crit.rfind("InvalidSecurity")) << "one line per held target: " << crit;
  EXPECT_TRUE(has(crit, "held=2;;;0")) << crit;

  // Usage errors and contradicting thresholds are the plugin's own: UNKNOWN (3), one line.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"status", "--check", "--warning", "many"},
        std::vector<std::string>{"status", "--check", "--nosuch"},
        std::vector<std::string>{"status", "--check", "--warning", "5", "--critical", "2"}}) {
    auto [usage_rc, usage] = ws.rostersync_output(args, true);
    EXPECT_EQ(usage_rc, 3) << usage;
    EXPECT_EQ(one_line(usage).rfind("ROSTERSYNC UNKNOWN - usage: ", 0), 0u) << usage;
  }
  auto [contra_rc, contra] = ws.rostersync_output({"status", "--check", "--warning", "5", "--critical", "2"});
  EXPECT_TRUE(has(contra, "--warning 5 must not exceed --critical 2")) << contra;
  EXPECT_EQ(ws.rostersync({"status", "--check", "--warning", "3", "--critical", "3"}), 2) << "equal thresholds are fine";

  // A state database this user may not read: UNKNOWN with the OS's reason, not "no state database yet".
  if (::geteuid() == 0 && std::system("command -v setpriv >/dev/null") == 0) {
    const std::filesystem::path shared = ws.dir() / "shared";
    std::filesystem::create_directories(shared / "state");
    std::filesystem::copy_file(ws.db(), shared / "state" / "state.db");
    std::string config = read_text(ws.config_path());
    config.replace(config.find("state_db: state.db"), 18, "state_db: state/state.db");
    ws.write("shared/rostersync.yaml", config);
    std::filesystem::permissions(ws.dir(), std::filesystem::perms::owner_all | std::filesystem::perms::others_exec);
    std::filesystem::permissions(shared, std::filesystem::perms::owner_all | std::filesystem::perms::others_read |
                                             std::filesystem::perms::others_exec);
    std::filesystem::permissions(shared / "rostersync.yaml", std::filesystem::perms::owner_all | std::filesystem::perms::others_read);
    std::filesystem::permissions(shared / "state", std::filesystem::perms::owner_all);  // 0700: root's
    const std::string cmd = "setpriv --reuid=65534 --regid=65534 --clear-groups " + std::string(ROSTERSYNC_BIN) +
                            " --config " + (shared / "rostersync.yaml").string() + " status --check";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    int status = pclose(p);
    EXPECT_EQ(WEXITSTATUS(status), 3) << out;
    EXPECT_EQ(one_line(out).rfind("ROSTERSYNC UNKNOWN - ", 0), 0u) << out;
    EXPECT_TRUE(has(out, "cannot read the state database: Permission denied")) << out;
    EXPECT_FALSE(has(out, "no state database yet")) << out;
  }

  // A broken configuration is the plugin's own failure: UNKNOWN, not CRITICAL.
  ws.write("rostersync.yaml", "sources: [\n");
  auto [bad_rc, bad] = ws.rostersync_output({"status", "--check"});
  EXPECT_EQ(bad_rc, 3) << bad;
  EXPECT_EQ(one_line(bad).rfind("ROSTERSYNC UNKNOWN - configuration error: ", 0), 0u) << bad;
}

// README "Monitoring without sudo": a member of the monitoring group may
// read the state database (what the package's ACL grants group
// rostersync-monitor) but neither the course registry nor the secrets.
// `status --check` judges the jobs the daemon recorded it runs, while the
// daemon runs and after it has stopped (no -wal or -shm to create).
TEST(HealthCheckCommand, AMonitoringGroupMemberChecksWithoutTheRegistryOrTheSecrets) {
  if (::geteuid() != 0 || std::system("command -v setpriv >/dev/null") != 0) GTEST_SKIP() << "needs root and setpriv";
  namespace fs = std::filesystem;
  using namespace std::chrono_literals;
  Simulator sim({"--contexts", "2", "--members", "10"});
  Workspace ws;
  ws.configure_registry(sim, "  hierarchy_id: \"{context.label}-2026\"\n  interval: 1h\n");
  ws.write_course("course-1", "course-1-key");
  ws.write_course("course-2", "course-2-key");
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", 2, 30s));

  constexpr int kMonitorGid = 4242;  // rostersync-monitor's gid, as far as this test goes
  const fs::perms rx = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                       fs::perms::others_read | fs::perms::others_exec;
  fs::permissions(ws.dir(), rx);
  fs::permissions(ws.config_path(), fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  fs::permissions(ws.dir() / "courses.d", fs::perms::owner_all);  // service keys: root (the service) only
  fs::permissions(ws.dir() / "secrets", fs::perms::owner_all);
  auto share_database = [&] {
    for (const std::string suffix : {"", "-wal", "-shm"}) {
      const std::string file = ws.db() + suffix;
      if (!fs::exists(file)) continue;
      ASSERT_EQ(::chown(file.c_str(), 0, kMonitorGid), 0) << file;
      fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    }
  };
  auto as = [&](const std::string& groups, const std::string& args) {
    const std::string cmd = "setpriv --reuid=65533 --regid=65533 " + groups + " " + std::string(ROSTERSYNC_BIN) +
                            " --config " + ws.config_path() + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[512];
    while (p && std::fgets(buf, sizeof buf, p)) out += buf;
    const int status = p ? pclose(p) : -1;
    return std::pair<int, std::string>{WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
  };
  const std::string member = "--groups=" + std::to_string(kMonitorGid);
  share_database();

  auto [running_rc, running] = as(member, "status --check");
  EXPECT_EQ(running_rc, 0) << running;
  EXPECT_EQ(one_line(running).rfind("ROSTERSYNC OK - 2 job(s) synced", 0), 0u) << running;
  auto [listed_rc, listed] = as(member, "status");
  EXPECT_EQ(listed_rc, 0) << listed;
  EXPECT_TRUE(has(listed, "course-1") && has(listed, "course-2")) << listed;
  auto [outsider_rc, outsider] = as("--clear-groups", "status --check");
  EXPECT_EQ(outsider_rc, 3) << outsider;
  EXPECT_TRUE(has(outsider, "cannot read the state database: Permission denied")) << outsider;
  EXPECT_TRUE(has(outsider, "rostersync-monitor")) << "the message names the group: " << outsider;

  daemon.signal(SIGTERM);
  ASSERT_EQ(daemon.wait(30s), 0);
  share_database();
  auto [stopped_rc, stopped] = as(member, "status --check");
  EXPECT_EQ(stopped_rc, 0) << stopped;
  EXPECT_EQ(one_line(stopped).rfind("ROSTERSYNC OK - 2 job(s) synced", 0), 0u) << stopped;
}
