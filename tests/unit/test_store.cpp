// The state database on a real SQLite file: migrations, WAL, and the
// transactions the engine relies on.
#include <gtest/gtest.h>

#include <fstream>

#include <sys/stat.h>

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>

#include "domain/version.hpp"
#include "store/attempt.hpp"
#include "store/reports.hpp"
#include "store/store.hpp"

using namespace rostersync;
namespace fs = std::filesystem;

namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (fs::temp_directory_path() / ("rs-store-" + std::to_string(::getpid()) + "-" +
                                          ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db"))
                .string();
    fs::remove(path_);
  }
  void TearDown() override {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path_ + suffix);
  }

  // The first cell of `sql`, read over a second connection as any other reader would.
  std::string text(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

  PagePlan plan(std::vector<std::pair<std::string, std::string>> members) {
    PagePlan p;
    for (auto& [uid, key] : members) {
      p.snapshot.push_back({uid, key, "Learner", "Active", "eligible"});
      p.writes.push_back({"id-" + key, key, "Learner", true, 0});
    }
    p.members = static_cast<int>(members.size());
    return p;
  }

  std::string path_;
};

}  // namespace

TEST_F(StoreTest, CreatesSchemaInWalModeWithVersion) {
  store::Store s(path_);
  EXPECT_EQ(s.schema_version(), store::kSchemaVersion);
  EXPECT_EQ(text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(text("SELECT count(*) FROM sqlite_master WHERE name IN ('run','membership','roster_member')"), "3");
}

TEST_F(StoreTest, ReopeningKeepsDataAndDoesNotRemigrate) {
  {
    store::Store s(path_);
    s.begin_run("j");
  }
  store::Store again(path_);
  EXPECT_EQ(text("SELECT count(*) FROM run"), "1");
}

TEST_F(StoreTest, RefusesANewerSchema) {
  { store::Store s(path_); }
  text("PRAGMA user_version=99");
  EXPECT_THROW(store::Store s(path_), store::StoreError);
}

TEST_F(StoreTest, CommitPageStoresPendingIdsAndCountsNewMembers) {
  store::Store s(path_);
  auto run1 = s.begin_run("j");
  EXPECT_EQ(s.commit_page(run1, "j", "t", "h", plan({{"u1", "p1"}, {"u2", "p2"}})), 2);
  auto found = s.find_membership("t", "h", "p1");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->membership_id, "id-p1");
  EXPECT_EQ(found->state, MembershipState::pending);
  EXPECT_EQ(found->queued_run, run1);
  EXPECT_FALSE(s.find_membership("t", "other-hierarchy", "p1"));

  s.record_results("t", {{"id-p1", ItemResult::Fate::confirmed, ""},
                         {"id-p2", ItemResult::Fate::waiting, "PersonNotFound", 1, std::chrono::seconds(60)}});
  EXPECT_EQ(s.find_membership("t", "h", "p1")->state, MembershipState::created);
  EXPECT_EQ(text("SELECT last_error FROM membership WHERE membership_id='id-p2'"), "PersonNotFound");

  auto run2 = s.begin_run("j");
  auto p = plan({{"u2", "p2"}, {"u3", "p3"}});
  p.writes = {{"id-p2", "p2", "Instructor", false, 0}, {"id-p3", "p3", "Learner", true, 0}};
  EXPECT_EQ(s.commit_page(run2, "j", "t", "h", p), 1);  // only u3 is new to the snapshot
  EXPECT_EQ(s.find_membership("t", "h", "p2")->queued_run, run2);
  EXPECT_EQ(text("SELECT role_type FROM membership WHERE membership_id='id-p2'"), "Instructor");

  EXPECT_EQ(s.prune_snapshot("j", run2), 1);  // u1 left the roster
  EXPECT_EQ(text("SELECT group_concat(user_id) FROM (SELECT user_id FROM roster_member ORDER BY 1)"), "u2,u3");
}

