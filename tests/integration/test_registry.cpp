// A district's scale, end to end: courses added to and removed from the
// registry while the daemon runs, jobs in parallel sharing one target's
// budget, and the no-change pass staying exact when members leave.
#include <gtest/gtest.h>

#include <signal.h>

#include <filesystem>
#include <optional>
#include <thread>

#include "harness.hpp"

using namespace rostersync::testing;
using namespace std::chrono_literals;

namespace {

long long runs_of(const Workspace& ws, const std::string& job, const std::string& outcome = "ok") {
  return ws.count("SELECT count(*) FROM run WHERE job='" + job + "' AND outcome='" + outcome + "'");
}

std::set<std::string> groups_in(const Simulator& sim) {
  std::set<std::string> groups;
  for (const auto& [group, person, role] : sim_memberships(sim)) groups.insert(group);
  return groups;
}

}  // namespace

TEST(Registry, CoursesAddedAndRemovedWhileTheDaemonRunsNeedNoRestart) {
  Simulator sim({"--contexts", "3", "--members", "10"});
  Workspace ws;
  // The simulator labels its courses C1, C2, C3: the hierarchy comes from the roster.
  ws.configure_registry(sim, "  hierarchy_id: \"{context.label}-2026\"\n  interval: 1h\n");
  ws.write_course("course-1", "course-1-key");
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE job='course-1' AND outcome='ok'", 1, 30s));

  // A new file is picked up at the next poll: no signal, no restart.
  ws.write_course("course-2", "course-2-key");
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE job='course-2' AND outcome='ok'", 1, 30s));
  // Or at once with a reload; only the new course runs, course-1 keeps its hour.
  ws.write_course("course-3", "course-3-key");
  daemon.signal(SIGHUP);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE job='course-3' AND outcome='ok'", 1, 30s));
  EXPECT_EQ(runs_of(ws, "course-1"), 1) << "an unchanged course ran again on reload";
  EXPECT_EQ(runs_of(ws, "course-2"), 1);
  EXPECT_EQ(groups_in(sim), (std::set<std::string>{"C1-2026", "C2-2026", "C3-2026"}));
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE job='course-3' AND hierarchy_id='C3-2026'"), 1);

  // A removed course is not synced again, even by a resync of every job.
  std::filesystem::remove(ws.dir() / "courses.d" / "course-2.yaml");
  daemon.signal(SIGHUP);
  // The reload has applied once the daemon refuses a resync of the removed course.
  auto course_2_gone = [&] { return ws.rostersync({"resync", "--job", "course-2"}) == 1; };
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!course_2_gone()) ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the reload never dropped course-2";
  daemon.signal(SIGUSR1);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE job='course-1' AND outcome='ok'", 2, 30s));
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE job='course-3' AND outcome='ok'", 2, 30s));
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE job='course-2'"), 1);

  // `status` starts with the last pass as a whole (the daemon records it).
  auto [status_rc, status] = ws.rostersync_output({"status"});
  EXPECT_EQ(status_rc, 0);
  EXPECT_TRUE(has(status, "last pass ")) << status;
  EXPECT_TRUE(has(status, ": 2 / 2 courses, 20 members, 0 created")) << status;

  // `courses` lists what is registered now, with the hierarchy each got.
  auto [rc, listing] = ws.rostersync_output({"courses", "--json"});
  EXPECT_EQ(rc, 0);
  boost::json::array rows = boost::json::parse(listing).as_array();
  ASSERT_EQ(rows.size(), 2u) << listing;
  EXPECT_EQ(rows[0].at("course").as_string(), "course-1");
  EXPECT_EQ(rows[0].at("hierarchy_id").as_string(), "{context.label}-2026");
  EXPECT_EQ(rows[0].at("last_hierarchy").as_string(), "C1-2026");
  EXPECT_EQ(rows[0].at("last_outcome").as_string(), "ok");
  EXPECT_TRUE(has(std::string(rows[1].at("defined_in").as_string()), "course-3.yaml:1")) << listing;

  // `members` of a course whose hierarchy_id is a template: the group its last run filled in.
  auto [members_rc, members] = ws.rostersync_output({"members", "--job", "course-1", "--json"});
  EXPECT_EQ(members_rc, 0) << members;
  boost::json::array member_rows = boost::json::parse(members).as_array();
  ASSERT_EQ(member_rows.size(), 10u) << members;
  for (const auto& m : member_rows) EXPECT_EQ(m.at("state").as_string(), "created") << members;

  // The removed course's history stays until it is forgotten; a configured one cannot be.
  auto [history_rc, history] = ws.rostersync_output({"runs", "--job", "course-2", "--json"});
  EXPECT_EQ(history_rc, 0) << history;
  EXPECT_EQ(boost::json::parse(history).as_array().size(), 1u) << history;
  auto [refused, why] = ws.rostersync_output({"forget", "--job", "course-1"}, true);
  EXPECT_EQ(refused, 2);
  EXPECT_TRUE(has(why, "still configured")) << why;
  EXPECT_EQ(ws.rostersync({"forget", "--job", "course-2"}), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE job='course-2'"), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM roster_member WHERE job='course-2'"), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE job='course-2' AND state='created'"), 10)
      << "what rostersync created in itslearning stays recorded";

  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(30s), 0);
}

