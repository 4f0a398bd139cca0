// The registry guard: what a running daemon applies of a registry it has
// just read. Replayed sequences of reads against the courses running.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/registry_guard.hpp"

using namespace rostersync::config;

namespace {

Job course(const std::string& name, const std::string& file, int line = 1, const std::string& hierarchy = "") {
  Job j;
  j.name = name;
  j.origin = "/reg/" + file + ":" + std::to_string(line);
  j.hierarchy_id = hierarchy.empty() ? "H-" + name : hierarchy;
  return j;
}

// A registry as read_registry() leaves it: its courses, refused files, unreadable.
Config read(std::vector<Job> courses, std::vector<std::string> refused = {}, std::string unreadable = "") {
  Config c;
  c.registry.path = "/reg";
  Job own;  // a job of the configuration file: never the guard's business
  own.name = "from-config";
  c.jobs.push_back(own);
  for (Job& j : courses) c.jobs.push_back(std::move(j));
  for (auto& f : refused) c.refused_files.push_back("/reg/" + f);
  c.registry_unreadable = std::move(unreadable);
  return c;
}

std::vector<std::string> names(const std::vector<Job>& jobs) {
  std::vector<std::string> out;
  for (const Job& j : jobs) out.push_back(j.name);
  return out;
}

std::vector<Job> many(int n) {
  std::vector<Job> out;
  for (int i = 0; i < n; ++i) out.push_back(course("c" + std::to_string(100 + i), "c" + std::to_string(100 + i) + ".yaml"));
  return out;
}

}  // namespace

