#include "daemon/progress.hpp"

#include <cstdio>

#include "daemon/health.hpp"

namespace rostersync::daemon {

std::string progress_line(const PassProgress& pass, const std::optional<sync::Progress>& current,
                          std::int64_t now_unix) {
  std::string line = describe(pass);
  const std::int64_t elapsed = now_unix - pass.started_unix;
  if (pass.courses_done > 0 && elapsed > 0) {
    const double per_minute = pass.courses_done * 60.0 / static_cast<double>(elapsed);
    char rate[32];
    std::snprintf(rate, sizeof rate, "%.1f", per_minute);
    line += std::string(" | ") + rate + " courses/min";
    const int left = pass.courses_total - pass.courses_done;
    if (left > 0) {
      const auto seconds = static_cast<std::int64_t>(left * static_cast<double>(elapsed) / pass.courses_done);
      line += ", about " + format_age(seconds) + " left";
    }
  }
  if (current) {
    line += " | " + current->job + ": page " + std::to_string(current->pages) + ", " + std::to_string(current->members) +
            " members, " + std::to_string(current->created) + " created";
  }
  return line;
}

}  // namespace rostersync::daemon
