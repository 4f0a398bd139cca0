// The daemon as operators meet it under systemd: journal entries with
// priorities and JOB/RUN_ID fields, `rostersync resync` over the control
// socket, SIGHUP with a changed interval, and SIGTERM's bounded grace period.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "harness.hpp"
#include "sync/io/log_fields.hpp"

using namespace rostersync::testing;
using namespace std::chrono_literals;

namespace {


// KEY=value lines of a native-protocol entry (rostersync's messages have no newlines).
std::map<std::string, std::string> fields_of(const std::string& entry) {
  std::map<std::string, std::string> out;
  std::istringstream in(entry);
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs `rostersync <args>` with stderr appended to `log`, and JOURNAL_STREAM
// set to `journal_stream` (the log file's dev:ino makes it "the journal stream").
int run_with_stderr_to(const Workspace& ws, const std::filesystem::path& log, const std::string& journal_stream,
                       const std::vector<std::string>& args) {
  setenv("JOURNAL_STREAM", journal_stream.c_str(), 1);
  setenv("RS_TEST_LOG", log.c_str(), 1);
  std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>>\"$RS_TEST_LOG\"", ROSTERSYNC_BIN,
                                   "--config", ws.config_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  rostersync::daemon::ChildProcess p(argv, false);
  unsetenv("JOURNAL_STREAM");
  unsetenv("RS_TEST_LOG");
  auto rc = p.wait(60s);
  return rc ? *rc : -1;
}

int sync_with_stderr_to(const Workspace& ws, const std::filesystem::path& log, const std::string& journal_stream) {
  return run_with_stderr_to(ws, log, journal_stream, {"--log-level", "debug", "sync"});
}

// dev:ino of `file`, what systemd puts in JOURNAL_STREAM for the stream it connected.
std::string stream_id(const std::filesystem::path& file) {
  std::ofstream(file, std::ios::app).close();
  struct stat st {};
  if (stat(file.c_str(), &st) != 0) return "";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

}  // namespace

// A configuration error at start-up: exit 2 (which the unit's
// RestartPreventExitStatus= lists) and, under the journal, error priority.
TEST(Service, AConfigurationErrorAtStartExits2AtErrorPriority) {
  Workspace ws;
  ws.write("rostersync.yaml", "jobs: [\n");
  auto log = ws.dir() / "stderr.log";
  EXPECT_EQ(run_with_stderr_to(ws, log, stream_id(log), {"run"}), 2);
  std::string text = read_file(log);
  EXPECT_EQ(text.rfind("<3>rostersync: configuration error: " + ws.config_path() + ":", 0), 0u) << text;
  // Not the journal stream: a plain line.
  auto other = ws.dir() / "other.log";
  EXPECT_EQ(run_with_stderr_to(ws, other, "1:1", {"run"}), 2);
  EXPECT_EQ(read_file(other).rfind("rostersync: configuration error: ", 0), 0u) << read_file(other);
}

TEST(Service, JournalEntriesCarryPriorityJobAndRunId) {
  Simulator sim({"--contexts", "2", "--members", "10"});
  Workspace ws;
  auto jobs = course_jobs(1);
  jobs.push_back({"broken", "no-such-key", "h-9", ""});  // a 401: its run fails and logs a warning
  ws.configure(sim, jobs);
  // libsystemd writes to journald's fixed socket: where no journald runs (CI,
  // containers), the test takes its place and reads the entries it sends.
  const std::filesystem::path journald = "/run/systemd/journal/socket";
  if (std::filesystem::exists(journald)) GTEST_SKIP() << "a journald runs here and holds " << journald;
  std::filesystem::create_directories(journald.parent_path());
  DatagramSocket journal(journald.string());
  auto log = ws.dir() / "stderr.log";
  std::ofstream(log).close();
  struct stat st {};
  ASSERT_EQ(stat(log.c_str(), &st), 0);
  std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);

  EXPECT_EQ(sync_with_stderr_to(ws, log, stream), 1);  // `broken` failed
  journal.drain();  // the sync has exited: everything it sent is queued

  std::map<std::string, std::string> ok_summary, failed_summary;
  int page_lines = 0;
  for (const auto& entry : journal.seen) {
    auto f = fields_of(entry);
    EXPECT_EQ(f["SYSLOG_IDENTIFIER"], "rostersync") << entry;
    if (has(f["MESSAGE"], "job course-1 run ") && has(f["MESSAGE"], " ok: ")) ok_summary = f;
    if (has(f["MESSAGE"], "job broken run ") && has(f["MESSAGE"], " failed: ")) failed_summary = f;
    if (has(f["MESSAGE"], "job course-1 page 1:")) {
      ++page_lines;
      EXPECT_EQ(f["PRIORITY"], "7");
      EXPECT_EQ(f["JOB"], "course-1");
    }
  }
  auto runs = ws.rows("SELECT job, run_id FROM run ORDER BY run_id");
  ASSERT_EQ(runs.size(), 2u);
  ASSERT_FALSE(ok_summary.empty()) << ::testing::PrintToString(journal.seen);
  EXPECT_EQ(ok_summary["PRIORITY"], "6");
  EXPECT_EQ(ok_summary["JOB"], "course-1");
  // The summary is findable by MESSAGE_ID and outcome, with its counts.
  EXPECT_EQ(ok_summary["MESSAGE_ID"], rostersync::sync::kRunSummaryMessageId);
  EXPECT_EQ(ok_summary["OUTCOME"], "ok");
  EXPECT_EQ(ok_summary["CREATED"], std::to_string(ws.count("SELECT created FROM run WHERE job='course-1'")));
  EXPECT_EQ(ok_summary["FAILED"], "0");
  EXPECT_EQ(failed_summary["MESSAGE_ID"], rostersync::sync::kRunSummaryMessageId);
  EXPECT_EQ(failed_summary["OUTCOME"], "failed");
  EXPECT_EQ(failed_summary["CREATED"], "0");
  int with_id = 0;  // only the two summaries carry it
  for (const auto& entry : journal.seen) with_id += has(entry, "MESSAGE_ID=");
  EXPECT_EQ(with_id, 2);
  EXPECT_EQ(ok_summary["RUN_ID"], runs[0][1]);
  ASSERT_FALSE(failed_summary.empty());
  EXPECT_EQ(failed_summary["PRIORITY"], "4");
  EXPECT_EQ(failed_summary["JOB"], "broken");
  EXPECT_EQ(failed_summary["RUN_ID"], runs[1][1]);
  EXPECT_EQ(page_lines, 1);
  EXPECT_EQ(read_file(log), "");  // nothing doubled on the stream

  // JOURNAL_STREAM inherited from elsewhere (not our stderr): plain lines on stderr, nothing to the journal.
  journal.seen.clear();
  sync_with_stderr_to(ws, log, "1:1");
  journal.drain();
  EXPECT_TRUE(journal.seen.empty());
  EXPECT_TRUE(has(read_file(log), "job broken run ")) << read_file(log);
}

TEST(Service, ResyncCommandReachesTheDaemonForOneJobOrAll) {
  Simulator sim({"--contexts", "2", "--members", "10"});
  Workspace ws;
  ws.configure(sim, course_jobs(2, "    interval: 1h\n"));
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", 2, 30s));
  ASSERT_TRUE(std::filesystem::is_socket(ws.dir() / "control.sock"));

  auto [rc, out] = ws.rostersync_output({"resync", "--job", "course-2"});
  EXPECT_EQ(rc, 0);
  EXPECT_TRUE(has(out, "delivered: resync of job course-2 queued")) << out;
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE job='course-2'", 2, 30s));
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE job='course-1'"), 1);  // only the job asked for

  auto [bad_rc, bad_out] = ws.rostersync_output({"resync", "--job", "nosuch"}, true);
  EXPECT_EQ(bad_rc, 1);
  EXPECT_TRUE(has(bad_out, "refused the resync: no job named 'nosuch'")) << bad_out;

  auto [all_rc, all_out] = ws.rostersync_output({"resync"});
  EXPECT_EQ(all_rc, 0);
  EXPECT_TRUE(has(all_out, "resync of every job queued")) << all_out;
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE job='course-1'", 2, 30s));
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE job='course-2'", 3, 30s));

  daemon.signal(SIGTERM);
  ASSERT_EQ(daemon.wait(30s), 0);
  EXPECT_FALSE(std::filesystem::exists(ws.dir() / "control.sock"));  // removed on exit
  auto [gone_rc, gone_out] = ws.rostersync_output({"resync"}, true);
  EXPECT_EQ(gone_rc, 3);
  EXPECT_TRUE(has(gone_out, "resync not delivered: cannot reach the daemon at ")) << gone_out;
}

TEST(Service, SighupWithAChangedIntervalTakesEffect) {
  Simulator sim({"--contexts", "1", "--members", "10"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    interval: 1h\n"));
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", 1, 30s));

  // The reload itself resyncs once (run 2); only the new 1 s interval brings runs 3 and 4.
  ws.configure(sim, course_jobs(1, "    interval: 1s\n    jitter: 0s\n"));
  daemon.signal(SIGHUP);
  EXPECT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", 4, 30s));
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(30s), 0);
}

TEST(Service, SigtermDuringALongPassEndsWithinTheGracePeriod) {
  // itslearning takes 60 s per call: only the grace period can end this pass early.
  Simulator sim({"--contexts", "1", "--members", "40", "--imses-latency-ms", "60000"});
  Workspace ws;
  ws.configure(sim, course_jobs(1));
  ws.write("rostersync.yaml", "shutdown_grace: 500ms\n" + read_file(ws.dir() / "rostersync.yaml"));
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM membership WHERE attempts > 0", 1, 30s));  // a batch is out

  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(20s), 0);
  auto run = ws.rows("SELECT outcome, error FROM run");
  ASSERT_EQ(run.size(), 1u);
  EXPECT_EQ(run[0][0], "interrupted");
  EXPECT_TRUE(has(run[0][1], "not sent or unanswered")) << run[0][1];
  // Nothing is lost: every planned membership keeps its id, pending, for the next run.
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE state='pending'"),
            ws.count("SELECT count(*) FROM roster_member WHERE outcome='eligible'"));
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE state<>'pending'"), 0);
}

