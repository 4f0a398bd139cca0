// The interactive sync's status line: the pass, its rate and time left, and
// the course being read.
#include <gtest/gtest.h>

#include "daemon/progress.hpp"

using namespace rostersync;
using rostersync::daemon::progress_line;

namespace {

PassProgress pass(int done, int total, long long members, long long created, std::int64_t started) {
  PassProgress p;
  p.active = true;
  p.courses_done = done;
  p.courses_total = total;
  p.members = members;
  p.created = created;
  p.started_unix = started;
  return p;
}

}  // namespace

TEST(ProgressLine, ShowsThePassItsRateAndTheTimeLeft) {
  // 10 of 40 courses in 5 minutes: 2 a minute, 30 left: about 15 minutes.
  EXPECT_EQ(progress_line(pass(10, 40, 3456, 1200, 1000), std::nullopt, 1300),
            "pass: 10 / 40 courses, 3,456 members, 1,200 created | 2.0 courses/min, about 15 min left");
}

TEST(ProgressLine, BeforeTheFirstCourseEndsThereIsNoRateButTheCourseBeingRead) {
  sync::Progress current;
  current.job = "course-4";
  current.pages = 3;
  current.members = 250;
  current.created = 120;
  EXPECT_EQ(progress_line(pass(0, 40, 0, 0, 1000), current, 1010),
            "pass: 0 / 40 courses, 0 members, 0 created | course-4: page 3, 250 members, 120 created");
}

TEST(ProgressLine, TheLastCourseLeavesNothingToWaitFor) {
  EXPECT_EQ(progress_line(pass(2, 2, 60, 56, 1000), std::nullopt, 1060),
            "pass: 2 / 2 courses, 60 members, 56 created | 2.0 courses/min");
}
