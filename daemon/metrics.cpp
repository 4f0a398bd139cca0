#include "daemon/metrics.hpp"

#include "domain/version.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <regex>
#include <stdexcept>

namespace rostersync::daemon {

namespace {

const char* type_name(MetricRegistry::Type t) {
  switch (t) {
    case MetricRegistry::Type::counter: return "counter";
    case MetricRegistry::Type::gauge: return "gauge";
    case MetricRegistry::Type::histogram: return "histogram";
  }
  return "untyped";
}

std::string escape_help(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string label_text(const MetricRegistry::Labels& labels, const std::string& extra_name = "",
                       const std::string& extra_value = "") {
  if (labels.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    out += (first ? "" : ",") + k + "=\"" + escape_label_value(v) + "\"";
    first = false;
  }
  if (!extra_name.empty()) out += (first ? "" : ",") + extra_name + "=\"" + extra_value + "\"";
  return out + "}";
}

// Seconds: from a few ms (a loopback answer) to the request timeout's range.
const std::vector<double> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
const std::vector<double> kRunBuckets = {0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600};

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_sample_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

std::string status_class(int status) {
  if (status < 100 || status > 599) return "error";
  return std::to_string(status / 100) + "xx";
}

void MetricRegistry::declare(const std::string& name, Type type, std::string help, std::vector<double> buckets) {
  static const std::regex kName("rostersync_[a-z][a-z0-9_]*");
  if (!std::regex_match(name, kName)) throw std::invalid_argument("metric name '" + name + "' breaks the conventions");
  const bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
  if ((type == Type::counter) != total) throw std::invalid_argument("'" + name + "': _total is for counters only, and every counter has it");
  if (index_.count(name)) throw std::invalid_argument("metric '" + name + "' declared twice");
  if (!std::is_sorted(buckets.begin(), buckets.end())) throw std::invalid_argument("'" + name + "': buckets not ascending");
  index_[name] = families_.size();
  families_.push_back(Family{name, type, std::move(help), std::move(buckets), {}, {}});
}

MetricRegistry::Family& MetricRegistry::family(const std::string& name, Type expected) {
  auto it = index_.find(name);
  if (it == index_.end() || families_[it->second].type != expected) {
    throw std::logic_error("metric '" + name + "' not declared as a " + type_name(expected));
  }
  return families_[it->second];
}

void MetricRegistry::add(const std::string& name, const Labels& labels, double value) {
  family(name, Type::counter).values[labels] += value;
}

void MetricRegistry::set(const std::string& name, const Labels& labels, double value) {
  family(name, Type::gauge).values[labels] = value;
}

void MetricRegistry::observe(const std::string& name, const Labels& labels, double value) {
  Family& f = family(name, Type::histogram);
  Histogram& h = f.histograms[labels];
  if (h.counts.empty()) h.counts.assign(f.buckets.size() + 1, 0);
  auto bucket = std::lower_bound(f.buckets.begin(), f.buckets.end(), value) - f.buckets.begin();
  ++h.counts[static_cast<std::size_t>(bucket)];
  h.sum += value;
  ++h.count;
}

void MetricRegistry::clear(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) return;
  families_[it->second].values.clear();
  families_[it->second].histograms.clear();
}

std::string MetricRegistry::render() const {
  std::string out;
  for (const Family& f : families_) {
    out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + f.name + " " + type_name(f.type) + "\n";
    for (const auto& [labels, value] : f.values) out += f.name + label_text(labels) + " " + format_sample_value(value) + "\n";
    for (const auto& [labels, h] : f.histograms) {
      std::uint64_t cumulative = 0;
      for (std::size_t b = 0; b <= f.buckets.size(); ++b) {
        cumulative += h.counts[b];
        const std::string le = b < f.buckets.size() ? format_sample_value(f.buckets[b]) : "+Inf";
        out += f.name + "_bucket" + label_text(labels, "le", le) + " " + std::to_string(cumulative) + "\n";
      }
      out += f.name + "_sum" + label_text(labels) + " " + format_sample_value(h.sum) + "\n";
      out += f.name + "_count" + label_text(labels) + " " + std::to_string(h.count) + "\n";
    }
  }
  return out;
}

DaemonMetrics::DaemonMetrics(const std::map<std::string, std::int64_t>& last_ok) {
  using T = MetricRegistry::Type;
  MetricRegistry& r = registry_;
  r.declare("rostersync_build_info", T::gauge, "The running rostersync's version (always 1).");
  r.declare("rostersync_runs_total", T::counter, "Job runs ended since the daemon started, by job and outcome "
            "(ok, partial, failed, interrupted, held).");
  r.declare("rostersync_last_success_timestamp_seconds", T::gauge,
            "When the job's last run that ended ok finished (unix time).");
  r.declare("rostersync_run_duration_seconds", T::histogram, "How long job runs took.", kRunBuckets);
  r.declare("rostersync_members_seen_total", T::counter, "Roster members read by the job's runs.");
  r.declare("rostersync_last_run_members", T::gauge, "Roster members the job's last run read.");
  r.declare("rostersync_memberships_created_total", T::counter, "Memberships itslearning confirmed created, by job.");
  r.declare("rostersync_memberships_updated_total", T::counter, "Role changes itslearning confirmed, by job.");
  r.declare("rostersync_memberships_deleted_total", T::counter, "Memberships itslearning confirmed deleted, by job.");
  r.declare("rostersync_memberships_failed_total", T::counter, "Items itslearning refused, by job.");
  r.declare("rostersync_memberships", T::gauge, "Memberships in the state database by job and state: created, "
            "pending (to send at the next run), waiting (refused, retried later), parked (refused too often; "
            "rostersync retry).");
  r.declare("rostersync_holds", T::gauge, "Holds in force (1 each): scope job, source or target, kind blocked "
            "(a configuration error) or breaker (the target failed nearly everything).");
  r.declare("rostersync_removals_awaiting_approval", T::gauge,
            "Deletions a removal guard held for the job until rostersync approve or reject.");
  r.declare("rostersync_http_requests_total", T::counter,
            "HTTP requests answered (or failed: status_class error), by peer, endpoint and status class.");
  r.declare("rostersync_http_request_duration_seconds", T::histogram,
            "Time from sending a request to having its whole answer, by peer and endpoint.", kLatencyBuckets);
  r.declare("rostersync_operations_in_flight", T::gauge,
            "Memberships sent to the target and not yet answered (at most its in_flight_budget).");
  r.declare("rostersync_jobs_running", T::gauge, "Jobs running now.");
  r.declare("rostersync_passes_total", T::counter, "Passes ended (all due jobs worked through).");
  r.declare("rostersync_last_pass_duration_seconds", T::gauge, "How long the last ended pass took.");
  r.declare("rostersync_job_interval_seconds", T::gauge,
            "The job's interval as configured: alert rules measure staleness in intervals with it.");
  r.declare("rostersync_config_last_reload_successful", T::gauge,
            "Whether the last configuration reload was applied (1) or refused (0); 1 from the start.");
  r.declare("rostersync_config_last_reload_success_timestamp_seconds", T::gauge,
            "When the configuration was last applied (unix time): the start, a reload or a registry change.");
  r.declare("rostersync_registry_refused_files", T::gauge,
            "Course files whose change is refused (an error; their courses keep their last good definitions), "
            "counting an unreadable registry as one.");
  r.declare("rostersync_registry_change_awaiting_confirmation", T::gauge,
            "1 while a registry change that removes too many courses at once waits for rostersync confirm-registry.");
  r.set("rostersync_build_info", {{"version", kVersion}}, 1);
  for (const auto& [job, at] : last_ok) r.set("rostersync_last_success_timestamp_seconds", {{"rostersync_job", job}}, static_cast<double>(at));
}

void DaemonMetrics::run_finished(const std::string& job, RunOutcome outcome, bool held, const RunStats& stats,
                                 double seconds, std::int64_t unix_now) {
  MetricRegistry& r = registry_;
  r.add("rostersync_runs_total", {{"rostersync_job", job}, {"outcome", held ? "held" : to_string(outcome)}});
  if (held) return;  // nothing ran
  if (outcome == RunOutcome::ok) r.set("rostersync_last_success_timestamp_seconds", {{"rostersync_job", job}}, static_cast<double>(unix_now));
  r.observe("rostersync_run_duration_seconds", {}, seconds);
  r.add("rostersync_members_seen_total", {{"rostersync_job", job}}, stats.members_seen);
  r.set("rostersync_last_run_members", {{"rostersync_job", job}}, stats.members_seen);
  r.add("rostersync_memberships_created_total", {{"rostersync_job", job}}, stats.created);
  r.add("rostersync_memberships_updated_total", {{"rostersync_job", job}}, stats.updated);
  r.add("rostersync_memberships_deleted_total", {{"rostersync_job", job}}, stats.deleted);
  r.add("rostersync_memberships_failed_total", {{"rostersync_job", job}}, stats.failed);
}

void DaemonMetrics::request(std::string_view peer, std::string_view endpoint, int status, double seconds) {
  MetricRegistry::Labels labels{{"peer", std::string(peer)}, {"endpoint", std::string(endpoint)}};
  registry_.observe("rostersync_http_request_duration_seconds", labels, seconds);
  labels.emplace_back("status_class", status_class(status));
  registry_.add("rostersync_http_requests_total", labels);
}

void DaemonMetrics::config_state(bool reload_ok, std::int64_t applied_unix, int refused_files, bool awaiting) {
  registry_.set("rostersync_config_last_reload_successful", {}, reload_ok ? 1 : 0);
  registry_.set("rostersync_config_last_reload_success_timestamp_seconds", {}, static_cast<double>(applied_unix));
  registry_.set("rostersync_registry_refused_files", {}, refused_files);
  registry_.set("rostersync_registry_change_awaiting_confirmation", {}, awaiting ? 1 : 0);
}

void DaemonMetrics::job_intervals(const std::map<std::string, double>& seconds_by_job) {
  registry_.clear("rostersync_job_interval_seconds");
  for (const auto& [job, s] : seconds_by_job) registry_.set("rostersync_job_interval_seconds", {{"rostersync_job", job}}, s);
}

void DaemonMetrics::pass_finished(double seconds) {
  registry_.add("rostersync_passes_total", {});
  registry_.set("rostersync_last_pass_duration_seconds", {}, seconds);
}

void DaemonMetrics::refresh(const StoredState& stored, const std::map<std::string, int>& in_flight_by_target,
                            int running_jobs) {
  MetricRegistry& r = registry_;
  for (const char* name : {"rostersync_memberships", "rostersync_holds", "rostersync_removals_awaiting_approval",
                           "rostersync_operations_in_flight"}) {
    r.clear(name);
  }
  for (const auto& m : stored.memberships) {
    r.set("rostersync_memberships", {{"rostersync_job", m.job}, {"state", m.state}}, static_cast<double>(m.count));
  }
  for (const auto& h : stored.holds) r.set("rostersync_holds", {{"scope", h.scope}, {"name", h.name}, {"kind", h.kind}}, 1);
  for (const auto& [job, n] : stored.removals_awaiting_approval) r.set("rostersync_removals_awaiting_approval", {{"rostersync_job", job}}, n);
  for (const auto& [target, n] : in_flight_by_target) r.set("rostersync_operations_in_flight", {{"target", target}}, n);
  r.set("rostersync_jobs_running", {}, running_jobs);
}

}  // namespace rostersync::daemon