// The lock file beside state_db cannot be made: the message names the key,
// the file and the OS reason.
TEST(Service, ALockFileThatCannotBeMadeNamesStateDbAndTheReason) {
  Simulator sim({"--contexts", "1", "--members", "5"});
  Workspace ws;
  ws.configure(sim, course_jobs(1));
  std::string yaml = read_file(ws.config_path());
  const std::size_t at = yaml.find("state_db: ");
  ASSERT_NE(at, std::string::npos);
  yaml.replace(at, yaml.find('\n', at) - at, "state_db: /proc/rostersync-no-such-dir/state.db");
  ws.write("rostersync.yaml", yaml);
  auto [rc, out] = ws.rostersync_output({"sync"}, true);
  EXPECT_EQ(rc, 3) << out;
  EXPECT_TRUE(has(out, "cannot create the lock file beside state_db")) << out;
  EXPECT_TRUE(has(out, "No such file or directory")) << out;
}

// A -shm another user left (a start as root) blocks every start of the
// service user: the message names the file and what to do.
TEST(Service, AShmFileTheServiceUserCannotWriteIsNamedWithWhatToDo) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the binary as another user";
  Simulator sim({"--contexts", "1", "--members", "5"});
  Workspace ws;
  ws.configure(sim, course_jobs(1));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  const std::filesystem::path shm = ws.dir() / "state.db-shm";
  // Everything the service user needs is its own, but the -shm.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(ws.dir())) {
    ASSERT_EQ(::chown(entry.path().c_str(), 65534, 65534), 0) << entry.path();
  }
  ASSERT_EQ(::chown(ws.dir().c_str(), 65534, 65534), 0);
  std::ofstream(shm, std::ios::binary).write(std::string(32768, '\0').data(), 32768);
  ASSERT_EQ(::chown(shm.c_str(), 0, 0), 0);
  ASSERT_EQ(::chmod(shm.c_str(), 0644), 0);
  rostersync::daemon::ChildProcess p({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                      ROSTERSYNC_BIN, "--config", ws.config_path(), "sync"},
                                     true, true);
  std::optional<int> rc = p.wait(std::chrono::seconds(60));
  std::string out;
  while (auto line = p.read_line(std::chrono::seconds(2))) out += *line + "\n";
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 3) << out;
  EXPECT_TRUE(has(out, shm.string() + " is not writable by this user (owner uid 0")) << out;
  EXPECT_TRUE(has(out, "chown rostersync: " + shm.string())) << out;
}
