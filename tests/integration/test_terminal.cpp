// `rostersync sync` as a person at a terminal sees it: the pass's progress
// on the bottom line (under script(1), a real pseudo-terminal), one summary
// line per job left on screen; and no progress at all in a pipe.
#include <gtest/gtest.h>

#include "harness.hpp"

using namespace rostersync::testing;
using namespace std::chrono_literals;

TEST(Terminal, AnInteractiveSyncShowsProgressAndLeavesOneSummaryPerJob) {
  Simulator sim({"--contexts", "3", "--members", "40"});
  Workspace ws;
  ws.configure(sim, course_jobs(3, "    page_limit: 10\n"));
  // script(1) gives the sync a pseudo-terminal and copies what it draws to stdout.
  const std::string command = std::string(ROSTERSYNC_BIN) + " --config " + ws.config_path() + " sync";
  rostersync::daemon::ChildProcess tty({"/usr/bin/script", "-qefc", command, "/dev/null"}, true, true);
  std::string screen;
  while (auto line = tty.read_line(60s)) screen += *line + "\n";
  EXPECT_EQ(tty.wait(30s), 0) << screen;
  EXPECT_TRUE(has(screen, "\r\033[Kpass: ")) << screen;
  EXPECT_TRUE(has(screen, " / 3 courses, ")) << screen;
  for (const char* job : {"job course-1 run ", "job course-2 run ", "job course-3 run "}) {
    EXPECT_TRUE(has(screen, job)) << job << " has no summary line:\n" << screen;
  }

  // The same sync in a pipe: the summaries, and not one progress redraw.
  auto [rc, piped] = ws.rostersync_output({"sync"}, true);
  EXPECT_EQ(rc, 0) << piped;
  EXPECT_TRUE(has(piped, "job course-1 run ")) << piped;
  EXPECT_FALSE(has(piped, "\033[K")) << piped;
  EXPECT_FALSE(has(piped, "\r")) << piped;
}
