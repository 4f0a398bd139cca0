// Crash safety: SIGKILL the real binary again and again in the middle of a
// large sync (batches in flight, commits under way), restart it each time,
// and require the end state to be exact: one membership per eligible member
// in itslearning, one id per pair, every id itslearning holds stored as
// created, and an intact database.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <random>
#include <thread>

#include "harness.hpp"

using namespace rostersync::testing;
using namespace std::chrono_literals;

TEST(Crash, TwentyFiveKillsDuringALargeSyncLoseAndDuplicateNothing) {
  constexpr int kCourses = 8;
  // Large enough that 25 short lives cannot finish it (each sends a few hundred items).
  Simulator sim({"--contexts", std::to_string(kCourses), "--members", "800", "--imses-latency-ms", "15"});
  Workspace ws;
  ws.configure(sim, course_jobs(kCourses, "    page_limit: 50\n"), "    in_flight_budget: 20\n    batch_size: 10\n");
  std::mt19937 rng(20261123);
  int kills_with_sends_unrecorded = 0;
  for (int kill = 0; kill < 25; ++kill) {
    // Each life is killed a random 0-150 ms after it has sent its first batch,
    // so every kill lands mid-run however slow start-up is (a sanitizer
    // build starts several times slower).
    long long calls_before = sim.state().at("create_calls").as_int64();
    rostersync::daemon::ChildProcess p({ROSTERSYNC_BIN, "--config", ws.config_path(), "sync"}, false);
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (sim.state().at("create_calls").as_int64() == calls_before) {
      ASSERT_FALSE(p.wait(2ms).has_value()) << "life " << kill << " ended before sending: the sync is too small";
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "life " << kill << " sent nothing in 60 s";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 150)(rng)));
    p.signal(SIGKILL);
    ASSERT_TRUE(p.wait(10s).has_value());
    // itslearning applied more than the database recorded: the kill landed
    // between a send and its commit (the ids must be reused next time).
    std::size_t ids = 0;
    sim_memberships(sim, &ids);
    if (static_cast<long long>(ids) > ws.count("SELECT count(*) FROM membership WHERE state='created'")) {
      ++kills_with_sends_unrecorded;
    }
  }
  EXPECT_GT(kills_with_sends_unrecorded, 0);

  int runs = 0;
  while (ws.rostersync({"sync"}) != 0 && ++runs < 5) {
  }
  ASSERT_LT(runs, 5);

  expect_exact_state(sim, ws, kCourses);
  EXPECT_EQ(ws.rows("PRAGMA integrity_check")[0][0], "ok");
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE outcome='running'"), 0);
  EXPECT_GE(ws.count("SELECT count(*) FROM run WHERE outcome='interrupted'"), 20);  // the killed runs, closed on restart
}

namespace {
// updateMemberships and deleteMemberships calls the simulator has answered.
long long update_and_delete_calls(const Simulator& sim) {
  boost::json::object state = sim.state();
  const auto& calls = state.at("calls").as_object();
  long long n = 0;
  for (const char* op : {"updateMemberships", "deleteMemberships"}) {
    if (const auto* v = calls.if_contains(op)) n += v->as_int64();
  }
  return n;
}

std::string user_id_text(const boost::json::object& m) {
  for (const char* key : {"user_id", "userId"}) {
    if (const auto* id = m.if_contains(key)) return id->is_string() ? std::string(id->as_string()) : std::to_string(id->as_int64());
  }
  return "";
}
}  // namespace

TEST(Crash, KillsDuringUpdatesAndDeletesLeaveEachPairOnceWithTheRightRole) {
  constexpr int kCourses = 4;
  Simulator sim({"--contexts", std::to_string(kCourses), "--members", "400", "--imses-latency-ms", "15"});
  Workspace ws;
  ws.configure(sim,
               course_jobs(kCourses, "    page_limit: 50\n    remove_departed: true\n    departure_grace: 1\n"
                                     "    max_delete_percent: 100\n"),
               "    in_flight_budget: 20\n    batch_size: 10\n");
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  // In every course, 80 members are promoted and 80 leave.
  boost::json::object rosters = sim.rosters();
  for (int c = 1; c <= kCourses; ++c) {
    std::string key = "course-" + std::to_string(c) + "-key";
    const auto& members = rosters.at(key).as_object().at("members").as_array();
    for (int j = 10; j < 90; ++j) sim.set_roles(key, user_id_text(members[j].as_object()), "Instructor");
    for (int j = 100; j < 180; ++j) sim.remove_member(key, user_id_text(members[j].as_object()));
  }

  std::mt19937 rng(20261202);
  auto writes = [&] { return update_and_delete_calls(sim); };
  int killed_during_writes = 0;
  for (int kill = 0; kill < 10; ++kill) {
    long long before = writes();
    rostersync::daemon::ChildProcess p({ROSTERSYNC_BIN, "--config", ws.config_path(), "sync"}, false);
    auto deadline = std::chrono::steady_clock::now() + 60s;
    bool ended = false;
    while (writes() == before && !ended) {
      ended = p.wait(2ms).has_value();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "life " << kill << " sent nothing in 60 s";
    }
    if (ended) break;  // everything was done before this life sent anything
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 60)(rng)));
    p.signal(SIGKILL);
    ASSERT_TRUE(p.wait(10s).has_value());
    ++killed_during_writes;
  }
  EXPECT_GE(killed_during_writes, 3);
  RecordProperty("kills_during_writes", killed_during_writes);

  int runs = 0;
  while (ws.rostersync({"sync"}) != 0 && ++runs < 5) {
  }
  ASSERT_LT(runs, 5);
  // A roster read over several pages never decides a departure in one walk
  // (offset paging may skip a member who never left): one more walk.
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  expect_exact_state(sim, ws, kCourses);  // the promoted as Instructor, the departed gone, each pair once
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE state='deleted'"), kCourses * 80);
  EXPECT_EQ(ws.rows("PRAGMA integrity_check")[0][0], "ok");
}

