// Fields that tag log records while a job run is in progress.
//
// The journal sink sends them as JOB= and RUN_ID= so that
// `journalctl -u rostersync JOB=cps435` and `RUN_ID=42` find a run's lines.
// A process runs one job at a time (the daemon's scheduler and `sync` both
// await each run before the next), so one current value is enough; records
// logged while no run is in progress carry no JOB or RUN_ID.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace rostersync::sync {

struct LogFields {
  std::string job;          // "" outside a run
  std::int64_t run_id = 0;  // 0 outside a run
};

inline LogFields& current_log_fields() {
  static LogFields fields;
  return fields;
}

// Sets the fields for its lifetime (a job run), then restores the old ones.
class ScopedLogFields {
 public:
  ScopedLogFields(std::string job, std::int64_t run_id) : saved_(current_log_fields()) {
    current_log_fields() = LogFields{std::move(job), run_id};
  }
  ~ScopedLogFields() { current_log_fields() = std::move(saved_); }
  ScopedLogFields(const ScopedLogFields&) = delete;
  ScopedLogFields& operator=(const ScopedLogFields&) = delete;

 private:
  LogFields saved_;
};

}  // namespace rostersync::sync
