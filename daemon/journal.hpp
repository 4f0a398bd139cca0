// Logging to the systemd journal with structured fields.
//
// Under systemd, stderr is a stream to journald (JOURNAL_STREAM names it),
// and plain lines lose their priority and every field but the message. This
// sink speaks journald's native protocol instead: one datagram per record
// with MESSAGE=, PRIORITY= (syslog levels), SYSLOG_IDENTIFIER=rostersync (so
// `journalctl -t rostersync` matches) and, during a run, JOB= and RUN_ID=.
//
// Why not sd_journal_send(): libsystemd hard-codes the socket path, so no test
// could receive what it sends; the protocol is documented and small
// (systemd.io/JOURNAL_NATIVE_PROTOCOL). ROSTERSYNC_JOURNAL_SOCKET overrides
// the path for tests. If a datagram cannot be sent, the line goes to stderr.
#pragma once

#include <spdlog/common.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spdlog::sinks {
class sink;
}

namespace rostersync::daemon {

inline constexpr const char* kJournalSocket = "/run/systemd/journal/socket";

// True when fd 2 is the journal stream systemd set up (JOURNAL_STREAM=dev:ino
// matches it): not when a child merely inherited the variable.
bool stderr_is_journal();

// syslog priority (0 emerg .. 7 debug) for an spdlog level.
int journal_priority(spdlog::level::level_enum level);

// One record in the native protocol: KEY=value lines, or the binary form
// (KEY\n, 64-bit little-endian length, value, \n) for values with a newline.
std::string encode_journal_entry(const std::vector<std::pair<std::string, std::string>>& fields);

std::shared_ptr<spdlog::sinks::sink> make_journal_sink(std::string socket_path);

}  // namespace rostersync::daemon