TEST_F(StoreTest, RefusedItemsWaitOrParkAsDecidedAndRetryPutsThemBack) {
  store::Store s(path_);
  auto run = s.begin_run("j");
  s.commit_page(run, "j", "t", "h", plan({{"u1", "p1"}, {"u2", "p2"}}));
  // The retry policy decided: first refusal waits an hour.
  s.record_results("t", {{"id-p1", ItemResult::Fate::waiting, "PersonNotFound", 1, std::chrono::hours(1)}});
  auto waiting = s.find_membership("t", "h", "p1");
  EXPECT_EQ(waiting->state, MembershipState::pending);
  EXPECT_TRUE(waiting->waiting);
  EXPECT_EQ(waiting->refusals, 1);
  EXPECT_EQ(text("SELECT next_attempt_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+3500 seconds') "
                    "FROM membership WHERE membership_id='id-p1'"), "1");
  EXPECT_FALSE(s.find_membership("t", "h", "p2")->waiting);

  // Second refusal: parked.
  s.record_results("t", {{"id-p1", ItemResult::Fate::parked, "PersonNotFound", 2, std::chrono::seconds(0)}});
  auto parked = s.find_membership("t", "h", "p1");
  EXPECT_EQ(parked->state, MembershipState::failed);
  EXPECT_EQ(parked->refusals, 2);
  EXPECT_EQ(text("SELECT last_error FROM membership WHERE membership_id='id-p1'"), "PersonNotFound");
  EXPECT_EQ(text("SELECT next_attempt_at IS NULL FROM membership WHERE membership_id='id-p1'"), "1");

  // An unknown outcome keeps the item pending with the error, refusals untouched.
  s.record_results("t", {{"id-p2", ItemResult::Fate::unknown, "HTTP 503"}});
  EXPECT_EQ(s.find_membership("t", "h", "p2")->state, MembershipState::pending);
  EXPECT_EQ(text("SELECT last_error FROM membership WHERE membership_id='id-p2'"), "HTTP 503");

  EXPECT_EQ(s.requeue_parked(std::string("other-job"), std::nullopt), 0);
  EXPECT_EQ(s.requeue_parked(std::nullopt, std::string("id-p1")), 1);
  auto back = s.find_membership("t", "h", "p1");
  EXPECT_EQ(back->state, MembershipState::pending);
  EXPECT_FALSE(back->waiting);
  EXPECT_EQ(back->refusals, 0);
  EXPECT_EQ(s.requeue_parked(std::string("j"), std::nullopt), 0);  // nothing left parked or waiting
}

TEST_F(StoreTest, HoldsAreSetExtendedFoundAndCleared) {
  store::Store s(path_);
  EXPECT_FALSE(s.find_hold(HoldScope::target, "its"));
  Hold h;
  h.scope = HoldScope::target;
  h.name = "its";
  h.kind = HoldKind::blocked;
  h.reason = "SOAP Fault a:InvalidSecurity";
  s.set_hold(h, std::chrono::seconds(3600));
  auto found = s.find_hold(HoldScope::target, "its");
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->active());
  EXPECT_EQ(found->reason, "SOAP Fault a:InvalidSecurity");
  EXPECT_EQ(found->kind, HoldKind::blocked);
  EXPECT_GT(found->remaining, std::chrono::seconds(3500));
  s.set_hold(h, std::chrono::seconds(-5));  // lapsed: still recorded, no longer in force
  EXPECT_FALSE(s.find_hold(HoldScope::target, "its")->active());
  EXPECT_FALSE(s.find_hold(HoldScope::job, "its"));
  s.clear_hold(HoldScope::target, "its");
  EXPECT_FALSE(s.find_hold(HoldScope::target, "its"));
  s.set_hold(h, std::chrono::seconds(60));
  std::vector<Hold> lifted = s.clear_holds();
  ASSERT_EQ(lifted.size(), 1u);
  EXPECT_EQ(lifted[0].scope, HoldScope::target);
  EXPECT_EQ(lifted[0].name, "its");
  EXPECT_FALSE(s.find_hold(HoldScope::target, "its"));
}

// A platform that refuses the tool's client holds the whole source (schema 7).
TEST_F(StoreTest, ASourceHoldIsKeptApartFromAJobOrTargetOfTheSameName) {
  store::Store s(path_);
  Hold h;
  h.scope = HoldScope::source;
  h.name = "lms";
  h.kind = HoldKind::blocked;
  h.reason = "invalid_client: unknown kid";
  s.set_hold(h, std::chrono::seconds(3600));
  auto found = s.find_hold(HoldScope::source, "lms");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->reason, "invalid_client: unknown kid");
  EXPECT_FALSE(s.find_hold(HoldScope::job, "lms"));
  EXPECT_FALSE(s.find_hold(HoldScope::target, "lms"));
  Hold lapsed = h;
  lapsed.scope = HoldScope::target;
  lapsed.name = "its";
  s.set_hold(lapsed, std::chrono::seconds(-5));
  std::vector<Hold> active = s.active_holds();  // what metrics and status --check count
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].scope, HoldScope::source);
  std::vector<Hold> lifted = s.clear_holds();
  ASSERT_EQ(lifted.size(), 2u);
  EXPECT_EQ(lifted[0].scope, HoldScope::source);
}

