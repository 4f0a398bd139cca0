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

  s.record_results("t", {{"id-p1", sync::MembershipState::created, ""}, {"id-p2", sync::MembershipState::failed, "PersonNotFound"}});
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
