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

  // A narrow terminal: every redraw of the progress line fits it (one column
  // spare, "..." included), so nothing wraps in tmux or a small window.
  const std::string narrow = "stty cols 40; " + command;
  rostersync::daemon::ChildProcess small({"/usr/bin/script", "-qefc", narrow, "/dev/null"}, true, true);
  std::string drawn;
  while (auto line = small.read_line(60s)) drawn += *line + "\n";
  EXPECT_EQ(small.wait(30s), 0) << drawn;
  int redraws = 0;
  for (std::size_t at = drawn.find("\r\033[K"); at != std::string::npos; at = drawn.find("\r\033[K", at + 1)) {
    const std::size_t start = at + 4;
    const std::size_t end = drawn.find_first_of("\r\n", start);
    const std::string status = drawn.substr(start, end == std::string::npos ? std::string::npos : end - start);
    // A log record (erase, print, newline) is no status line; a redraw ends where the next begins.
    // (The terminal turns a newline into \r\n.)
    const bool record = end != std::string::npos &&
                        (drawn[end] == '\n' || (drawn[end] == '\r' && end + 1 < drawn.size() && drawn[end + 1] == '\n'));
    if (status.empty() || record) continue;
    ++redraws;
    EXPECT_LE(status.size(), 39u) << "a progress line wider than the terminal: '" << status << "'";
  }
  EXPECT_GT(redraws, 0) << drawn;

  // The same sync in a pipe: the summaries, and not one progress redraw.
  auto [rc, piped] = ws.rostersync_output({"sync"}, true);
  EXPECT_EQ(rc, 0) << piped;
  EXPECT_TRUE(has(piped, "job course-1 run ")) << piped;
  EXPECT_FALSE(has(piped, "\033[K")) << piped;
  EXPECT_FALSE(has(piped, "\r")) << piped;
}
