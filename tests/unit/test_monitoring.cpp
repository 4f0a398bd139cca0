// What is shipped for people to look at (monitoring/): the Prometheus alert
// rules pass promtool's check and their own unit tests, and every query of
// the rules and of the Grafana dashboard names only metrics rostersync
// exports, with the label it really uses.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "daemon/metrics.hpp"

namespace {

const std::string kDir = std::string(ROSTERSYNC_SOURCE_DIR) + "/monitoring/";

std::string read(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::pair<int, std::string> run(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return {-1, "popen failed"};
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  return {pclose(pipe), out};
}

bool have_promtool() { return std::system("command -v promtool >/dev/null 2>&1") == 0; }

std::vector<std::string> alert_exprs() {
  std::vector<std::string> out;
  YAML::Node rules = YAML::LoadFile(kDir + "rostersync-alerts.yml");
  for (const auto& group : rules["groups"]) {
    for (const auto& rule : group["rules"]) out.push_back(rule["expr"].as<std::string>());
  }
  return out;
}

std::vector<std::string> dashboard_exprs() {
  std::vector<std::string> out;
  boost::json::value dash = boost::json::parse(read(kDir + "rostersync-dashboard.json"));
  for (const auto& panel : dash.at("panels").as_array()) {
    for (const auto& target : panel.at("targets").as_array()) out.emplace_back(target.at("expr").as_string());
  }
  return out;
}

// The series names a query may use: every family's, with a histogram's suffixes.
std::set<std::string> exported_series() {
  rostersync::daemon::DaemonMetrics metrics;
  std::set<std::string> names;
  static const std::regex kType(R"(# TYPE (\S+) (\S+))");
  const std::string text = metrics.render();
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kType); it != std::sregex_iterator(); ++it) {
    names.insert((*it)[1]);
    if ((*it)[2] == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) names.insert((*it)[1].str() + suffix);
    }
  }
  return names;
}

}  // namespace

TEST(Monitoring, TheAlertRulesPassPromtoolsCheckAndTheirOwnTests) {
  if (!have_promtool()) GTEST_SKIP() << "promtool not installed";
  auto [check_rc, check] = run("promtool check rules " + kDir + "rostersync-alerts.yml");
  EXPECT_EQ(check_rc, 0) << check;
  auto [test_rc, tested] = run("promtool test rules " + kDir + "rostersync-alerts.test.yml");
  EXPECT_EQ(test_rc, 0) << tested;
  EXPECT_NE(tested.find("SUCCESS"), std::string::npos) << tested;
}

TEST(Monitoring, EveryQueryNamesOnlyWhatRostersyncExports) {
  const std::set<std::string> exported = exported_series();
  ASSERT_TRUE(exported.count("rostersync_job_interval_seconds"));
  static const std::regex kName(R"(\brostersync_[a-z_]+\b)");
  std::vector<std::string> exprs = alert_exprs();
  const std::vector<std::string> panels = dashboard_exprs();
  ASSERT_GE(exprs.size(), 8u);
  ASSERT_GE(panels.size(), 10u);
  exprs.insert(exprs.end(), panels.begin(), panels.end());
  for (const std::string& expr : exprs) {
    for (auto it = std::sregex_iterator(expr.begin(), expr.end(), kName); it != std::sregex_iterator(); ++it) {
      const std::string name = (*it)[0];
      if (name == "rostersync_job") continue;  // the job label
      EXPECT_TRUE(exported.count(name)) << name << " is not a series rostersync exports, in: " << expr;
    }
    // Prometheus's own `job` is the scrape's: a rostersync job is rostersync_job.
    EXPECT_EQ(expr.find("{{job}}"), std::string::npos) << expr;
  }
}

TEST(Monitoring, EveryDashboardQueryIsValidPromQL) {
  if (!have_promtool()) GTEST_SKIP() << "promtool not installed";
  // promtool checks expressions inside rule files: each panel query becomes a recording rule.
  std::string rules = "groups:\n  - name: dashboard\n    rules:\n";
  int n = 0;
  for (const std::string& expr : dashboard_exprs()) {
    rules += "      - record: dashboard:panel_" + std::to_string(++n) + "\n        expr: " +
             YAML::Dump(YAML::Node(expr)) + "\n";
  }
  const std::string path = ::testing::TempDir() + "/rostersync-dashboard-rules.yml";
  std::ofstream(path) << rules;
  auto [rc, out] = run("promtool check rules " + path);
  EXPECT_EQ(rc, 0) << out << "\n" << rules;
}
