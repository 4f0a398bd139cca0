// Prometheus metrics of the daemon: the families rostersync exposes, and
// their rendering in the text exposition format (version 0.0.4), the format
// every Prometheus server and node_exporter's textfile collector read.
//
// Pure bookkeeping: no I/O, no clock, one thread (the daemon's event loop).
// The daemon feeds it events (a run ended, a request was answered, a pass
// ended) and, just before each render, the state it reads from the database
// (memberships by state, holds); daemon/metrics_exporter.hpp serves or
// writes the text.
//
// Names follow Prometheus conventions: a rostersync_ prefix, base units
// (seconds), _total on counters, _seconds on durations, snake_case labels.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/run.hpp"

namespace rostersync::daemon {

// A registry of metric families with their samples, and the text format.
class MetricRegistry {
 public:
  enum class Type { counter, gauge, histogram };
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // Declares a family once, before its first sample. `buckets`: a
  // histogram's upper bounds, ascending (+Inf is added). Throws
  // std::invalid_argument for a name that breaks the conventions.
  void declare(const std::string& name, Type type, std::string help, std::vector<double> buckets = {});

  void add(const std::string& name, const Labels& labels, double value = 1);   // counter
  void set(const std::string& name, const Labels& labels, double value);       // gauge
  void observe(const std::string& name, const Labels& labels, double value);   // histogram
  // Drops every sample of a family: for gauges refilled from the database.
  void clear(const std::string& name);

  // The whole registry, families in declaration order, samples sorted by labels.
  std::string render() const;

 private:
  struct Histogram {
    std::vector<std::uint64_t> counts;  // per bucket, not cumulative; one more for +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  struct Family {
    std::string name;
    Type type;
    std::string help;
    std::vector<double> buckets;
    std::map<Labels, double> values;         // counter, gauge
    std::map<Labels, Histogram> histograms;  // histogram
  };
  Family& family(const std::string& name, Type expected);
  std::vector<Family> families_;
  std::map<std::string, std::size_t> index_;
};

// Escapes a label value for the text format (backslash, quote, newline).
std::string escape_label_value(std::string_view value);
// A double as the text format writes it (+Inf, -Inf, NaN, shortest exact form).
std::string format_sample_value(double value);

// "2xx", "4xx", "5xx"... for an HTTP status; "error" for no answer (0).
std::string status_class(int status);

// What the daemon reads from its state database before each render.
struct StoredState {
  struct JobMemberships {
    std::string job;
    std::string state;  // created, pending, waiting, parked
    long long count = 0;
  };
  struct ActiveHold {
    std::string scope, name, kind;  // kind: blocked or breaker
  };
  std::vector<JobMemberships> memberships;
  std::vector<ActiveHold> holds;
  std::map<std::string, int> removals_awaiting_approval;  // job -> deletions held
};

// rostersync's metric families, fed by the daemon.
class DaemonMetrics {
 public:
  // `last_ok`: each job's last successful run (unix seconds), from the
  // database, so the gauge survives restarts.
  explicit DaemonMetrics(const std::map<std::string, std::int64_t>& last_ok = {});

  void run_finished(const std::string& job, RunOutcome outcome, bool held, const RunStats& stats, double seconds,
                    std::int64_t unix_now);
  // One HTTP exchange: `peer` is the source or target name, `endpoint` what
  // was asked (nrps, ltiaas_memberships, token, createMemberships, ...),
  // `status` the HTTP status or 0 when no answer came.
  void request(std::string_view peer, std::string_view endpoint, int status, double seconds);
  void pass_finished(double seconds);
  // The configuration as applied: the last reload's result, when it was last
  // applied, refused course files, a registry change waiting for a person.
  void config_state(bool reload_ok, std::int64_t applied_unix, int refused_files, bool awaiting);
  // Every configured job's interval (seconds), replacing the last set.
  void job_intervals(const std::map<std::string, double>& seconds_by_job);
  // Sets the gauges that mirror the database and the event loop: memberships
  // by state, holds, removals awaiting approval, operations in flight.
  void refresh(const StoredState& stored, const std::map<std::string, int>& in_flight_by_target, int running_jobs);

  std::string render() const { return registry_.render(); }

 private:
  MetricRegistry registry_;
};

}  // namespace rostersync::daemon
