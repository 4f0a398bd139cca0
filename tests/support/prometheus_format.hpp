// A strict reader of the Prometheus text exposition format (0.0.4), written
// from the format's documentation for the tests, independently of the
// daemon's writer: what a Prometheus server would refuse, and what
// `promtool check metrics` lints (HELP on every family, _total on counters
// only, histogram buckets cumulative up to +Inf and matching _count).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace rostersync::testing {

struct PromSample {
  std::string name;                          // as written, e.g. x_bucket
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

struct PromFamily {
  std::string type;  // counter, gauge, histogram, summary, untyped
  std::string help;
  std::vector<PromSample> samples;
};

struct PromParse {
  std::map<std::string, PromFamily> families;
  std::vector<std::string> errors;  // each with its line number; empty when the text is valid

  // The value of the sample `name` with exactly these labels, or NaN.
  double value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const;
};

PromParse parse_prometheus_text(const std::string& text);

}  // namespace rostersync::testing
