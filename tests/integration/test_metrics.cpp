// Metrics of a running daemon, scraped over loopback like Prometheus does,
// and the textfile it leaves for node_exporter. What each event counts is
// unit-tested (tests/unit/test_metrics.cpp); this shows the wiring.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "domain/version.hpp"
#include "harness.hpp"
#include "prometheus_format.hpp"
#include "sync/io/http_client.hpp"

using namespace rostersync::testing;
using namespace std::chrono_literals;

namespace {

std::string errors_of(const PromParse& p) {
  std::string out;
  for (const auto& e : p.errors) out += e + "\n";
  return out;
}

// The URL the daemon says it serves its metrics at ("" if it never says).
std::string metrics_url(rostersync::daemon::ChildProcess& daemon) {
  while (auto line = daemon.read_line(30s)) {
    const std::string marker = "metrics: serving ";
    if (auto at = line->find(marker); at != std::string::npos) return line->substr(at + marker.size());
  }
  return "";
}

}  // namespace

TEST(MetricsEndpoint, ARunningDaemonIsScrapedAndLeavesItsTextfileOnStop) {
  Simulator sim({"--contexts", "2", "--members", "30", "--mix"});
  Workspace ws;
  ws.configure(sim, course_jobs(2, "    interval: 1h\n"));
  {
    std::ifstream in(ws.config_path());
    std::stringstream yaml;
    yaml << in.rdbuf() << "metrics:\n  listen: 127.0.0.1:0\n  textfile: rostersync.prom\n  textfile_interval: 1s\n";
    ws.write("rostersync.yaml", yaml.str());
  }
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, true, true);
  auto first = daemon.read_line(30s);
  ASSERT_TRUE(first);
  EXPECT_TRUE(has(*first, std::string("rostersync ") + rostersync::kVersion + " starting")) << *first;
  std::string url = metrics_url(daemon);
  ASSERT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url;
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", 2, 30s));

  auto scraped = rostersync::sync::blocking_request({"GET", url, {}, ""});
  ASSERT_TRUE(scraped.ok()) << scraped.failure().describe();
  EXPECT_EQ(scraped->status, 200);
  EXPECT_TRUE(has(scraped->content_type, "version=0.0.4")) << scraped->content_type;
  PromParse p = parse_prometheus_text(scraped->body);
  ASSERT_TRUE(p.errors.empty()) << errors_of(p) << scraped->body;
  for (const char* job : {"course-1", "course-2"}) {
    EXPECT_EQ(p.value("rostersync_runs_total", {{"rostersync_job", job}, {"outcome", "ok"}}), 1) << job;
    EXPECT_GT(p.value("rostersync_last_success_timestamp_seconds", {{"rostersync_job", job}}), 1.7e9) << job;
    EXPECT_EQ(p.value("rostersync_memberships", {{"rostersync_job", job}, {"state", "created"}}),
              ws.count("SELECT count(*) FROM membership WHERE state='created' AND job='" + std::string(job) + "'"));
    EXPECT_EQ(p.value("rostersync_memberships_created_total", {{"rostersync_job", job}}),
              ws.count("SELECT created FROM run WHERE job='" + std::string(job) + "'"));
  }
  // Every request the simulator answered is counted under its endpoint.
  auto state = sim.state();
  EXPECT_EQ(p.value("rostersync_http_requests_total",
                    {{"peer", "ltiaas"}, {"endpoint", "ltiaas_memberships"}, {"status_class", "2xx"}}),
            state.at("page_requests").to_number<double>());
  EXPECT_EQ(p.value("rostersync_http_requests_total",
                    {{"peer", "its"}, {"endpoint", "createMemberships"}, {"status_class", "2xx"}}),
            state.at("calls").at("createMemberships").to_number<double>());
  EXPECT_EQ(p.value("rostersync_operations_in_flight", {{"target", "its"}}), 0);
  EXPECT_EQ(p.value("rostersync_build_info", {{"version", rostersync::kVersion}}), 1);

  auto other = rostersync::sync::blocking_request({"GET", url.substr(0, url.size() - 7) + "nothing", {}, ""});
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->status, 404);

  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(30s), 0);
  std::ifstream in(ws.dir() / "rostersync.prom");
  std::stringstream text;
  text << in.rdbuf();
  PromParse file = parse_prometheus_text(text.str());
  ASSERT_TRUE(file.errors.empty()) << errors_of(file) << text.str();
  EXPECT_EQ(file.value("rostersync_runs_total", {{"rostersync_job", "course-1"}, {"outcome", "ok"}}), 1);
}

// Idle local connections until the daemon runs out of file descriptors:
// the endpoint backs off and says so once (it spun at 80-98 % CPU), and
// scrapes work again when the descriptors are back.
TEST(MetricsEndpoint, RunningOutOfDescriptorsBacksOffAndSaysSoOnce) {
  Simulator sim({"--contexts", "1", "--members", "5"});
  Workspace ws;
  ws.configure(sim, course_jobs(1, "    interval: 1h\n"));
  {
    std::ifstream in(ws.config_path());
    std::stringstream yaml;
    yaml << in.rdbuf() << "metrics:\n  listen: 127.0.0.1:0\n";
    ws.write("rostersync.yaml", yaml.str());
  }
  rostersync::daemon::ChildProcess daemon(
      {"/usr/bin/prlimit", "--nofile=40:40", "--", ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, true, true);
  std::string url = metrics_url(daemon);
  ASSERT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url;
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", 1, 30s));
  const int port = std::stoi(url.substr(17, url.find('/', 17) - 17));
  std::vector<int> idle;
  for (int i = 0; i < 60; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<unsigned short>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    idle.push_back(fd);
  }
  std::string log;
  int told = 0;
  while (auto line = daemon.read_line(15s)) {
    log += *line + "\n";
    if (has(*line, "metrics: cannot accept a scrape")) ++told;
    if (told > 0) break;
  }
  EXPECT_EQ(told, 1) << log;
  for (int fd : idle) ::close(fd);
  // Descriptors back: a scrape is served again (once the backlog of closed connections is drained).
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    auto scraped = rostersync::sync::blocking_request({"GET", url, {}, ""});
    served = scraped.ok() && scraped->status == 200;
  }
  EXPECT_TRUE(served);
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(30s), 0);
  while (auto line = daemon.read_line(2s)) {
    if (has(*line, "metrics: cannot accept a scrape")) ++told;
  }
  EXPECT_EQ(told, 1) << "said once, not once per failed accept";
}