// status --check counts a hold on a source or target once, with the jobs it
// stops: it learns which holds are shared from the hold's scope, not its text.
TEST_F(StoreTest, HealthSaysWhetherAJobsHoldIsItsOwnOrItsTargetsOrSources) {
  {
    store::Store s(path_);
    s.begin_run("a");
    Hold h;
    h.scope = HoldScope::target;
    h.name = "its";
    h.reason = "job its: looks like a job";  // the text would fool a parser
    s.set_hold(h, std::chrono::seconds(3600));
    h.scope = HoldScope::job;
    h.name = "b";
    h.reason = "target x: looks like a target";
    s.set_hold(h, std::chrono::seconds(3600));
    h.scope = HoldScope::source;
    h.name = "lms";
    h.reason = "invalid_client";
    s.set_hold(h, std::chrono::seconds(3600));
  }
  store::Reports r(path_);
  std::vector<store::JobHealth> facts = r.health({{"a", "its", "g1", "ltiaas", ""},
                                                 {"b", "other", "g2", "ltiaas", ""},
                                                 {"c", "other", "g3", "lms", ""},
                                                 {"d", "other", "g4", "ltiaas", ""}});
  ASSERT_EQ(facts.size(), 4u);
  EXPECT_TRUE(facts[0].hold_shared) << facts[0].hold;
  EXPECT_FALSE(facts[1].hold_shared) << facts[1].hold;
  EXPECT_NE(facts[1].hold.find("looks like a target"), std::string::npos) << facts[1].hold;
  EXPECT_TRUE(facts[2].hold_shared) << facts[2].hold;
  EXPECT_TRUE(facts[3].hold.empty());
  EXPECT_FALSE(facts[3].hold_shared);
}

// status --check judges what the daemon runs, from the database alone.
TEST_F(StoreTest, TheDaemonsJobListReplacesTheLastAndIsAbsentUntilRecorded) {
  { store::Store s(path_); }
  EXPECT_FALSE(store::Reports(path_).daemon_jobs()) << "only sync ever ran: no record, not an empty one";
  {
    store::Store s(path_);
    s.record_daemon_jobs({{{"b", "its", "{context.label}", "ltiaas", "courses.d/b.yaml:1"}, std::chrono::minutes(30)},
                          {{"a", "its", "g-a", "ltiaas", ""}, std::chrono::hours(1)}});
  }
  auto jobs = store::Reports(path_).daemon_jobs();
  ASSERT_TRUE(jobs);
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].ref.name, "a");
  EXPECT_EQ((*jobs)[0].interval, std::chrono::hours(1));
  EXPECT_EQ((*jobs)[1].ref.hierarchy_id, "{context.label}");
  EXPECT_EQ((*jobs)[1].ref.origin, "courses.d/b.yaml:1");
  EXPECT_EQ((*jobs)[1].interval, std::chrono::minutes(30));
  {
    store::Store s(path_);
    s.record_daemon_jobs({});  // a registry emptied and confirmed: nothing runs, and that is recorded
  }
  jobs = store::Reports(path_).daemon_jobs();
  ASSERT_TRUE(jobs);
  EXPECT_TRUE(jobs->empty());
}

// A reader that may not create files beside the database (the monitoring
// group) needs the -wal and -shm to outlive the last writer.
TEST_F(StoreTest, TheWalAndShmStayWhenTheWriterCloses) {
  {
    store::Store s(path_);
    s.begin_run("j");
  }
  EXPECT_TRUE(fs::exists(path_ + "-wal"));
  EXPECT_TRUE(fs::exists(path_ + "-shm"));
  EXPECT_EQ(store::Reports(path_).latest_run_id(), 1);
}

