// The state database on a real SQLite file: migrations, WAL, and the
// transactions the engine relies on.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <filesystem>

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

  std::string text(store::Store& s, const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(s.handle(), sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
  }

  sync::PagePlan plan(std::vector<std::pair<std::string, std::string>> members) {
    sync::PagePlan p;
    for (auto& [uid, key] : members) {
      p.snapshot.push_back({uid, key, "Learner", "Active", "eligible"});
      p.creates.push_back({"id-" + key, key, "Learner", true});
    }
    return p;
  }

  std::string path_;
};

}  // namespace

TEST_F(StoreTest, CreatesSchemaInWalModeWithVersion) {
  store::Store s(path_);
  EXPECT_EQ(s.schema_version(), store::kSchemaVersion);
  EXPECT_EQ(text(s, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(text(s, "SELECT count(*) FROM sqlite_master WHERE name IN ('run','membership','roster_member')"), "3");
}

TEST_F(StoreTest, ReopeningKeepsDataAndDoesNotRemigrate) {
  {
    store::Store s(path_);
    s.begin_run("j");
  }
  store::Store again(path_);
  EXPECT_EQ(text(again, "SELECT count(*) FROM run"), "1");
}

TEST_F(StoreTest, RefusesANewerSchema) {
  { store::Store s(path_); sqlite3_exec(s.handle(), "PRAGMA user_version=99", nullptr, nullptr, nullptr); }
  EXPECT_THROW(store::Store s(path_), store::StoreError);
}

TEST_F(StoreTest, CommitPageStoresPendingIdsAndCountsNewMembers) {
  store::Store s(path_);
  auto run1 = s.begin_run("j");
  EXPECT_EQ(s.commit_page(run1, "j", "t", "h", plan({{"u1", "p1"}, {"u2", "p2"}})), 2);
  auto found = s.find_membership("t", "h", "p1");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->membership_id, "id-p1");
  EXPECT_EQ(found->state, sync::MembershipState::pending);
  EXPECT_EQ(found->queued_run, run1);
  EXPECT_FALSE(s.find_membership("t", "other-hierarchy", "p1"));

  s.record_results("t", {{"id-p1", sync::MembershipState::created, ""}, {"id-p2", sync::MembershipState::failed, "PersonNotFound"}},
                   config::ItemRetrySettings{});
  EXPECT_EQ(s.find_membership("t", "h", "p1")->state, sync::MembershipState::created);
  EXPECT_EQ(text(s, "SELECT last_error FROM membership WHERE membership_id='id-p2'"), "PersonNotFound");

  auto run2 = s.begin_run("j");
  auto p = plan({{"u2", "p2"}, {"u3", "p3"}});
  p.creates = {{"id-p2", "p2", "Instructor", false}, {"id-p3", "p3", "Learner", true}};
  EXPECT_EQ(s.commit_page(run2, "j", "t", "h", p), 1);  // only u3 is new to the snapshot
  EXPECT_EQ(s.find_membership("t", "h", "p2")->queued_run, run2);
  EXPECT_EQ(text(s, "SELECT role_type FROM membership WHERE membership_id='id-p2'"), "Instructor");

  EXPECT_EQ(s.prune_snapshot("j", run2), 1);  // u1 left the roster
  EXPECT_EQ(text(s, "SELECT group_concat(user_id) FROM (SELECT user_id FROM roster_member ORDER BY 1)"), "u2,u3");
}

TEST_F(StoreTest, RefusedItemsWaitThenParkAndRetryPutsThemBack) {
  store::Store s(path_);
  auto run = s.begin_run("j");
  s.commit_page(run, "j", "t", "h", plan({{"u1", "p1"}, {"u2", "p2"}}));
  config::ItemRetrySettings items;
  items.max_failures = 2;
  items.retry_delay = std::chrono::hours(1);
  auto refuse = [&](const char* id) {
    return s.record_results("t", {{id, sync::MembershipState::failed, "PersonNotFound"}}, items);
  };
  EXPECT_EQ(refuse("id-p1"), 0);  // first refusal: waits an hour
  auto waiting = s.find_membership("t", "h", "p1");
  EXPECT_EQ(waiting->state, sync::MembershipState::pending);
  EXPECT_TRUE(waiting->waiting);
  EXPECT_EQ(text(s, "SELECT refusals FROM membership WHERE membership_id='id-p1'"), "1");
  EXPECT_EQ(text(s, "SELECT next_attempt_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+3500 seconds') "
                    "FROM membership WHERE membership_id='id-p1'"), "1");
  EXPECT_FALSE(s.find_membership("t", "h", "p2")->waiting);

  EXPECT_EQ(refuse("id-p1"), 1);  // second refusal: parked
  EXPECT_EQ(s.find_membership("t", "h", "p1")->state, sync::MembershipState::failed);
  EXPECT_EQ(text(s, "SELECT last_error FROM membership WHERE membership_id='id-p1'"), "PersonNotFound");

  EXPECT_EQ(s.requeue_parked(std::string("other-job"), std::nullopt), 0);
  EXPECT_EQ(s.requeue_parked(std::nullopt, std::string("id-p1")), 1);
  auto back = s.find_membership("t", "h", "p1");
  EXPECT_EQ(back->state, sync::MembershipState::pending);
  EXPECT_FALSE(back->waiting);
  EXPECT_EQ(text(s, "SELECT refusals FROM membership WHERE membership_id='id-p1'"), "0");
  EXPECT_EQ(s.requeue_parked(std::string("j"), std::nullopt), 0);  // nothing left parked or waiting
}

TEST_F(StoreTest, HoldsAreSetExtendedFoundAndCleared) {
  store::Store s(path_);
  EXPECT_FALSE(s.find_hold("target", "its"));
  store::Hold h;
  h.scope = "target";
  h.name = "its";
  h.kind = "blocked";
  h.reason = "SOAP Fault a:InvalidSecurity";
  s.set_hold(h, std::chrono::seconds(3600));
  auto found = s.find_hold("target", "its");
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->active());
  EXPECT_EQ(found->reason, "SOAP Fault a:InvalidSecurity");
  EXPECT_GT(found->remaining, std::chrono::seconds(3500));
  s.set_hold(h, std::chrono::seconds(-5));  // lapsed: still recorded, no longer in force
  EXPECT_FALSE(s.find_hold("target", "its")->active());
  EXPECT_FALSE(s.find_hold("job", "its"));
  s.clear_hold("target", "its");
  EXPECT_FALSE(s.find_hold("target", "its"));
  s.set_hold(h, std::chrono::seconds(60));
  EXPECT_EQ(s.clear_holds(), 1);
}