// Two jobs feed each group (cross-listed sections), with removals on:
// SIGKILLs while updates and deletes are in flight, in whatever order the
// jobs run, leave each (person, group) pair once with the group's role, the
// persons still listed by either section kept and every leaver deleted once.
TEST(Crash, KillsWhileTwoJobsOfOneGroupUpdateAndDeleteLeaveTheGroupsUnion) {
  constexpr int kCourses = 4;
  Simulator sim({"--contexts", std::to_string(kCourses), "--members", "200", "--imses-latency-ms", "15"});
  Workspace ws;
  auto jobs = course_jobs(kCourses, "    page_limit: 50\n    remove_departed: true\n    departure_grace: 1\n"
                                    "    max_delete_percent: 100\n");
  jobs[1].hierarchy = "h-1";
  jobs[3].hierarchy = "h-3";
  ws.configure(sim, jobs, "    in_flight_budget: 20\n    batch_size: 10\n");
  const std::map<std::string, std::string> groups = {
      {"course-1-key", "h-1"}, {"course-2-key", "h-1"}, {"course-3-key", "h-3"}, {"course-4-key", "h-3"}};
  // 40 persons in both sections of each group: learners in one, instructors in the other for half of them.
  for (int g : {1, 3}) {
    std::string a = "[", b = "[";
    for (int i = 0; i < 40; ++i) {
      std::string person = "sis-x" + std::to_string(g) + "-" + std::to_string(i);
      a += std::string(i ? "," : "") + R"({"user_id": "a-)" + person + R"(", "lis_person_sourcedid": ")" + person +
           R"(", "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]})";
      b += std::string(i ? "," : "") + R"({"user_id": "b-)" + person + R"(", "lis_person_sourcedid": ")" + person +
           R"(", "roles": ["http://purl.imsglobal.org/vocab/lis/v2/membership#)" +
           (i % 2 ? "Instructor" : "Learner") + R"("]})";
    }
    sim.post("/_sim/rosters/course-" + std::to_string(g) + "-key/members", a + "]");
    sim.post("/_sim/rosters/course-" + std::to_string(g + 1) + "-key/members", b + "]");
  }
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  expect_exact_state(sim, ws, groups);

  // Section 1 and section 4 lose 20 shared persons (they stay in the other
  // section) and 40 of their own; 30 of their own are promoted.
  boost::json::object rosters = sim.rosters();
  for (int c : {1, 4}) {
    std::string key = "course-" + std::to_string(c) + "-key";
    const auto& members = rosters.at(key).as_object().at("members").as_array();
    for (int j = 10; j < 40; ++j) sim.set_roles(key, user_id_text(members[j].as_object()), "Instructor");
    for (int j = 100; j < 140; ++j) sim.remove_member(key, user_id_text(members[j].as_object()));
    const std::string prefix = c == 1 ? "a-sis-x1-" : "b-sis-x3-";
    for (int i = 0; i < 20; ++i) sim.remove_member(key, prefix + std::to_string(i));
  }

  std::mt19937 rng(20261206);
  auto writes = [&] { return update_and_delete_calls(sim); };
  int killed = 0;
  for (int kill = 0; kill < 10; ++kill) {
    long long before = writes();
    // Alternate which section of each group runs first.
    std::vector<std::string> argv = {ROSTERSYNC_BIN, "--config", ws.config_path(), "sync"};
    if (kill % 3 == 1) argv.insert(argv.end(), {"--job", "course-2"});
    if (kill % 3 == 2) argv.insert(argv.end(), {"--job", "course-4"});
    rostersync::daemon::ChildProcess p(argv, false);
    auto deadline = std::chrono::steady_clock::now() + 60s;
    bool ended = false;
    while (writes() == before && !ended) {
      ended = p.wait(2ms).has_value();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "life " << kill << " sent nothing in 60 s";
    }
    if (ended) continue;  // this life had nothing to send
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 60)(rng)));
    p.signal(SIGKILL);
    ASSERT_TRUE(p.wait(10s).has_value());
    ++killed;
  }
  EXPECT_GE(killed, 2);
  RecordProperty("kills_during_writes", killed);

  int runs = 0;
  while (ws.rostersync({"sync"}) != 0 && ++runs < 5) {
  }
  ASSERT_LT(runs, 5);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);  // a roster over several pages decides a departure over two walks
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  expect_exact_state(sim, ws, groups);
  // Shared persons who left one section kept their membership; the others left.
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE person_key LIKE 'sis-x%' AND state='created'"), 80);
  // The simulator's courses overlap by half (course c lists persons from (c-1)*m/2): every
  // person who left section 1 is still in section 2 and stays; section 4's leavers are in
  // no other section of h-3 and go.
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE hierarchy_id='h-1' AND state='deleted'"), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE hierarchy_id='h-3' AND state='deleted'"), 40)
      << ::testing::PrintToString(ws.rows("SELECT hierarchy_id, state, op, count(*), max(last_error) FROM membership GROUP BY 1, 2, 3"));
  EXPECT_EQ(ws.rows("PRAGMA integrity_check")[0][0], "ok");
}
