// Closed lists of names the configuration, the CLI and the wire share: the
// IMS-ES roleType enumeration and the log levels. One list each, so a check
// and the message that explains it cannot disagree.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace rostersync {

// The roleType enumeration of itslearning's IMS-ES schema
// (imsMemberManDataSchema_v1p0): literal names, their codes, and two extras.
inline constexpr std::array<std::string_view, 18> kRoleTypes = {
    "Learner", "Instructor", "ContentDeveloper", "Member", "Manager", "Mentor", "Administrator", "TeachingAssistant",
    "01", "02", "03", "04", "05", "06", "07", "08", "Default", "Guest"};

// spdlog's level names, as `log_level` and `--log-level` take them.
inline constexpr std::array<std::string_view, 7> kLogLevels = {"trace", "debug", "info", "warn",
                                                               "error", "critical", "off"};

template <std::size_t N>
constexpr bool is_one_of(const std::array<std::string_view, N>& names, std::string_view value) {
  for (auto n : names) {
    if (n == value) return true;
  }
  return false;
}

// "a, b, c or d", for messages.
template <std::size_t N>
std::string list_of(const std::array<std::string_view, N>& names) {
  std::string out;
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0) out += i + 1 == N ? " or " : ", ";
    out += names[i];
  }
  return out;
}

}  // namespace rostersync
