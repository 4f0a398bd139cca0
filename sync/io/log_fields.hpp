// Fields that tag log records of a job run.
//
// The journal sink sends them as JOB= and RUN_ID= so that
// `journalctl -u rostersync JOB=cps435` and `RUN_ID=42` find a run's lines.
// Several runs share one thread (each a coroutine), so no "current run"
// value can say whose a line is: each run logs through its own logger, a
// clone of the default one whose name carries the fields. Records logged
// through any other logger carry no JOB or RUN_ID.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rostersync::sync {

struct LogFields {
  std::string job;          // "" outside a run
  std::int64_t run_id = 0;  // 0 before the run is recorded
};

// The logger name for a run's records, and the fields read back from one
// (empty for any other name).
std::string run_logger_name(const std::string& job, std::int64_t run_id);
LogFields log_fields_of(std::string_view logger_name);

// MESSAGE_ID= of a run's summary line, so that `journalctl MESSAGE_ID=...`
// finds every run's end and `journalctl -x` explains it from the catalog
// shipped as systemd/rostersync.catalog (a test keeps the two equal).
inline constexpr const char* kRunSummaryMessageId = "3c1f2b7e9a6d4e58b0d47a2c91e6f5b3";

using RecordFields = std::vector<std::pair<std::string, std::string>>;

// Extra journal fields for the records logged on this thread while it
// lives: the run summary's MESSAGE_ID=, OUTCOME=, CREATED=, FAILED=.
// (spdlog's loggers here call their sinks synchronously, on the logging
// thread, so the sink sees exactly the records logged in its scope.)
class ScopedRecordFields {
 public:
  explicit ScopedRecordFields(RecordFields fields);
  ~ScopedRecordFields();
  ScopedRecordFields(const ScopedRecordFields&) = delete;
  ScopedRecordFields& operator=(const ScopedRecordFields&) = delete;

 private:
  RecordFields saved_;
};

// The fields of the innermost ScopedRecordFields on this thread (none outside one).
const RecordFields& current_record_fields();

}  // namespace rostersync::sync
