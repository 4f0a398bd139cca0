// `rostersync status --check`: the verdict a monitoring system (Nagios,
// Icinga, Zabbix's agent) asks for, by the Monitoring Plugins conventions:
// exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, and one line of text with
// performance data after a '|'.
//
// Pure: judged from facts the state database holds (store::JobHealth), the
// jobs' intervals and the time now, so every rule is unit-tested.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "store/reports.hpp"

namespace rostersync::daemon {

enum class HealthState { ok = 0, warning = 1, critical = 2, unknown = 3 };
const char* to_string(HealthState);

struct HealthThresholds {
  // A job whose last successful run is older than this many of its
  // intervals is WARNING, or CRITICAL past the second.
  double warning_intervals = 2;
  double critical_intervals = 4;
};

struct JobHealthInput {
  store::JobHealth facts;
  std::chrono::milliseconds interval;
};

struct HealthCheck {
  HealthState state = HealthState::unknown;
  std::string line;  // "ROSTERSYNC OK - ... | perfdata"
};

// The rules, worst first:
//   CRITICAL  a hold in force (a configuration error or an open breaker) on
//             a job, its source or its target; a last success (or, for a job
//             that never succeeded, its first run) older than critical_intervals
//   WARNING   the same older than warning_intervals; a job that never ran;
//             parked items; deletions awaiting approval; each of
//             `config_warnings` (refused course files, an unreadable
//             registry, a registry change awaiting confirmation): the
//             registry never shrinks silently
// The text names the worst findings first (at most three) and counts the rest.
HealthCheck judge_health(const std::vector<JobHealthInput>& jobs, const HealthThresholds& thresholds,
                         std::int64_t now_unix, const std::vector<std::string>& config_warnings = {});

// "45 s", "12 min", "3 h", "2 d": an age for one line of text.
std::string format_age(std::int64_t seconds);

}  // namespace rostersync::daemon