TEST(RegistryGuard, AtStartWhatIsReadRunsAndNothingWaits) {
  RegistryMerge m = merge_registry({}, read({course("a", "a.yaml"), course("b", "b.yaml")}), "");
  EXPECT_EQ(names(m.courses), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(m.awaiting.empty());
  // An unreadable registry at start: nothing to keep, nothing to confirm (the refusal itself is shown).
  m = merge_registry({}, read({}, {}, "/reg: cannot read the course registry: No such file or directory"), "");
  EXPECT_TRUE(m.courses.empty());
  EXPECT_TRUE(m.awaiting.empty());
}

TEST(RegistryGuard, ARefusedFileKeepsItsCoursesLastGoodDefinitions) {
  std::vector<Job> running = {course("a", "a.yaml", 1, "OLD-A"), course("b", "b.yaml"), course("l1", "list.yaml", 1),
                              course("l2", "list.yaml", 2)};
  // a.yaml got a typo (refused: its course is not in the read); list.yaml too, with one good entry changed.
  Config fresh = read({course("b", "b.yaml"), course("l1", "list.yaml", 1, "NEW-L1"), course("n", "new.yaml")},
                      {"a.yaml", "list.yaml"});
  RegistryMerge m = merge_registry(running, fresh, "");
  EXPECT_TRUE(m.awaiting.empty());
  EXPECT_EQ(names(m.courses), (std::vector<std::string>{"a", "b", "l1", "l2", "n"}));
  EXPECT_EQ(m.courses[0].hierarchy_id, "OLD-A");      // the last good definition
  EXPECT_EQ(m.courses[2].hierarchy_id, "H-l1");       // a refused file's change is not applied, good entries neither
  EXPECT_EQ(m.kept.size(), 3u);
  EXPECT_EQ(m.removed, 0);
  // Fixed: the file's change applies.
  m = merge_registry(m.courses, read({course("a", "a.yaml", 1, "FIXED"), course("b", "b.yaml"),
                                      course("l1", "list.yaml", 1, "NEW-L1"), course("n", "new.yaml")}), "");
  EXPECT_EQ(names(m.courses), (std::vector<std::string>{"a", "b", "l1", "n"}));
  EXPECT_EQ(m.courses[0].hierarchy_id, "FIXED");
  EXPECT_EQ(m.removed, 1);  // l2 left list.yaml: one course, under the limits
  EXPECT_TRUE(m.awaiting.empty());
}

TEST(RegistryGuard, AVanishedRegistryKeepsEverythingRunningUntilThatChangeIsConfirmed) {
  std::vector<Job> running = many(30);
  const Config gone = read({}, {}, "/reg: cannot read the course registry: No such file or directory");
  RegistryMerge m = merge_registry(running, gone, "");
  EXPECT_EQ(m.courses.size(), 30u);
  EXPECT_NE(m.awaiting.find("cannot read the course registry"), std::string::npos) << m.awaiting;
  EXPECT_NE(m.awaiting.find("confirm-registry --id " + m.change_id), std::string::npos) << m.awaiting;
  ASSERT_FALSE(m.change_id.empty());
  // Every later look sees the same change, with the same id, until it is confirmed.
  EXPECT_EQ(merge_registry(running, gone, "").change_id, m.change_id);
  EXPECT_EQ(merge_registry(running, gone, "bogus").courses.size(), 30u);
  RegistryMerge confirmed = merge_registry(running, gone, m.change_id);
  EXPECT_TRUE(confirmed.courses.empty());
  EXPECT_TRUE(confirmed.awaiting.empty());
  EXPECT_EQ(confirmed.removed, 30);
}

TEST(RegistryGuard, AnEmptiedRegistryAlwaysWaitsWhateverTheLimits) {
  std::vector<Job> running = {course("a", "a.yaml"), course("b", "b.yaml")};
  Config empty = read({});
  empty.registry.max_removed_courses = 100;
  empty.registry.max_removed_percent = 100;
  RegistryMerge m = merge_registry(running, empty, "");
  EXPECT_EQ(names(m.courses), (std::vector<std::string>{"a", "b"}));
  EXPECT_NE(m.awaiting.find("would remove 2 of 2 courses"), std::string::npos) << m.awaiting;
}

TEST(RegistryGuard, AShrinkBeyondBothLimitsWaitsAndAConfirmationAppliesExactlyThatChange) {
  std::vector<Job> running = many(100);
  // 5 removed (the count limit): applied.
  std::vector<Job> less(running.begin() + 5, running.end());
  RegistryMerge m = merge_registry(running, read(less), "");
  EXPECT_TRUE(m.awaiting.empty());
  EXPECT_EQ(m.courses.size(), 95u);
  // 20 of 100 removed: over 5 but not over 20 %: applied.
  less.assign(running.begin() + 20, running.end());
  EXPECT_TRUE(merge_registry(running, read(less), "").awaiting.empty());
  // 21 of 100: over both: waits, every course keeps running, new ones too wait.
  less.assign(running.begin() + 21, running.end());
  less.push_back(course("new", "new.yaml"));
  m = merge_registry(running, read(less), "");
  EXPECT_EQ(m.courses.size(), 100u);
  EXPECT_NE(m.awaiting.find("would remove 21 of 100 courses at once (c100, c101"), std::string::npos) << m.awaiting;
  // A confirmation of another change (one course more removed since it was shown) applies nothing.
  std::vector<Job> more(running.begin() + 22, running.end());
  const std::string other = merge_registry(running, read(more), "").change_id;
  EXPECT_NE(other, m.change_id);
  EXPECT_EQ(merge_registry(running, read(less), other).courses.size(), 100u);
  RegistryMerge applied = merge_registry(running, read(less), m.change_id);
  EXPECT_EQ(applied.courses.size(), 80u);
  EXPECT_TRUE(applied.awaiting.empty());
}

TEST(RegistryGuard, ZeroLimitsMakeEveryRemovalWait) {
  std::vector<Job> running = {course("a", "a.yaml"), course("b", "b.yaml"), course("c", "c.yaml")};
  Config fresh = read({course("a", "a.yaml"), course("b", "b.yaml")});
  fresh.registry.max_removed_courses = 0;
  fresh.registry.max_removed_percent = 0;
  EXPECT_FALSE(merge_registry(running, fresh, "").awaiting.empty());
  fresh.registry.max_removed_courses = 1;  // either limit allows it
  EXPECT_TRUE(merge_registry(running, fresh, "").awaiting.empty());
}

TEST(RegistryGuard, ACourseMovedToAnotherFileIsNoRemoval) {
  std::vector<Job> running = {course("a", "old.yaml")};
  RegistryMerge m = merge_registry(running, read({course("a", "new.yaml")}), "");
  EXPECT_EQ(m.removed, 0);
  ASSERT_EQ(m.courses.size(), 1u);
  EXPECT_EQ(origin_file(m.courses[0]), "/reg/new.yaml");
}

// A start: the last daemon ran a..l (12 courses); the definitions are gone.
TEST(RegistryGuard, AStartMissingWhatTheLastDaemonRanWaitsWhenTheRunningGuardWould) {
  std::vector<std::string> last;
  std::vector<Job> all;
  for (char c = 'a'; c <= 'l'; ++c) {
    last.push_back(std::string(1, c));
    all.push_back(course(std::string(1, c), std::string(1, c) + ".yaml"));
  }
  // Everything is back: nothing absent, nothing waits.
  AbsentSinceStart same = absent_since_start(last, read(all), "");
  EXPECT_TRUE(same.absent.empty());
  EXPECT_TRUE(same.awaiting.empty());
  // A mount that failed at boot: every course absent, and it waits, naming them.
  AbsentSinceStart unmounted = absent_since_start(last, read({}, {}, "/reg: cannot read the course registry: No such file"), "");
  EXPECT_EQ(unmounted.absent.size(), 12u);
  EXPECT_NE(unmounted.awaiting.find("/reg: cannot read the course registry: No such file: 12 of the 12 courses the "
                                    "daemon ran before this start (a, b, c, d, e and 7 more)"), std::string::npos)
      << unmounted.awaiting;
  EXPECT_NE(unmounted.awaiting.find("confirm-registry --id " + unmounted.change_id), std::string::npos);
  // An emptied registry waits too.
  EXPECT_FALSE(absent_since_start(last, read({}), "").awaiting.empty());
  // One refused file (within the limits): absent, said by the refused file itself, nothing waits.
  std::vector<Job> but_one(all.begin() + 1, all.end());
  AbsentSinceStart one = absent_since_start(last, read(but_one, {"a.yaml"}), "");
  EXPECT_EQ(one.absent, std::vector<std::string>{"a"});
  EXPECT_TRUE(one.awaiting.empty());
  // Six of twelve (more than 5 and 20 %): waits; confirmed with its own id: done; another id: still waits.
  std::vector<Job> half(all.begin() + 6, all.end());
  AbsentSinceStart six = absent_since_start(last, read(half), "");
  EXPECT_EQ(six.absent, (std::vector<std::string>{"a", "b", "c", "d", "e", "f"}));
  ASSERT_FALSE(six.awaiting.empty());
  EXPECT_NE(six.awaiting.find("the registry lacks 6 of the 12 courses"), std::string::npos) << six.awaiting;
  EXPECT_TRUE(absent_since_start(last, read(half), six.change_id).awaiting.empty());
  EXPECT_FALSE(absent_since_start(last, read(half), unmounted.change_id).awaiting.empty());
  // Nothing ran before (a first start): nothing is absent.
  EXPECT_TRUE(absent_since_start({}, read({}), "").awaiting.empty());
}