TEST(Registry, ABadCourseFileIsNamedAndSkippedWhileTheOthersRun) {
  Simulator sim({"--contexts", "2", "--members", "5"});
  Workspace ws;
  ws.configure_registry(sim, "  hierarchy_id: \"h-{name}\"\n");
  ws.write_course("course-1", "course-1-key");
  ws.write("courses.d/typo.yaml", "name: typo\nservice_key_file: course-1.key\npage_limt: 5\n");
  auto [check_rc, check_out] = ws.rostersync_output({"check-config", "--quiet"}, true);
  EXPECT_EQ(check_rc, 2) << "a refused course file fails check-config";
  EXPECT_EQ(ws.rostersync({"check-config", "--quiet", "--refused-courses-ok"}), 0)
      << "but not the reload's check: the daemon keeps the file's last good courses";
  EXPECT_TRUE(has(check_out, (ws.dir() / "courses.d" / "typo.yaml").string() + ":3:1: page_limt: unknown key")) << check_out;
  auto [rc, out] = ws.rostersync_output({"sync"}, true);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(has(out, "typo.yaml:3:1: page_limt: unknown key")) << out;
  EXPECT_EQ(runs_of(ws, "course-1"), 1);
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE job='typo'"), 0);
}

// The registry never shrinks silently: a typo, a name in two files, a
// registry moved away; the running courses keep running, every monitor
// says so, and only a confirmation of that very change removes them.
TEST(Registry, ItNeverShrinksSilently) {
  Simulator sim({"--contexts", "3", "--members", "5"});
  Workspace ws;
  ws.configure_registry(sim, "  hierarchy_id: \"h-{name}\"\n  interval: 1h\n");
  for (const char* c : {"course-1", "course-2", "course-3"}) ws.write_course(c, std::string(c) + "-key");
  // sd_notify blocks on a full socket: it is bound only while a STATUS= is awaited.
  const std::string notify_path = (ws.dir() / "notify.sock").string();
  std::optional<DatagramSocket> notify(std::in_place, notify_path);
  setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  unsetenv("NOTIFY_SOCKET");
  for (const char* c : {"course-1", "course-2", "course-3"}) {
    ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE job='" + std::string(c) + "' AND outcome='ok'", 1, 30s));
  }
  auto [ok_rc, ok_line] = ws.rostersync_output({"status", "--check"});
  EXPECT_EQ(ok_rc, 0) << ok_line;
  auto refused_seen = [&](const std::string& fragment) {
    return wait_for_count(ws, "SELECT count(*) FROM meta WHERE key='registry_refused_files' AND instr(value, '" +
                                  fragment + "') > 0", 1, 30s);
  };

  // A typo: the file is refused, named with file:line:key, its course keeps running as it was.
  const std::string course_2 = (ws.dir() / "courses.d" / "course-2.yaml").string();
  ws.write("courses.d/course-2.yaml", "name: course-2\nservice_key_file: course-2.key\npage_limt: 5\n");
  ASSERT_TRUE(refused_seen("course-2.yaml"));
  EXPECT_TRUE(notify->wait_for([](const std::string& m) { return has(m, "1 course file(s) refused (rostersync check-config)"); },
                               30s)) << "STATUS= does not say a course file is refused";
  notify.reset();
  auto [check_rc, check_out] = ws.rostersync_output({"check-config"}, true);
  EXPECT_EQ(check_rc, 2);
  EXPECT_TRUE(has(check_out, course_2 + ":3:1: page_limt: unknown key")) << check_out;
  auto [warn_rc, warn_line] = ws.rostersync_output({"status", "--check"});
  EXPECT_EQ(warn_rc, 1) << warn_line;
  EXPECT_TRUE(has(warn_line, "ROSTERSYNC WARNING")) << warn_line;
  EXPECT_TRUE(has(warn_line, "1 course file(s) refused")) << warn_line;
  auto [job_rc, job_out] = ws.rostersync_output({"status", "--job", "course-2"}, true);
  EXPECT_NE(job_rc, 0);
  EXPECT_TRUE(has(job_out, "course 'course-2' is refused")) << job_out;
  EXPECT_TRUE(has(job_out, "course-2.yaml:3:1")) << job_out;
  daemon.signal(SIGUSR1);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE job='course-2' AND outcome='ok'", 2, 30s))
      << "the refused file's course stopped running";

  // One course in two files: both named, neither change applied.
  ws.write_course("course-2", "course-2-key");  // fixed
  ws.write("courses.d/copy.yaml", "name: course-3\nservice_key_file: course-3.key\nhierarchy_id: elsewhere\n");
  ASSERT_TRUE(refused_seen("copy.yaml"));
  auto [dup_rc, dup_out] = ws.rostersync_output({"check-config"}, true);
  EXPECT_EQ(dup_rc, 2);
  EXPECT_TRUE(has(dup_out, "copy.yaml:1:7: name: the course 'course-3' is also defined in " +
                               (ws.dir() / "courses.d" / "course-3.yaml").string() + ":1")) << dup_out;
  EXPECT_TRUE(has(dup_out, "course-3.yaml:1:7: name: the course 'course-3' is also defined in")) << dup_out;
  std::filesystem::remove(ws.dir() / "courses.d" / "copy.yaml");
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM meta WHERE key='registry_refused_files' AND value=''", 1, 30s));

  // The registry moved away: nothing stops, everything says so, until that change is confirmed.
  notify.emplace(notify_path);
  std::filesystem::rename(ws.dir() / "courses.d", ws.dir() / "courses.moved");
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM meta WHERE key='registry_awaiting' AND value<>''", 1, 30s));
  EXPECT_TRUE(notify->wait_for([](const std::string& m) { return has(m, "a registry change awaits confirmation"); }, 30s))
      << "STATUS= does not say a registry change waits";
  notify.reset();
  auto [gone_rc, gone_line] = ws.rostersync_output({"status", "--check"});
  EXPECT_EQ(gone_rc, 1) << gone_line;
  EXPECT_TRUE(has(gone_line, "cannot read the course registry")) << gone_line;
  EXPECT_TRUE(has(gone_line, "registry change awaiting confirmation")) << gone_line;
  daemon.signal(SIGUSR1);
  for (const char* c : {"course-1", "course-2", "course-3"}) {
    ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE job='" + std::string(c) + "' AND outcome='ok'", 3, 30s))
        << c << " stopped with the registry gone";
  }
  auto [show_rc, shown] = ws.rostersync_output({"confirm-registry"});
  EXPECT_EQ(show_rc, 1) << "nothing confirmed without the id";
  const std::string id = ws.rows("SELECT value FROM meta WHERE key='registry_change_id'").at(0).at(0);
  EXPECT_TRUE(has(shown, "rostersync confirm-registry --id " + id)) << shown;
  EXPECT_EQ(ws.rostersync({"confirm-registry", "--id", "000000000000"}), 1);
  EXPECT_EQ(ws.rostersync({"confirm-registry", "--id", id}), 0);
  auto all_gone = [&] { return ws.rostersync({"resync", "--job", "course-1"}) == 1; };
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!all_gone()) ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the confirmed change was never applied";
  EXPECT_EQ(ws.count("SELECT count(*) FROM meta WHERE key='registry_awaiting' AND value<>''"), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM meta WHERE key='registry_confirmed_id' AND value<>''"), 0)
      << "a confirmation is used once";

  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(30s), 0);
}

