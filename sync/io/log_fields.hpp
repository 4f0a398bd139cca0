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

namespace rostersync::sync {

struct LogFields {
  std::string job;          // "" outside a run
  std::int64_t run_id = 0;  // 0 before the run is recorded
};

// The logger name for a run's records, and the fields read back from one
// (empty for any other name).
std::string run_logger_name(const std::string& job, std::int64_t run_id);
LogFields log_fields_of(std::string_view logger_name);

}  // namespace rostersync::sync
