// Logging to the systemd journal with structured fields.
//
// Under systemd, stderr is a stream to journald (JOURNAL_STREAM names it),
// and plain lines lose their priority and every field but the message. This
// sink writes each record as one journal entry instead, through libsystemd's
// sd_journal_sendv() (already linked for sd_notify): MESSAGE=, PRIORITY=
// (syslog levels), SYSLOG_IDENTIFIER=rostersync (so `journalctl -t
// rostersync` matches) and, during a run, JOB= and RUN_ID=, plus the
// record's own fields (log_fields.hpp). libsystemd passes entries of any size
// (a memfd for big ones). If an entry cannot be written, the line goes to
// stderr. The writer is a seam: tests replace it.
#pragma once

#include <spdlog/common.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace spdlog::sinks {
class sink;
}

namespace rostersync::daemon {

// True when fd 2 is the journal stream systemd set up (JOURNAL_STREAM=dev:ino
// matches it): not when a child merely inherited the variable.
bool stderr_is_journal();

// syslog priority (0 emerg .. 7 debug) for an spdlog level.
int journal_priority(spdlog::level::level_enum level);

// Writes one entry (its fields, in order) to the journal; false when it could not.
using JournalFields = std::vector<std::pair<std::string, std::string>>;
using JournalWriter = std::function<bool(const JournalFields& fields)>;

// sd_journal_sendv(), one "KEY=value" per field.
JournalWriter libsystemd_journal_writer();

std::shared_ptr<spdlog::sinks::sink> make_journal_sink(JournalWriter writer = libsystemd_journal_writer());

}  // namespace rostersync::daemon
