// The pass as a whole, from synthetic job starts and ends.
#include <gtest/gtest.h>

#include "daemon/pass.hpp"

using namespace rostersync;
using namespace rostersync::daemon;

namespace {
RunStats stats(int members, int created, int failed = 0) {
  RunStats s;
  s.members_seen = members;
  s.created = created;
  s.failed = failed;
  return s;
}
}  // namespace

TEST(PassTracker, CountsThePassFromItsFirstStartUntilNothingRunsOrWaits) {
  PassTracker p;
  EXPECT_FALSE(p.progress().active);
  p.job_started(1, 2, 1000);  // three due: one started, two wait for a slot
  EXPECT_TRUE(p.progress().active);
  EXPECT_EQ(p.progress().courses_total, 3);
  EXPECT_EQ(p.progress().started_unix, 1000);
  p.job_started(2, 0, 1001);  // within a pass, waiting need not be counted again
  p.job_finished(stats(30, 30), true, 1, 0, 1002);
  EXPECT_EQ(p.progress().courses_done, 1);
  EXPECT_EQ(p.progress().courses_total, 3);
  EXPECT_EQ(describe(p.progress()), "pass: 1 / 3 courses, 30 members, 30 created");
  p.job_started(2, 0, 1003);
  p.job_finished(stats(1000, 2, 3), false, 1, 0, 1004);
  p.job_finished(stats(1234, 0), true, 0, 0, 1005);
  EXPECT_FALSE(p.progress().active);
  EXPECT_EQ(p.progress().ended_unix, 1005);
  EXPECT_EQ(describe(p.progress()), "pass: 3 / 3 courses, 2,264 members, 32 created, 3 refused, 1 run(s) not ok");
}

TEST(PassTracker, JobsThatBecomeDueDuringThePassJoinIt) {
  PassTracker p;
  p.job_started(1, 0, 10);
  p.waiting_changed(1, 4);  // a resync of every job
  EXPECT_EQ(p.progress().courses_total, 5);
  p.job_finished(stats(1, 1), true, 0, 4, 11);
  EXPECT_TRUE(p.progress().active) << "four still wait";
  p.job_started(4, 0, 12);
  for (int left = 3; left >= 0; --left) p.job_finished(stats(1, 0), true, left, 0, 13);
  EXPECT_FALSE(p.progress().active);
  EXPECT_EQ(p.progress().courses_done, 5);
  EXPECT_EQ(p.progress().courses_total, 5);
  p.job_started(1, 0, 20);  // the next pass starts afresh
  EXPECT_EQ(p.progress().courses_done, 0);
  EXPECT_EQ(p.progress().courses_total, 1);
  EXPECT_EQ(p.progress().members, 0);
}

TEST(PassTracker, AnEndWithoutAPassChangesNothing) {
  PassTracker p;
  p.job_finished(stats(5, 5), true, 0, 0, 1);
  EXPECT_FALSE(p.progress().active);
  EXPECT_EQ(p.progress().courses_done, 0);
}

TEST(Vocabulary, ThousandsSeparators) {
  EXPECT_EQ(with_thousands(0), "0");
  EXPECT_EQ(with_thousands(999), "999");
  EXPECT_EQ(with_thousands(1000), "1,000");
  EXPECT_EQ(with_thousands(45678), "45,678");
  EXPECT_EQ(with_thousands(1234567), "1,234,567");
  EXPECT_EQ(with_thousands(-1234), "-1,234");
}