// The sync side's boundary: a store failure is a value with our text (the
// file, what was asked) apart from SQLite's, and says when it is worth
// trying again soon (another process holds the database).
TEST_F(StoreTest, AttemptTurnsAStoreFailureIntoAValueKeepingSqlitesTextApart) {
  store::Store s(path_, std::chrono::milliseconds(50));
  Result<std::int64_t> run = store::attempt([&] { return s.begin_run("j"); });
  ASSERT_TRUE(run);
  EXPECT_EQ(*run, 1);
  Result<Done> done = store::attempt([&] { s.set_next_run("j", 60); });
  EXPECT_TRUE(done);

  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &blocker), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  Result<std::int64_t> busy = store::attempt([&] { return s.begin_run("j"); });
  sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(blocker);
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.failure().kind, FailureKind::store_busy);
  EXPECT_EQ(busy.failure().message.rfind(path_, 0), 0u) << "ours names the file: " << busy.failure().message;
  EXPECT_EQ(busy.failure().message.find("locked"), std::string::npos) << "SQLite's words are not ours";
  EXPECT_EQ(busy.failure().peer_text, "database is locked");

  // Anything else the store refuses is a plain store failure.
  Result<Done> refused = store::attempt([&] { throw store::StoreError("x.db: ours", "theirs", false, false); });
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.failure().kind, FailureKind::store);
  EXPECT_EQ(refused.failure().describe(), "x.db: ours: theirs");
}

TEST_F(StoreTest, SamePairCannotGetASecondId) {
  store::Store s(path_);
  auto run = s.begin_run("j");
  s.commit_page(run, "j", "t", "h", plan({{"u1", "p1"}}));
  auto dup = plan({{"u1", "p1"}});
  dup.writes[0].membership_id = "another-id";
  EXPECT_THROW(s.commit_page(run, "j", "t", "h", dup), store::StoreError);
  // The failed transaction left nothing half-written.
  EXPECT_EQ(text("SELECT count(*) FROM membership"), "1");
}

TEST_F(StoreTest, FinishRunRecordsCountsAndAbandonedRunsAreClosed) {
  store::Store s(path_);
  auto done = s.begin_run("j");
  RunStats st;
  st.pages = 3;
  st.created = 7;
  st.skipped[static_cast<std::size_t>(SkipReason::test_user)] = 2;
  s.finish_run(done, st, RunOutcome::ok, "");
  EXPECT_EQ(text("SELECT outcome||','||pages||','||created||','||skipped_test_user FROM run WHERE run_id=" + std::to_string(done)),
            "ok,3,7,2");
  s.begin_run("j");
  EXPECT_EQ(s.close_abandoned_runs(), 1);
  EXPECT_EQ(text("SELECT count(*) FROM run WHERE outcome='interrupted'"), "1");
}

TEST_F(StoreTest, IdsAwaitTheFsyncBarrierOfTheNextSendOnly) {
  store::Store s(path_);
  auto run = s.begin_run("j");
  EXPECT_FALSE(s.ids_awaiting_fsync());
  PagePlan nothing_to_send = plan({});
  s.commit_page(run, "j", "t", "h", nothing_to_send);
  EXPECT_FALSE(s.ids_awaiting_fsync()) << "a page without ids needs no barrier";
  PagePlan first = plan({{"u1", "p1"}});
  PagePlan second = plan({{"u2", "p2"}});
  s.commit_page(run, "j", "t", "h", first);
  s.commit_page(run, "j", "t", "h", second);
  EXPECT_TRUE(s.ids_awaiting_fsync());
  s.mark_attempt("t", {first.writes[0].membership_id});  // one barrier for both pages
  EXPECT_FALSE(s.ids_awaiting_fsync());
  s.mark_attempt("t", {second.writes[0].membership_id});
  EXPECT_FALSE(s.ids_awaiting_fsync());
  EXPECT_EQ(text("SELECT sum(attempts) FROM membership"), "2");
}

TEST_F(StoreTest, SettledPagesAreRememberedOnlyOnceTheirRunConfirmsThem) {
  store::Store s(path_);
  auto run = s.begin_run("j");
  PagePlan p = plan({{"u1", "p1"}});
  s.commit_page(run, "j", "t", "h", p, 1, 42);
  EXPECT_FALSE(s.settled_page("j", 1, 42)) << "its create is not confirmed yet";
  s.settle_pages("j", run, true);
  auto settled = s.settled_page("j", 1, 42);
  ASSERT_TRUE(settled);
  EXPECT_EQ(settled->members, 1);
  EXPECT_EQ(settled->already_present, 1) << "counted as present from now on";
  EXPECT_FALSE(s.settled_page("j", 1, 43)) << "another digest: the page changed";
  EXPECT_FALSE(s.settled_page("j", 2, 42));

  auto run2 = s.begin_run("j");
  s.commit_page(run2, "j", "t", "h", plan({{"u9", "p9"}}), 2, 7);
  s.settle_pages("j", run2, false);  // the run did not confirm everything
  EXPECT_FALSE(s.settled_page("j", 2, 7));
  EXPECT_TRUE(s.settled_page("j", 1, 42)) << "an earlier settled page stays";
  s.forget_pages("j", 0);
  EXPECT_FALSE(s.settled_page("j", 1, 42));
}

