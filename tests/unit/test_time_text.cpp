// Report times in local time with their offset and age; --utc keeps them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>

#include "daemon/time_text.hpp"

using rostersync::daemon::localize_times;

namespace {

// A POSIX TZ string needs no tzdata: one hour east of UTC, no DST.
class LocalTime : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = std::getenv("TZ");
    saved_ = tz ? std::optional<std::string>(tz) : std::nullopt;
    setenv("TZ", "CET-1", 1);
    tzset();
  }
  void TearDown() override {
    if (saved_) setenv("TZ", saved_->c_str(), 1);
    else unsetenv("TZ");
    tzset();
  }
  std::optional<std::string> saved_;
};

constexpr std::int64_t kNoon = 1'764'936'000;  // 2025-12-05T12:00:00Z

}  // namespace

TEST_F(LocalTime, ATimestampBecomesLocalTimeWithItsOffsetAndAge) {
  EXPECT_EQ(localize_times("2025-12-05T11:57:00.123Z", kNoon), "2025-12-05 12:57:00 +0100 (3 min ago)");
  EXPECT_EQ(localize_times("2025-12-05T12:00:40Z", kNoon), "2025-12-05 13:00:40 +0100 (in 40 s)");
  EXPECT_EQ(localize_times("2025-12-03T12:00:00Z", kNoon), "2025-12-03 13:00:00 +0100 (2 d ago)");
}

TEST_F(LocalTime, TimestampsInsideTextAreRewrittenAndTheRestIsKept) {
  EXPECT_EQ(localize_times("blocked until 2025-12-05T13:00:00.000Z: target its: InvalidSecurity", kNoon),
            "blocked until 2025-12-05 14:00:00 +0100 (in 60 min): target its: InvalidSecurity");
  EXPECT_EQ(localize_times("no time here 2025-12-05", kNoon), "no time here 2025-12-05");
  EXPECT_EQ(localize_times("", kNoon), "");
}
