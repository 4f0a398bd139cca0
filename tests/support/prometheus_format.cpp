#include "prometheus_format.hpp"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <regex>
#include <set>
#include <sstream>

namespace rostersync::testing {

namespace {

const std::regex kMetricName("[a-zA-Z_:][a-zA-Z0-9_:]*");
const std::regex kLabelName("[a-zA-Z_][a-zA-Z0-9_]*");

bool parse_value(const std::string& text, double& out) {
  if (text == "+Inf") out = std::numeric_limits<double>::infinity();
  else if (text == "-Inf") out = -std::numeric_limits<double>::infinity();
  else if (text == "NaN") out = std::numeric_limits<double>::quiet_NaN();
  else {
    char* end = nullptr;
    out = std::strtod(text.c_str(), &end);
    return !text.empty() && end == text.c_str() + text.size();
  }
  return true;
}

// The family a sample belongs to: histogram samples carry a suffix.
std::string family_of(const std::string& sample, const std::map<std::string, PromFamily>& families) {
  if (families.count(sample)) return sample;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string s(suffix);
    if (sample.size() > s.size() && sample.compare(sample.size() - s.size(), s.size(), s) == 0) {
      std::string base = sample.substr(0, sample.size() - s.size());
      auto it = families.find(base);
      if (it != families.end() && (it->second.type == "histogram" || it->second.type == "summary")) return base;
    }
  }
  return sample;
}

}  // namespace

double PromParse::value(const std::string& name, const std::map<std::string, std::string>& labels) const {
  for (const auto& [family_name, family] : families) {
    for (const auto& s : family.samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

PromParse parse_prometheus_text(const std::string& text) {
  PromParse out;
  auto error = [&](int line, const std::string& what) { out.errors.push_back("line " + std::to_string(line) + ": " + what); };
  std::istringstream in(text);
  std::string line;
  int number = 0;
  std::string current;  // the family whose samples are being read
  std::set<std::string> finished;  // families whose samples ended (they must be contiguous)
  std::set<std::string> series;
  if (!text.empty() && text.back() != '\n') error(0, "the text does not end with a newline");
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, keyword, name;
      words >> hash >> keyword >> name;
      if (keyword != "HELP" && keyword != "TYPE") continue;  // a comment
      if (!std::regex_match(name, kMetricName)) error(number, "bad metric name '" + name + "'");
      std::string rest;
      std::getline(words, rest);
      if (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
      PromFamily& f = out.families[name];
      if (keyword == "HELP") {
        if (!f.help.empty()) error(number, "second HELP for " + name);
        f.help = rest;
      } else {
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
        if (!f.type.empty()) error(number, "second TYPE for " + name);
        if (!f.samples.empty()) error(number, "TYPE for " + name + " after its samples");
        if (!kTypes.count(rest)) error(number, "unknown type '" + rest + "'");
        f.type = rest;
      }
      continue;
    }
    // name{label="value",...} value [timestamp]
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    PromSample sample;
    sample.name = line.substr(0, i);
    if (!std::regex_match(sample.name, kMetricName)) error(number, "bad metric name '" + sample.name + "'");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::size_t eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          error(number, "bad label list");
          break;
        }
        std::string label = line.substr(i, eq - i);
        if (!std::regex_match(label, kLabelName) || label.rfind("__", 0) == 0) error(number, "bad label name '" + label + "'");
        // Prometheus sets these on every scraped series: an exposed one is renamed exported_job.
        if (label == "job" || label == "instance") error(number, "label '" + label + "' is a Prometheus target label");
        std::string value;
        std::size_t j = eq + 2;
        bool closed = false;
        for (; j < line.size(); ++j) {
          if (line[j] == '\\') {
            if (j + 1 >= line.size()) break;
            char e = line[++j];
            if (e == 'n') value += '\n';
            else if (e == '\\' || e == '"') value += e;
            else error(number, std::string("bad escape \\") + e);
          } else if (line[j] == '"') {
            closed = true;
            break;
          } else {
            value += line[j];
          }
        }
        if (!closed) {
          error(number, "unterminated label value");
          break;
        }
        if (sample.labels.count(label)) error(number, "label '" + label + "' twice");
        sample.labels[label] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size() || line[i] != '}') {
        error(number, "unterminated label list");
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      error(number, "no value");
      continue;
    }
    std::istringstream rest(line.substr(i + 1));
    std::string value_text, timestamp, extra;
    rest >> value_text >> timestamp >> extra;
    if (!parse_value(value_text, sample.value)) error(number, "bad value '" + value_text + "'");
    if (!extra.empty()) error(number, "trailing text");
    const std::string family = family_of(sample.name, out.families);
    auto found = out.families.find(family);
    if (found == out.families.end() || found->second.type.empty()) {
      error(number, "sample of " + family + " without a TYPE line before it");
      out.families[family].type = "untyped";
    }
    if (family != current) {
      if (finished.count(family)) error(number, "samples of " + family + " are not contiguous");
      if (!current.empty()) finished.insert(current);
      current = family;
    }
    std::string key = sample.name;
    for (const auto& [k, v] : sample.labels) key += "\x1f" + k + "=" + v;
    if (!series.insert(key).second) error(number, "series repeated: " + sample.name);
    out.families[family].samples.push_back(std::move(sample));
  }

  // What promtool's linter and a Prometheus server expect of each family.
  for (const auto& [name, f] : out.families) {
    if (f.help.empty()) error(0, name + " has no HELP");
    const bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
    if (f.type == "counter" && !total) error(0, "counter " + name + " should end in _total");
    if (f.type != "counter" && total) error(0, name + " ends in _total but is a " + f.type);
    for (const auto& s : f.samples) {
      if (f.type == "counter" && !(s.value >= 0)) error(0, "counter " + name + " is negative or NaN");
    }
    if (f.type != "histogram") continue;
    // Per label set (without le): buckets cumulative, +Inf present and equal to _count, _sum present.
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    std::map<std::map<std::string, std::string>, double> counts, sums;
    for (const auto& s : f.samples) {
      auto labels = s.labels;
      if (s.name == name + "_bucket") {
        auto le = labels.find("le");
        double bound = 0;
        if (le == labels.end() || !parse_value(le->second, bound)) {
          error(0, name + "_bucket without a numeric le");
          continue;
        }
        labels.erase("le");
        buckets[labels].emplace_back(bound, s.value);
      } else if (s.name == name + "_count") {
        counts[labels] = s.value;
      } else if (s.name == name + "_sum") {
        sums[labels] = s.value;
      } else {
        error(0, "histogram " + name + " has a sample " + s.name);
      }
    }
    for (const auto& [labels, list] : buckets) {
      for (std::size_t k = 1; k < list.size(); ++k) {
        if (!(list[k].first > list[k - 1].first)) error(0, name + ": le not ascending");
        if (list[k].second < list[k - 1].second) error(0, name + ": buckets not cumulative");
      }
      if (list.empty() || !std::isinf(list.back().first)) error(0, name + ": no +Inf bucket");
      else if (!counts.count(labels) || counts[labels] != list.back().second) error(0, name + ": _count differs from +Inf");
      if (!sums.count(labels)) error(0, name + ": no _sum");
    }
  }
  return out;
}

}  // namespace rostersync::testing
