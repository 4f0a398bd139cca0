#include "daemon/health.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

namespace rostersync::daemon {

const char* to_string(HealthState s) {
  switch (s) {
    case HealthState::ok: return "OK";
    case HealthState::warning: return "WARNING";
    case HealthState::critical: return "CRITICAL";
    case HealthState::unknown: return "UNKNOWN";
  }
  return "UNKNOWN";
}

std::string format_age(std::int64_t seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 120) return std::to_string(seconds) + " s";
  if (seconds < 2 * 3600) return std::to_string(seconds / 60) + " min";
  if (seconds < 2 * 86400) return std::to_string(seconds / 3600) + " h";
  return std::to_string(seconds / 86400) + " d";
}

namespace {

struct Finding {
  HealthState state;
  std::string job;
  std::string text;
};

std::string intervals_text(double n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", n);
  return buf;
}

}  // namespace

HealthCheck judge_health(const std::vector<JobHealthInput>& jobs, const HealthThresholds& thresholds,
                         std::int64_t now_unix, const std::vector<std::string>& config_warnings) {
  std::vector<Finding> findings;
  for (const std::string& w : config_warnings) findings.push_back({HealthState::warning, "configuration:", w});
  int held = 0, stale = 0, never = 0, parked = 0, awaiting = 0, jobs_needing_attention = 0;
  // A hold on a target or source stops every job of it for one reason: one
  // finding for it (with how many jobs wait), not one per job repeating it.
  std::map<std::string, int> shared_holds;
  for (const auto& [facts, interval] : jobs) {
    const double interval_s = std::max(1.0, std::chrono::duration<double>(interval).count());
    std::vector<Finding> mine;
    if (!facts.hold.empty()) {
      ++held;
      if (facts.hold_shared) ++shared_holds[facts.hold];
      else mine.push_back({HealthState::critical, facts.job, facts.hold});
    }
    if (!facts.first_run_unix) {
      ++never;
      mine.push_back({HealthState::warning, facts.job, "never ran"});
    } else {
      const bool ever_ok = facts.last_ok_unix.has_value();
      const std::int64_t since = ever_ok ? *facts.last_ok_unix : *facts.first_run_unix;
      const double age = static_cast<double>(now_unix - since);
      const std::string what = ever_ok ? "last success " + format_age(now_unix - since) + " ago"
                                       : "no success since its first run " + format_age(now_unix - since) + " ago";
      if (age > thresholds.critical_intervals * interval_s) {
        ++stale;
        mine.push_back({HealthState::critical, facts.job, what + " (> " + intervals_text(thresholds.critical_intervals) + " intervals)"});
      } else if (age > thresholds.warning_intervals * interval_s) {
        ++stale;
        mine.push_back({HealthState::warning, facts.job, what + " (> " + intervals_text(thresholds.warning_intervals) + " intervals)"});
      }
    }
    if (facts.parked > 0) {
      parked += facts.parked;
      mine.push_back({HealthState::warning, facts.job, std::to_string(facts.parked) + " item(s) parked (rostersync failures)"});
    }
    if (facts.awaiting_approval > 0) {
      awaiting += facts.awaiting_approval;
      mine.push_back({HealthState::warning, facts.job,
                      std::to_string(facts.awaiting_approval) + " deletion(s) awaiting approval"});
    }
    // One finding per job in the text: its worst. A job a shared hold stops
    // is counted (perfdata) but not named again: the hold says why.
    if (facts.hold_shared) mine.clear();
    if (!mine.empty() || facts.hold_shared) ++jobs_needing_attention;
    if (!mine.empty()) {
      std::stable_sort(mine.begin(), mine.end(), [](const Finding& a, const Finding& b) { return a.state > b.state; });
      findings.push_back(mine.front());
    }
  }
  // First among equals: a shared hold stops the most.
  std::vector<Finding> shared;
  for (const auto& [hold, n] : shared_holds) {
    shared.push_back({HealthState::critical, "", hold + " (" + std::to_string(n) + " job(s) wait for it)"});
  }
  findings.insert(findings.begin(), shared.begin(), shared.end());
  std::stable_sort(findings.begin(), findings.end(), [](const Finding& a, const Finding& b) { return a.state > b.state; });
  HealthCheck check;
  check.state = findings.empty() ? HealthState::ok : findings.front().state;
  std::string text;
  const int job_findings = jobs_needing_attention;
  if (jobs.empty() && findings.empty()) {
    text = "no jobs configured";
  } else if (findings.empty()) {
    text = std::to_string(jobs.size()) + " job(s) synced within " + intervals_text(thresholds.warning_intervals) +
           " intervals, no holds, nothing parked";
  } else {
    text = job_findings > 0 ? std::to_string(job_findings) + " of " + std::to_string(jobs.size()) +
                                  " job(s) need attention" : std::to_string(jobs.size()) + " job(s)";
    if (!config_warnings.empty()) text += ", " + std::to_string(config_warnings.size()) + " configuration problem(s)";
    text += ": ";
    const std::size_t shown = std::min<std::size_t>(3, findings.size());
    for (std::size_t i = 0; i < shown; ++i) text += (i ? "; " : "") + (findings[i].job.empty() ? "" : findings[i].job + " ") + findings[i].text;
    if (findings.size() > shown) text += "; and " + std::to_string(findings.size() - shown) + " more (rostersync status)";
  }
  // The line must stay one line whatever a hold's reason held.
  std::replace(text.begin(), text.end(), '\n', ' ');
  std::replace(text.begin(), text.end(), '|', '/');
  int critical = 0, warning = 0;
  for (const auto& f : findings) (f.state == HealthState::critical ? critical : warning) += 1;
  warning -= static_cast<int>(config_warnings.size());  // counted apart
  for (const auto& [hold, n] : shared_holds) critical += n - 1;  // perfdata counts jobs
  check.line = std::string("ROSTERSYNC ") + to_string(check.state) + " - " + text + " | jobs=" + std::to_string(jobs.size()) +
               ";;;0 critical=" + std::to_string(critical) + ";;;0 warning=" + std::to_string(warning) + ";;;0 held=" +
               std::to_string(held) + ";;;0 stale=" + std::to_string(stale) + ";;;0 never_ran=" + std::to_string(never) +
               ";;;0 parked=" + std::to_string(parked) + ";;;0 awaiting_approval=" + std::to_string(awaiting) +
               ";;;0 config_problems=" + std::to_string(config_warnings.size()) + ";;;0";
  return check;
}

}  // namespace rostersync::daemon