TEST_F(StoreTest, BatchedLookupAnswersInTheOrderAsked) {
  store::Store s(path_);
  auto run = s.begin_run("j");
  PagePlan p = plan({{"u1", "p1"}, {"u2", "p2"}});
  s.commit_page(run, "j", "t", "h", p);
  std::vector<std::string> keys;
  for (int i = 0; i < 300; ++i) keys.push_back("nobody-" + std::to_string(i));  // more than one query's worth
  keys[5] = "p2";
  keys[250] = "p1";
  keys[251] = "p1";
  auto found = s.find_memberships("t", "h", keys);
  ASSERT_EQ(found.size(), 300u);
  ASSERT_TRUE(found[5] && found[250] && found[251]);
  EXPECT_EQ(found[5]->membership_id, p.writes[1].membership_id);
  EXPECT_EQ(found[250]->membership_id, p.writes[0].membership_id);
  EXPECT_EQ(found[251]->membership_id, p.writes[0].membership_id);
  EXPECT_EQ(std::count_if(found.begin(), found.end(), [](const auto& f) { return f.has_value(); }), 3);
  EXPECT_FALSE(s.find_memberships("t", "other-hierarchy", {"p1"})[0]);
}

TEST_F(StoreTest, OldRunsArePrunedButEveryJobKeepsItsNewest) {
  store::Store s(path_);
  for (const char* job : {"a", "a", "a", "b"}) s.finish_run(s.begin_run(job), RunStats{}, RunOutcome::ok, "");
  auto recent = s.begin_run("a");
  s.finish_run(recent, RunStats{}, RunOutcome::ok, "");
  // Age every run but the newest of "a" by 100 days.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  std::string sql = "UPDATE run SET ended_at=strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-100 days') WHERE run_id<>" +
                    std::to_string(recent);
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(s.prune_runs(std::chrono::hours(24 * 90)), 3) << "a's three old runs; b's only run stays";
  EXPECT_EQ(text("SELECT group_concat(job, ',') FROM (SELECT job FROM run ORDER BY run_id)"), "b,a");
  EXPECT_EQ(s.prune_runs(std::chrono::hours(24 * 90)), 0);
}

TEST_F(StoreTest, ForgettingAJobKeepsTheMembershipsItCreated) {
  store::Store s(path_);
  auto run = s.begin_run("gone");
  s.commit_page(run, "gone", "t", "h", plan({{"u1", "p1"}}), 1, 5);
  s.set_next_run("gone", 60);
  s.finish_run(run, RunStats{}, RunOutcome::ok, "");
  s.commit_page(s.begin_run("other"), "other", "t", "h2", plan({{"u2", "p2"}}));
  EXPECT_EQ(s.forget_job("gone"), 1);
  EXPECT_EQ(text("SELECT count(*) FROM run WHERE job='gone'"), "0");
  EXPECT_EQ(text("SELECT count(*) FROM roster_member WHERE job='gone'"), "0");
  EXPECT_EQ(text("SELECT count(*) FROM page_digest WHERE job='gone'"), "0");
  EXPECT_EQ(text("SELECT count(*) FROM job_schedule WHERE job='gone'"), "0");
  EXPECT_EQ(text("SELECT count(*) FROM membership WHERE job='gone'"), "1");
  EXPECT_EQ(text("SELECT count(*) FROM roster_member WHERE job='other'"), "1");
}

