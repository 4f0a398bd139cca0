// The daemon's metrics: what each event counts, what a refresh from the
// database replaces, and that the text is what Prometheus reads (checked by
// an independent reader of the format, and by promtool where installed).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "domain/version.hpp"
#include "daemon/metrics.hpp"
#include "daemon/metrics_exporter.hpp"
#include "prometheus_format.hpp"

using namespace rostersync;
using namespace rostersync::daemon;
using rostersync::testing::parse_prometheus_text;
using rostersync::testing::PromParse;

namespace {

PromParse parsed(const DaemonMetrics& m) {
  PromParse p = parse_prometheus_text(m.render());
  std::string errors;
  for (const auto& e : p.errors) errors += e + "\n";
  EXPECT_TRUE(p.errors.empty()) << errors << m.render();
  return p;
}

RunStats stats(int members, int created, int failed) {
  RunStats s;
  s.members_seen = members;
  s.created = created;
  s.failed = failed;
  return s;
}

}  // namespace

TEST(Metrics, AFreshDaemonRendersValidTextWithItsVersionAndTheRestoredLastSuccess) {
  DaemonMetrics m({{"cps435", 1'700'000'000}});
  PromParse p = parsed(m);
  EXPECT_EQ(p.value("rostersync_build_info", {{"version", rostersync::kVersion}}), 1);
  EXPECT_EQ(p.value("rostersync_last_success_timestamp_seconds", {{"rostersync_job", "cps435"}}), 1'700'000'000);
  EXPECT_EQ(p.families.at("rostersync_runs_total").type, "counter");
  EXPECT_EQ(p.families.at("rostersync_http_request_duration_seconds").type, "histogram");
}

TEST(Metrics, RunsCountByJobAndOutcomeAndOnlyAnOkRunMovesTheLastSuccess) {
  DaemonMetrics m({{"a", 100}});
  m.run_finished("a", RunOutcome::ok, false, stats(30, 25, 1), 2.0, 5000);
  m.run_finished("a", RunOutcome::failed, false, stats(0, 0, 0), 0.2, 6000);
  m.run_finished("a", RunOutcome::ok, false, stats(30, 2, 0), 1.0, 7000);
  m.run_finished("b", RunOutcome::failed, true, stats(0, 0, 0), 0, 7100);  // held: nothing ran
  PromParse p = parsed(m);
  EXPECT_EQ(p.value("rostersync_runs_total", {{"rostersync_job", "a"}, {"outcome", "ok"}}), 2);
  EXPECT_EQ(p.value("rostersync_runs_total", {{"rostersync_job", "a"}, {"outcome", "failed"}}), 1);
  EXPECT_EQ(p.value("rostersync_runs_total", {{"rostersync_job", "b"}, {"outcome", "held"}}), 1);
  EXPECT_EQ(p.value("rostersync_last_success_timestamp_seconds", {{"rostersync_job", "a"}}), 7000);
  EXPECT_TRUE(std::isnan(p.value("rostersync_last_success_timestamp_seconds", {{"rostersync_job", "b"}})));
  EXPECT_EQ(p.value("rostersync_memberships_created_total", {{"rostersync_job", "a"}}), 27);
  EXPECT_EQ(p.value("rostersync_memberships_failed_total", {{"rostersync_job", "a"}}), 1);
  EXPECT_EQ(p.value("rostersync_members_seen_total", {{"rostersync_job", "a"}}), 60);
  EXPECT_EQ(p.value("rostersync_last_run_members", {{"rostersync_job", "a"}}), 30);
  EXPECT_EQ(p.value("rostersync_run_duration_seconds_count"), 3) << "the held run took no time and is not observed";
  EXPECT_EQ(p.value("rostersync_run_duration_seconds_sum"), 3.2);
  EXPECT_EQ(p.value("rostersync_run_duration_seconds_bucket", {{"le", "0.5"}}), 1);
  EXPECT_EQ(p.value("rostersync_run_duration_seconds_bucket", {{"le", "1"}}), 2) << "le is inclusive";
}

TEST(Metrics, RequestsCountByPeerEndpointAndStatusClassWithALatencyHistogram) {
  DaemonMetrics m;
  m.request("its", "createMemberships", 200, 0.02);
  m.request("its", "createMemberships", 500, 0.3);
  m.request("its", "createMemberships", 0, 10.0);  // no answer: timeout, reset, TLS refused
  m.request("lms", "token", 401, 0.004);
  PromParse p = parsed(m);
  auto req = [&](const char* peer, const char* endpoint, const char* cls) {
    return p.value("rostersync_http_requests_total", {{"peer", peer}, {"endpoint", endpoint}, {"status_class", cls}});
  };
  EXPECT_EQ(req("its", "createMemberships", "2xx"), 1);
  EXPECT_EQ(req("its", "createMemberships", "5xx"), 1);
  EXPECT_EQ(req("its", "createMemberships", "error"), 1);
  EXPECT_EQ(req("lms", "token", "4xx"), 1);
  std::map<std::string, std::string> its{{"peer", "its"}, {"endpoint", "createMemberships"}};
  EXPECT_EQ(p.value("rostersync_http_request_duration_seconds_count", its), 3);
  auto le = [&](const char* bound) {
    auto labels = its;
    labels["le"] = bound;
    return p.value("rostersync_http_request_duration_seconds_bucket", labels);
  };
  EXPECT_EQ(le("0.025"), 1);
  EXPECT_EQ(le("0.5"), 2);
  EXPECT_EQ(le("10"), 3);
  EXPECT_EQ(le("+Inf"), 3);
}

TEST(Metrics, ARefreshReplacesTheGaugesThatMirrorTheDatabase) {
  DaemonMetrics m;
  StoredState first;
  first.memberships = {{"a", "created", 40}, {"a", "parked", 2}, {"gone", "pending", 5}};
  first.holds = {{"target", "its", "breaker"}};
  first.removals_awaiting_approval = {{"a", 120}};
  m.refresh(first, {{"its", 7}}, 3);
  PromParse p = parsed(m);
  EXPECT_EQ(p.value("rostersync_memberships", {{"rostersync_job", "a"}, {"state", "created"}}), 40);
  EXPECT_EQ(p.value("rostersync_memberships", {{"rostersync_job", "a"}, {"state", "parked"}}), 2);
  EXPECT_EQ(p.value("rostersync_holds", {{"scope", "target"}, {"name", "its"}, {"kind", "breaker"}}), 1);
  EXPECT_EQ(p.value("rostersync_removals_awaiting_approval", {{"rostersync_job", "a"}}), 120);
  EXPECT_EQ(p.value("rostersync_operations_in_flight", {{"target", "its"}}), 7);
  EXPECT_EQ(p.value("rostersync_jobs_running"), 3);

  StoredState second;  // the hold was lifted, the removed job forgotten
  second.memberships = {{"a", "created", 42}};
  m.refresh(second, {{"its", 0}}, 0);
  p = parsed(m);
  EXPECT_EQ(p.value("rostersync_memberships", {{"rostersync_job", "a"}, {"state", "created"}}), 42);
  EXPECT_TRUE(std::isnan(p.value("rostersync_memberships", {{"rostersync_job", "gone"}, {"state", "pending"}})));
  EXPECT_TRUE(p.families.at("rostersync_holds").samples.empty());
  EXPECT_EQ(p.value("rostersync_operations_in_flight", {{"target", "its"}}), 0);
}

TEST(Metrics, LabelValuesAreEscapedAndReadBack) {
  DaemonMetrics m;
  const std::string odd = "we\"ird\\na\nme";
  m.request(odd, "nrps", 200, 0.1);
  PromParse p = parsed(m);
  EXPECT_EQ(p.value("rostersync_http_requests_total", {{"peer", odd}, {"endpoint", "nrps"}, {"status_class", "2xx"}}), 1);
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(Metrics, PassesAreCountedWithTheLastDuration) {
  DaemonMetrics m;
  m.pass_finished(12);
  m.pass_finished(30);
  PromParse p = parsed(m);
  EXPECT_EQ(p.value("rostersync_passes_total"), 2);
  EXPECT_EQ(p.value("rostersync_last_pass_duration_seconds"), 30);
}

TEST(Metrics, TheRegistryRefusesNamesThatBreakTheConventions) {
  MetricRegistry r;
  using T = MetricRegistry::Type;
  EXPECT_THROW(r.declare("rostersync_runs", T::counter, "no _total"), std::invalid_argument);
  EXPECT_THROW(r.declare("rostersync_members_total", T::gauge, "a gauge with _total"), std::invalid_argument);
  EXPECT_THROW(r.declare("other_prefix_total", T::counter, "not ours"), std::invalid_argument);
  EXPECT_THROW(r.declare("rostersync_Latency", T::gauge, "not snake case"), std::invalid_argument);
  r.declare("rostersync_x_total", T::counter, "ok");
  EXPECT_THROW(r.declare("rostersync_x_total", T::counter, "twice"), std::invalid_argument);
  EXPECT_THROW(r.set("rostersync_x_total", {}, 1), std::logic_error) << "a counter is not set";
  EXPECT_EQ(format_sample_value(0.1), "0.1");
  EXPECT_EQ(status_class(204), "2xx");
  EXPECT_EQ(status_class(0), "error");
}

// The reader the tests rely on catches what a Prometheus server refuses.
TEST(Metrics, TheFormatReaderRejectsBrokenText) {
  auto errors = [](const std::string& text) { return parse_prometheus_text(text).errors.size(); };
  EXPECT_EQ(errors("# HELP a_total x\n# TYPE a_total counter\na_total 1\n"), 0u);
  EXPECT_GT(errors("a_total 1\n"), 0u) << "no TYPE";
  EXPECT_GT(errors("# HELP a x\n# TYPE a counter\na 1\n"), 0u) << "counter without _total";
  EXPECT_GT(errors("# HELP a x\n# TYPE a gauge\na{b=\"c} 1\n"), 0u) << "unterminated label";
  EXPECT_GT(errors("# HELP a x\n# TYPE a gauge\na 1\na 2\n"), 0u) << "repeated series";
  EXPECT_GT(errors("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n"), 0u)
      << "buckets not cumulative";
  EXPECT_GT(errors("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n"), 0u) << "no +Inf";
  EXPECT_GT(errors("# HELP a x\n# TYPE a gauge\na one\n"), 0u) << "not a number";
}

// promtool (Debian's prometheus package) lints the same text where it is installed.
TEST(Metrics, PromtoolAcceptsTheTextWhereInstalled) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "promtool not installed";
  DaemonMetrics m({{"a", 1}});
  m.run_finished("a", RunOutcome::ok, false, stats(3, 3, 0), 0.5, 10);
  m.request("its", "createMemberships", 200, 0.02);
  const std::string path = ::testing::TempDir() + "/rostersync-metrics.prom";
  ASSERT_EQ(write_textfile(path, m.render()), "");
  const std::string command = "promtool check metrics < " + path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  EXPECT_EQ(pclose(pipe), 0) << out;
  EXPECT_EQ(out, "") << "promtool's lint found problems";
}

TEST(MetricsTextfile, IsReplacedWholeAndReadableByNodeExporterDespiteAStrictUmask) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("rostersync-textfile-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "rostersync.prom").string();
  mode_t saved = umask(077);
  EXPECT_EQ(write_textfile(path, "first\n"), "");
  EXPECT_EQ(write_textfile(path, "second\n"), "");
  umask(saved);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "second\n");
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1u) << "no temporary file is left behind";
  std::string error = write_textfile((dir / "missing" / "x.prom").string(), "x\n");
  EXPECT_NE(error.find((dir / "missing").string()), std::string::npos) << error;
  fs::remove_all(dir);
}
