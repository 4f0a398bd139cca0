// The control socket between `rostersync resync` and a running `rostersync run`.
//
// One request line, one reply line, then the connection closes:
//   request  "resync\n" (every job) or "resync <job>\n"
//   reply    "ok <what was queued>\n" or "error <why>\n"
// A resync is queued, not run in the request: the daemon runs one job at a
// time, and a job that is running is synced again right after it ends.
// The parsing and formatting here are pure; the socket I/O is in control.cpp
// (client) and commands.cpp (the daemon's listener).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "domain/result.hpp"

namespace rostersync::daemon {

struct ControlRequest {
  std::optional<std::string> job;  // empty: every job
};

// Longest request line accepted; anything longer is refused unread.
inline constexpr std::size_t kMaxControlLine = 512;

std::string format_control_request(const ControlRequest& request);
Result<ControlRequest> parse_control_request(std::string_view line);

struct ControlReply {
  bool ok = false;
  std::string text;
};
std::string format_control_reply(const ControlReply& reply);
ControlReply parse_control_reply(std::string_view line);

// Client side: connects to `socket_path`, sends the request, waits up to
// `timeout` for the reply. A failure says whether the daemon is not running
// (nothing listening) or did not answer.
Result<ControlReply> send_control_request(const std::string& socket_path, const ControlRequest& request,
                                          std::chrono::milliseconds timeout);

}  // namespace rostersync::daemon