TEST_F(StoreTest, AVersion5DatabaseKeepsItsMembershipsThroughTheRebuild) {
  {
    store::Store s(path_);
    auto run = s.begin_run("j");
    s.commit_page(run, "j", "t", "h", plan({{"u1", "p1"}, {"u2", "p2"}}));
    s.record_results("t", {{"id-p1", ItemResult::Fate::confirmed, ""}});
  }
  // Back to version 5's membership table, as an older rostersync left it.
  text("CREATE TABLE m5 AS SELECT target, membership_id, hierarchy_id, person_key, role_type, job, state, attempts, "
       "last_error, queued_run, created_at, updated_at, refusals, next_attempt_at FROM membership");
  text("DROP TABLE membership");
  text("ALTER TABLE m5 RENAME TO membership");
  for (const char* t : {"write_hold", "decision", "listing", "group_read", "meta", "daemon_job"}) text(std::string("DROP TABLE ") + t);
  text("PRAGMA user_version=5");
  text("CREATE TABLE run_v5 AS SELECT run_id, job, started_at, ended_at, outcome, pages, members_seen, new_members, "
       "already_present, creates_planned, created, failed, pending, skipped_inactive, skipped_test_user, "
       "skipped_no_person_key, skipped_invalid_person_key, skipped_unmapped_role, skipped_malformed, error, deferred, "
       "skipped_role_filter, hierarchy_id FROM run");
  text("DROP TABLE run");
  text("ALTER TABLE run_v5 RENAME TO run");
  store::Store s(path_);
  EXPECT_EQ(s.schema_version(), store::kSchemaVersion);
  EXPECT_EQ(s.upgraded_from(), 5);
  EXPECT_EQ(text("SELECT value FROM meta WHERE key='upgraded_from'"), "5");
  EXPECT_EQ(text("SELECT value FROM meta WHERE key='rostersync_version'"), rostersync::kVersion);
  auto p1 = s.find_membership("t", "h", "p1");
  ASSERT_TRUE(p1);
  EXPECT_EQ(p1->state, MembershipState::created);
  EXPECT_EQ(p1->op, MembershipOp::create);
  EXPECT_EQ(text("SELECT origin || owned FROM membership WHERE membership_id='id-p2'"), "created1");
}

TEST_F(StoreTest, ARoleChangeKeepsTheOldRoleAndADeleteEndsDeleted) {
  store::Store s(path_);
  auto run1 = s.begin_run("j");
  s.commit_page(run1, "j", "t", "h", plan({{"u1", "p1"}}));
  s.record_results("t", {{"id-p1", ItemResult::Fate::confirmed, ""}});
  auto run2 = s.begin_run("j");
  PagePlan update = plan({{"u1", "p1"}});
  update.writes = {{"id-p1", "p1", "Instructor", false, 0, MembershipOp::update, "Learner"}};
  s.commit_page(run2, "j", "t", "h", update);
  auto pending = s.find_membership("t", "h", "p1");
  EXPECT_EQ(pending->state, MembershipState::pending);
  EXPECT_EQ(pending->op, MembershipOp::update);
  EXPECT_EQ(text("SELECT role_type || ' was ' || previous_role || ' ' || (role_changed_at IS NOT NULL) FROM membership"),
            "Instructor was Learner 1");
  s.record_results("t", {{"id-p1", ItemResult::Fate::confirmed, ""}});
  EXPECT_EQ(s.find_membership("t", "h", "p1")->state, MembershipState::created);

  PlannedWrite removal{"id-p1", "p1", "Instructor", false, 0, MembershipOp::remove, "", "departed"};
  s.queue_removals("t", run2, {removal});
  EXPECT_TRUE(s.ids_awaiting_fsync());  // the intent reaches the disk before the delete is sent
  EXPECT_EQ(s.find_membership("t", "h", "p1")->op, MembershipOp::remove);
  s.mark_attempt("t", {"id-p1"});
  EXPECT_TRUE(s.deletes_in_doubt("t", "h"));
  s.record_results("t", {{"id-p1", ItemResult::Fate::confirmed, ""}});
  EXPECT_EQ(s.find_membership("t", "h", "p1")->state, MembershipState::deleted);
  EXPECT_FALSE(s.deletes_in_doubt("t", "h"));
}