// Six courses at once, three walks at a time, one target whose budget of 10
// operations they share: never more than 10 in flight, never two walks of
// one course at once, however often a resync is asked for.
TEST(Concurrency, JobsShareTheTargetBudgetAndNoJobEverRunsTwiceAtOnce) {
  Simulator sim({"--contexts", "6", "--members", "120", "--imses-latency-ms", "5", "--ltiaas-latency-ms", "5"});
  Workspace ws;
  ws.configure(sim, course_jobs(6, "    page_limit: 20\n    interval: 1h\n"),
               "    in_flight_budget: 10\n    batch_size: 5\n", kImsesPassword, "    max_concurrent_walks: 3\n");
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  // A signal that comes before the process reaches main() cannot be held
  // back (an ASan build takes a quarter of a second to get there): the
  // storm starts once the daemon listens on its control socket, which it
  // opens after its signal handlers.
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (!std::filesystem::exists(ws.dir() / "control.sock") && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(std::filesystem::exists(ws.dir() / "control.sock"));
  // Resync everything, again and again, until every job has started its
  // first run, and once more: each job is asked for again while it runs
  // (or after it ended), so each runs at least twice.
  do {
    daemon.signal(SIGUSR1);
    std::this_thread::sleep_for(100ms);
  } while (ws.count("SELECT count(DISTINCT job) FROM run") < 6 && std::chrono::steady_clock::now() < until);
  daemon.signal(SIGUSR1);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(DISTINCT job) FROM run WHERE outcome='ok'", 6, 60s));
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", 12, 60s));
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(30s), 0);

  auto state = sim.state();
  EXPECT_LE(state.at("max_in_flight_ops").as_int64(), 10) << "the shared budget was exceeded";
  EXPECT_GE(state.at("max_in_flight_ops").as_int64(), 6) << "the jobs did not send in parallel";
  EXPECT_LE(state.at("max_in_flight_pages").as_int64(), 3) << "more walks than max_concurrent_walks";
  EXPECT_GE(state.at("max_in_flight_pages").as_int64(), 2) << "the walks did not run in parallel";
  EXPECT_EQ(state.at("max_in_flight_pages_per_roster").as_int64(), 1) << "a job walked twice at once";
  // Each job's runs follow one another: the next starts after the last ended.
  EXPECT_EQ(ws.count("SELECT count(*) FROM run a JOIN run b ON a.job=b.job AND b.run_id > a.run_id "
                     "WHERE b.started_at < a.ended_at"),
            0);
  expect_exact_state(sim, ws, 6);
}

