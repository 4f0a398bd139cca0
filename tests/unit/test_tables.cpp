// Operator tables fit the terminal: the widest column gives first, none
// below its minimum.
#include <gtest/gtest.h>

#include "daemon/display_width.hpp"
#include "daemon/operator.hpp"

using rostersync::daemon::fit_columns;

TEST(Tables, FitsByNarrowingTheWidestColumnFirst) {
  // 10 + 20 + 90 + 2 x 2 = 124 > 100: only the 90-wide column gives (by 24).
  EXPECT_EQ(fit_columns({10, 20, 90}, {8, 8, 8}, 100), (std::vector<std::size_t>{10, 20, 66}));
  // Already fitting: unchanged.
  EXPECT_EQ(fit_columns({10, 20, 30}, {8, 8, 8}, 100), (std::vector<std::size_t>{10, 20, 30}));
  // Two long columns end equal.
  EXPECT_EQ(fit_columns({50, 60}, {8, 8}, 82), (std::vector<std::size_t>{40, 40}));
}

TEST(Tables, NeverBelowAColumnsMinimum) {
  EXPECT_EQ(fit_columns({12, 40}, {12, 8}, 10), (std::vector<std::size_t>{12, 8}));
}

// `status` at a district's scale opens with a summary: jobs by last
// outcome, one line per hold (not one per job), held writes, parked items.
TEST(StatusSummary, CountsJobsByOutcomeAndNamesEachHoldOnce) {
  rostersync::store::ReportTable t;
  t.columns = {"job", "last_outcome", "parked", "removals", "hold"};
  using Cell = rostersync::store::ReportTable::Cell;
  auto row = [&](std::string job, Cell outcome, std::int64_t parked, Cell removals, Cell hold) {
    t.rows.push_back({job, outcome, parked, removals, hold});
  };
  for (int i = 0; i < 295; ++i) row("ok-" + std::to_string(i), std::string("ok"), 0, {}, {});
  for (int i = 0; i < 3; ++i) {
    row("held-" + std::to_string(i), std::string("failed"), 0, {},
        std::string("blocked until 2026-12-06T10:00:00Z: target its: SOAP Fault a:InvalidSecurity"));
  }
  row("parked", std::string("partial"), 4, {}, {});
  row("new", {}, 0, std::string("awaiting approval: 3 deletion(s)"), {});
  const std::string s = rostersync::daemon::summarize_status(t);
  EXPECT_EQ(s, "300 job(s): 295 ok, 1 partial, 3 failed, 1 never ran\n"
               "3 held:\n"
               "  blocked until 2026-12-06T10:00:00Z: target its: SOAP Fault a:InvalidSecurity (3 job(s))\n"
               "1 with writes awaiting approval (rostersync status --job NAME)\n"
               "1 with parked items (rostersync failures)");
  rostersync::store::ReportTable calm;
  calm.columns = t.columns;
  calm.rows.push_back({std::string("a"), std::string("ok"), std::int64_t{0}, Cell{}, Cell{}});
  EXPECT_EQ(rostersync::daemon::summarize_status(calm), "1 job(s): 1 ok\nnothing held, awaiting approval or parked");
  EXPECT_EQ(rostersync::daemon::summarize_status({}), "");
}

// Tables and the progress line measure display columns, not bytes.
TEST(DisplayWidth, CountsColumnsNotBytes) {
  using rostersync::daemon::display_width;
  using rostersync::daemon::fit_to_width;
  EXPECT_EQ(display_width("2026-Français-Ærø"), 17u);  // 20 bytes
  EXPECT_EQ(display_width("日本語"), 6u);              // wide: two columns each
  EXPECT_EQ(display_width("e\xcc\x81"), 1u);           // e and a combining acute
  EXPECT_EQ(display_width("a\xffz"), 3u);              // an invalid byte counts one
  EXPECT_EQ(fit_to_width("2026-Français-Ærø", 17), "2026-Français-Ærø");
  EXPECT_EQ(fit_to_width("2026-Français-Ærø", 16), "2026-Français...");
  EXPECT_EQ(fit_to_width("2026-Français-Ærø", 12), "2026-Fran...");
  EXPECT_EQ(display_width(fit_to_width("2026-Français-Ærø", 12)), 12u);
  EXPECT_EQ(fit_to_width("日本語テキスト", 7), "日本...");  // never half a wide character
  EXPECT_EQ(fit_to_width("abcdef", 2), "..");
}