TEST_F(StoreTest, ApproveAppliesExactlyTheListedSetAndRecordsWhoDecided) {
  store::Store s(path_);
  auto run = s.begin_run("j");
  s.commit_page(run, "j", "t", "h", plan({{"u1", "p1"}, {"u2", "p2"}, {"u3", "p3"}}));
  s.record_results("t", {{"id-p1", ItemResult::Fate::confirmed, ""}, {"id-p2", ItemResult::Fate::confirmed, ""},
                         {"id-p3", ItemResult::Fate::confirmed, ""}});
  EXPECT_TRUE(s.write_holds("j").empty());
  PlannedWrite r1{"id-p1", "p1", "Learner", false, 0, MembershipOp::remove, "", "departed"};
  s.record_group_decision("t", {}, {}, {r1});
  store::WriteHold hold;
  hold.kind = "delete";
  hold.target = "t";
  hold.hierarchy_id = "h";
  hold.planned = 1;
  hold.reason = "1 deletion(s) planned, ...";
  hold.run_id = run;
  s.set_write_hold(hold, {"j", "k"});  // both jobs of the group see it
  auto shown = s.write_holds("j");
  ASSERT_EQ(shown.size(), 1u);
  ASSERT_EQ(s.write_holds("k").size(), 1u);
  EXPECT_EQ(s.write_holds("k")[0].id, shown[0].id);
  ASSERT_EQ(s.held_writes("t", "h", "delete").size(), 1u);
  EXPECT_EQ(s.held_writes("t", "h", "delete")[0].person_key, "p1");

  // A later run holds one more: the id shown before no longer names the set.
  PlannedWrite r2{"id-p2", "p2", "Learner", false, 0, MembershipOp::remove, "", "departed"};
  s.record_group_decision("t", {}, {}, {r2});
  auto stale = s.decide_hold("j", shown[0].id, true, "alice", "");
  ASSERT_TRUE(std::holds_alternative<std::string>(stale));
  EXPECT_NE(std::get<std::string>(stale).find("no hold " + shown[0].id), std::string::npos);
  EXPECT_FALSE(s.group_rows("t", "h")[0].removal_approved);

  auto now = s.write_holds("j");
  ASSERT_EQ(now.size(), 1u);
  auto decided = s.decide_hold("k", now[0].id, true, "alice (sudo by bob)", "end of term");
  ASSERT_TRUE(std::holds_alternative<store::Store::HoldDecision>(decided));
  EXPECT_EQ(std::get<store::Store::HoldDecision>(decided).writes, 2);
  EXPECT_TRUE(s.write_holds("j").empty()) << "settled for every job of the group";
  auto rows = s.group_rows("t", "h");
  EXPECT_TRUE(rows[0].removal_approved);
  EXPECT_TRUE(rows[1].removal_approved);
  EXPECT_FALSE(rows[2].removal_approved);
  EXPECT_EQ(text("SELECT who || '|' || action || '|' || job || '|' || writes || '|' || reason FROM decision"),
            "alice (sudo by bob)|approve|k|2|end of term");
  EXPECT_TRUE(std::holds_alternative<std::string>(s.decide_hold("j", now[0].id, true, "alice", "")))  // one shot
      << "nothing is held now";

  // Reject: kept, not planned again until seen again.
  PlannedWrite r3{"id-p3", "p3", "Learner", false, 0, MembershipOp::remove, "", "departed"};
  s.record_group_decision("t", {}, {}, {r3});
  s.set_write_hold(hold, {"j"});
  auto rejected = s.decide_hold("j", s.write_holds("j")[0].id, false, "alice", "");
  ASSERT_TRUE(std::holds_alternative<store::Store::HoldDecision>(rejected));
  rows = s.group_rows("t", "h");
  EXPECT_TRUE(rows[2].removal_rejected);
  EXPECT_EQ(rows[2].held, "");
  s.record_group_decision("t", {"id-p3"}, {}, {});  // seen again: the rejection is forgotten
  EXPECT_FALSE(s.group_rows("t", "h")[2].removal_rejected);
}

TEST_F(StoreTest, ListingsCarryEachJobsWordAndOtherJobsRolesReachThePlanner) {
  store::Store s(path_);
  auto run = s.begin_run("a");
  PagePlan pa = plan({{"u1", "p1"}});
  pa.snapshot[0].role_type = "Learner";
  s.commit_page(run, "a", "t", "h", pa, 1, 7);
  PagePlan pb = plan({{"v1", "p1"}});
  pb.writes.clear();  // the membership exists already
  pb.snapshot[0].role_type = "Instructor";
  s.commit_page(s.begin_run("b"), "b", "t", "h", pb);
  EXPECT_EQ(text("SELECT count(*) FROM page_digest WHERE job='a'"), "0") << "b's listing changed the group: a replans";
  EXPECT_EQ(s.find_membership("t", "h", "p1", "a")->other_roles, "Instructor");
  EXPECT_EQ(s.find_membership("t", "h", "p1", "b")->other_roles, "Learner");
  EXPECT_EQ(s.group_jobs("t", "h"), (std::vector<std::string>{"a", "b"}));
  s.record_walk("t", "h", "b", {"p1", "p9"}, {});
  auto ls = s.listings("t", "h");
  ASSERT_EQ(ls.size(), 3u);
  EXPECT_EQ(s.find_membership("t", "h", "p1", "a")->other_roles, "") << "b no longer lists p1";
  s.record_walk("t", "h", "b", {"p9"}, {"p1"});
  EXPECT_EQ(s.find_membership("t", "h", "p1", "a")->other_roles, "Instructor");
  EXPECT_EQ(text("SELECT absent_walks FROM listing WHERE job='b' AND person_key='p9'"), "2");
}

