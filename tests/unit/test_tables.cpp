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