// The no-change pass counts settled pages from their digests; a member who
// leaves is noticed from the walk's member set, and the next run, planning
// every page again, drops them from the snapshot.
TEST(SyncEndToEnd, TheNoChangePassStaysExactWhenAMemberLeaves) {
  Simulator sim({"--contexts", "1", "--members", "60"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    page_limit: 20\n"));
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM page_digest WHERE settled=1"), 3) << "every page settled after the first pass";
  auto second = ws.rows("SELECT members_seen, already_present, creates_planned FROM run WHERE run_id=2");
  EXPECT_EQ(second[0], (std::vector<std::string>{"60", "60", "0"}));

  std::string leaver = ws.rows("SELECT user_id FROM roster_member ORDER BY user_id LIMIT 1")[0][0];
  sim.remove_member("course-1-key", leaver);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(ws.rows("SELECT members_seen FROM run WHERE run_id=3")[0][0], "59");
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM roster_member WHERE user_id='" + leaver + "'"), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM roster_member"), 59);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(ws.rows("SELECT already_present FROM run WHERE run_id=5")[0][0], "59");
}

// A start keeps no course definitions: a registry that a failed mount hides
// at boot cannot keep its courses running, but the loss is not silent. It
// waits for confirm-registry, and status --check keeps judging the courses
// the last daemon ran until their files are back or the loss is confirmed.
TEST(Registry, ARestartThatLacksTheRegistryWaitsAndKeepsJudgingItsCourses) {
  Simulator sim({"--contexts", "3", "--members", "10"});
  Workspace ws;
  ws.configure_registry(sim, "  hierarchy_id: \"{context.label}-2026\"\n  interval: 1h\n");
  for (int c = 1; c <= 3; ++c) ws.write_course("course-" + std::to_string(c), "course-" + std::to_string(c) + "-key");
  auto start = [&] {
    return std::make_unique<rostersync::daemon::ChildProcess>(
        std::vector<std::string>{ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  };
  auto stop = [](std::unique_ptr<rostersync::daemon::ChildProcess>& d) {
    d->signal(SIGTERM);
    ASSERT_EQ(d->wait(30s), 0);
    d.reset();
  };
  // The verdict once the daemon has recorded what `sql` counts (the harness's database wait).
  auto check_once = [&](const std::string& sql, long long n) {
    EXPECT_TRUE(wait_for_count(ws, sql, n, 30s)) << "never: " << sql;
    return ws.rostersync_output({"status", "--check"}).second;
  };
  const std::string awaiting = "SELECT count(*) FROM meta WHERE key='registry_awaiting' AND value<>''";
  auto daemon = start();
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", 3, 30s));
  stop(daemon);

  // The mount failed at boot.
  std::filesystem::rename(ws.dir() / "courses.d", ws.dir() / "courses.away");
  daemon = start();
  std::string waiting = check_once(awaiting, 1);
  EXPECT_TRUE(has(waiting, "registry change awaiting confirmation")) << waiting;
  EXPECT_TRUE(has(waiting, "ROSTERSYNC WARNING")) << waiting;
  EXPECT_TRUE(has(waiting, "3 of the 3 courses the daemon ran before this start (course-1, course-2, course-3)"))
      << waiting;
  EXPECT_TRUE(has(waiting, "jobs=3;")) << "the absent courses are still judged: " << waiting;
  // The mount comes back: the courses run again and nothing waits.
  std::filesystem::rename(ws.dir() / "courses.away", ws.dir() / "courses.d");
  std::string back = check_once("SELECT count(*) FROM meta WHERE key='registry_awaiting' AND value='' AND "
                                "(SELECT count(*) FROM run WHERE outcome='ok') >= 6", 1);
  EXPECT_TRUE(has(back, "ROSTERSYNC OK")) << back;
  EXPECT_TRUE(has(back, "jobs=3;")) << back;
  stop(daemon);

  // Gone for good, and confirmed: then they leave the list.
  std::filesystem::rename(ws.dir() / "courses.d", ws.dir() / "courses.away");
  daemon = start();
  ASSERT_TRUE(wait_for_count(ws, awaiting, 1, 30s));
  auto [shown_rc, shown] = ws.rostersync_output({"confirm-registry"}, true);
  const std::size_t at = shown.find("--id ");
  ASSERT_NE(at, std::string::npos) << shown;
  const std::string id = shown.substr(at + 5, 12);
  EXPECT_EQ(ws.rostersync({"confirm-registry", "--id", id}), 0);
  std::string confirmed = check_once("SELECT count(*) FROM meta WHERE key='registry_awaiting' AND value='' AND "
                                     "NOT EXISTS (SELECT 1 FROM daemon_job)", 1);
  EXPECT_TRUE(has(confirmed, "jobs=0;")) << confirmed;
  EXPECT_FALSE(has(confirmed, "awaiting confirmation")) << confirmed;
  EXPECT_TRUE(has(confirmed, "cannot read the course registry")) << "the registry itself is still unreadable: " << confirmed;
  stop(daemon);
}