TEST_F(StoreTest, AGroupReadAdoptsRestoresAndForgetsTheSettledPages) {
  store::Store s(path_);
  auto run = s.begin_run("j");
  s.commit_page(run, "j", "t", "h", plan({{"u1", "p1"}, {"u2", "p2"}}), 1, 42);
  s.record_results("t", {{"id-p1", ItemResult::Fate::confirmed, ""}});
  EXPECT_FALSE(s.group_read_age("t", "h"));
  ReconcilePlan p;
  p.adopt.push_back({{"itsla-9", "h", "p2", "Learner"}, std::string("id-p2")});  // theirs replaces our unconfirmed id
  p.adopt.push_back({{"itsla-7", "h", "p7", "Instructor"}, std::nullopt});
  p.restore.push_back("id-p1");
  s.apply_group_read("t", "h", "j", run, 3, p);
  ASSERT_TRUE(s.group_read_age("t", "h"));
  EXPECT_LT(s.group_read_age("t", "h")->count(), 60'000);
  EXPECT_EQ(s.find_membership("t", "h", "p2")->membership_id, "itsla-9");
  EXPECT_EQ(s.find_membership("t", "h", "p2")->state, MembershipState::created);
  EXPECT_EQ(s.find_membership("t", "h", "p1")->state, MembershipState::pending);  // to be created again
  EXPECT_EQ(text("SELECT origin || role_type FROM membership WHERE membership_id='itsla-7'"), "adoptedInstructor");
  EXPECT_EQ(text("SELECT count(*) FROM page_digest"), "0");
  EXPECT_EQ(s.forget_group_reads("j", "t"), 1);
  EXPECT_FALSE(s.group_read_age("t", "h"));
}

TEST_F(StoreTest, TheDatabaseAndItsWalAndShmAre0600WhateverTheUmask) {
  const mode_t old = ::umask(022);
  {
    store::Store s(path_);
    s.begin_run("j");  // a write: the -wal and -shm exist now
    for (const std::string suffix : {"", "-wal", "-shm"}) {
      struct stat st{};
      ASSERT_EQ(::stat((path_ + suffix).c_str(), &st), 0) << suffix;
      EXPECT_EQ(st.st_mode & 0777, 0600u) << path_ + suffix;
    }
  }
  EXPECT_EQ(::umask(old), 022u) << "the process's umask is given back";
}

TEST_F(StoreTest, AnEmptyFileWhereTheDatabaseShouldBeIsRefusedAsALostDatabase) {
  { std::ofstream touch(path_); }
  try {
    store::Store s(path_);
    FAIL() << "an empty state_db was opened as a new database";
  } catch (const store::StoreError& e) {
    EXPECT_TRUE(e.unusable());
    EXPECT_NE(std::string(e.what()).find("is an empty file (0 bytes)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("state_db"), std::string::npos) << e.what();
  }
}

TEST_F(StoreTest, ACorruptFileMakesTheStoreUnusableNotJustOneCallFail) {
  {
    store::Store s(path_);
    auto run = s.begin_run("j");
    for (int i = 0; i < 40; ++i) s.commit_page(run, "j", "t", "h", plan({{"u" + std::to_string(i), "p" + std::to_string(i)}}));
  }
  text("PRAGMA wal_checkpoint(TRUNCATE)");  // the pages in the main file only (the -wal outlives its writer)
  store::Store s(path_);
  EXPECT_EQ(s.unusable(), "");
  // Garbage over every page but the first, as a failing disk or a stray write leaves it.
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const std::streamoff size = f.tellg();
    std::string garbage(static_cast<std::size_t>(size - 4096), '\x5a');
    f.seekp(4096);
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  bool threw_unusable = false;
  try {
    s.group_rows("t", "h");
    s.find_memberships("t", "h", {"p1", "p2"});
    s.begin_run("j");
  } catch (const store::StoreError& e) {
    threw_unusable = e.unusable();
  }
  EXPECT_TRUE(threw_unusable);
  EXPECT_NE(s.unusable(), "");
}
