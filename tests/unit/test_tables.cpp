// Operator tables fit the terminal: the widest column gives first, none
// below its minimum.
#include <gtest/gtest.h>

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
