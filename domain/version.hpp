// The version of rostersync this binary is: shown by --version, sent as the
// User-Agent, logged first at start-up and recorded in the state database.
// ROSTERSYNC_VERSION comes from the top-level CMakeLists.txt (project VERSION).
#pragma once

namespace rostersync {

inline constexpr const char* kVersion = ROSTERSYNC_VERSION;
inline constexpr const char* kUserAgent = "rostersync/" ROSTERSYNC_VERSION;

}  // namespace rostersync