TEST_F(StoreTest, SamePairCannotGetASecondId) {
  store::Store s(path_);
  auto run = s.begin_run("j");
  s.commit_page(run, "j", "t", "h", plan({{"u1", "p1"}}));
  auto dup = plan({{"u1", "p1"}});
  dup.creates[0].membership_id = "another-id";
  EXPECT_THROW(s.commit_page(run, "j", "t", "h", dup), store::StoreError);
  // The failed transaction left nothing half-written.
  EXPECT_EQ(text(s, "SELECT count(*) FROM membership"), "1");
}

TEST_F(StoreTest, FinishRunRecordsCountsAndAbandonedRunsAreClosed) {
  store::Store s(path_);
  auto done = s.begin_run("j");
  store::RunStats st;
  st.pages = 3;
  st.created = 7;
  st.skipped[static_cast<std::size_t>(sync::SkipReason::test_user)] = 2;
  s.finish_run(done, st, store::RunOutcome::ok, "");
  EXPECT_EQ(text(s, "SELECT outcome||','||pages||','||created||','||skipped_test_user FROM run WHERE run_id=" + std::to_string(done)),
            "ok,3,7,2");
  s.begin_run("j");
  EXPECT_EQ(s.close_abandoned_runs(), 1);
  EXPECT_EQ(text(s, "SELECT count(*) FROM run WHERE outcome='interrupted'"), "1");
}
