// `make bench`: rostersync against its own simulator, measured from outside.
//
// Each scenario starts rostersync-sim (with added latency where a bound is
// measured) and runs `rostersync sync` as a child process, timed with a
// steady clock and wait4()'s rusage (CPU and peak RSS of rostersync alone;
// the simulator runs in its own process). Prints one table. Not a test: the
// figures depend on the machine; the README keeps the last table.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "daemon/demo/child_process.hpp"
#include "sync/io/http_client.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using rostersync::daemon::ChildProcess;

struct Measured {
  double wall = 0;    // seconds
  double cpu = 0;     // user + system seconds of rostersync
  long rss_kb = 0;    // peak resident set of rostersync
  int status = -1;
};

Measured run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto started = std::chrono::steady_clock::now();
  pid_t pid = 0;
  // Its stdout (a status table of thousands of rows) is not the bench's.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  Measured m;
  m.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  m.cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
  m.rss_kb = usage.ru_maxrss;
  m.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return m;
}

void write(const fs::path& path, const std::string& text, bool secret = false) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
  if (secret) fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
}

struct Scenario {
  int courses = 1;
  int members = 10;
  int ltiaas_ms = 0;
  int imses_ms = 0;
  int budget = 10;
  int batch = 10;
  int walks = 4;
  int page_limit = 100;
  bool mix = true;  // inactive, TestUser, keyless and unmapped members too, as a real roster has
};

// One simulator and one state directory for a scenario's passes.
class Bench {
 public:
  Bench(const std::string& bin_dir, const fs::path& dir, const Scenario& s) : dir_(dir), s_(s) {
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "courses.d");
    std::vector<std::string> sim_argv = {
        bin_dir + "/../sim/rostersync-sim", "--port", "0", "--contexts", std::to_string(s.courses), "--members",
        std::to_string(s.members), "--seed", "7", "--api-key", "bench-key", "--imses-user", "bench",
        "--imses-password", "bench-pw", "--imses-latency-ms", std::to_string(s.imses_ms), "--ltiaas-latency-ms",
        std::to_string(s.ltiaas_ms)};
    if (s.mix) sim_argv.push_back("--mix");
    sim_ = std::make_unique<ChildProcess>(sim_argv);
    auto banner = sim_->read_line(120s);
    if (!banner) throw std::runtime_error("the simulator did not start");
    base_ = "http://127.0.0.1:" + banner->substr(banner->rfind(':') + 1);
    write(dir_ / "api-key", "bench-key\n", true);
    write(dir_ / "password", "bench-pw\n", true);
    write(dir_ / "rostersync.yaml",
          "state_db: state.db\nlog_level: warn\ncontrol_socket: \"\"\n"
          "sources:\n  ltiaas:\n    base_url: " + base_ + "\n    api_key_file: api-key\n    max_concurrent_walks: " +
              std::to_string(s.walks) + "\n"
          "targets:\n  its:\n    endpoint: " + base_ + "/WCFServiceLibrary/MembershipManagementServiceSync.svc\n"
          "    username: bench\n    password_file: password\n    in_flight_budget: " + std::to_string(s.budget) +
              "\n    batch_size: " + std::to_string(s.batch) + "\n"
          "registry:\n  path: courses.d\n"
          "job_defaults:\n  source: ltiaas\n  target: its\n  hierarchy_id: \"bench-{name}\"\n  page_limit: " +
              std::to_string(s.page_limit) + "\n  max_pages: 100000\n  max_members: 10000000\n");
    for (int c = 1; c <= s.courses; ++c) {
      write(dir_ / "courses.d" / ("course-" + std::to_string(c) + ".yaml"),
            "name: course-" + std::to_string(c) + "\nservice_key: course-" + std::to_string(c) + "-key\n", true);
    }
    bin_ = bin_dir + "/rostersync";
  }
  ~Bench() {
    sim_->signal(SIGTERM);
    sim_->wait(10s);
    fs::remove_all(dir_);
  }

  // `rostersync <args>` against this scenario's configuration.
  Measured command(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {bin_, "--config", (dir_ / "rostersync.yaml").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  Measured pass() {
    Measured m = run({bin_, "--config", (dir_ / "rostersync.yaml").string(), "sync"});
    if (m.status != 0) std::fprintf(stderr, "warning: rostersync sync exited %d\n", m.status);
    return m;
  }
  long members() const { return static_cast<long>(s_.courses) * s_.members; }

  // The round trip a client sees (the simulator's added latency plus its own
  // work and the loopback), median of 7: the bounds are computed from it.
  double rtt(bool imses) const {
    std::vector<double> samples;
    for (int i = 0; i < 7; ++i) {
      rostersync::HttpRequest request;
      if (imses) {
        request = {"POST", base_ + "/WCFServiceLibrary/MembershipManagementServiceSync.svc",
                   {{"Content-Type", "text/xml; charset=utf-8"}, {"SOAPAction", "\"bench\""}}, "<x/>"};
      } else {
        request = {"GET", base_ + "/api/memberships?limit=1", {{"Authorization", "SERVICE-AUTH-V1 bench-key:course-1-key"}}, ""};
      }
      auto started = std::chrono::steady_clock::now();
      auto response = rostersync::sync::blocking_request(request);
      samples.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      if (!response) throw std::runtime_error("RTT probe failed: " + response.failure().message);
    }
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2];
  }

 private:
  fs::path dir_;
  Scenario s_;
  std::unique_ptr<ChildProcess> sim_;
  std::string base_;
  std::string bin_;
};

void row(const std::string& what, const Measured& m, long members, const std::string& bound = "") {
  std::printf("| %-48s | %8.2f s | %7.2f us | %10.0f | %6.1f MB | %-30s |\n", what.c_str(), m.wall, m.cpu / members * 1e6,
              members / m.wall, m.rss_kb / 1024.0, bound.c_str());
  std::fflush(stdout);
}

// A command's wall time alone (no members behind it).
void timing_row(const std::string& what, const Measured& m) {
  std::printf("| %-48s | %8.2f s | %10s | %10s | %6.1f MB | %-30s |\n", what.c_str(), m.wall, "", "", m.rss_kb / 1024.0,
              "");
  std::fflush(stdout);
}

std::string ratio(double wall, double bound, double rtt) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.2f (%.1f s at RTT %.1f ms)", wall / bound, bound, rtt * 1000);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  // rostersync-bench [BIN_DIR] [--quick] [--only passes|writes|reads|memory]
  std::string bin_dir = rostersync::daemon::self_dir() + "/../daemon";
  bool quick = false;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") quick = true;  // no 1M-member course
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else bin_dir = a;
  }
  auto wanted = [&](const char* group) { return only.empty() || only == group; };
  fs::path work = fs::temp_directory_path() / ("rostersync-bench-" + std::to_string(::getpid()));
  std::printf("| %-48s | %10s | %10s | %10s | %9s | %-30s |\n", "scenario", "wall", "CPU/member", "members/s", "peak RSS",
              "wall / bound");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(50, '-').c_str(), std::string(12, '-').c_str(),
              std::string(12, '-').c_str(), std::string(12, '-').c_str(), std::string(11, '-').c_str(),
              std::string(32, '-').c_str());
  try {
    for (auto [courses, members] : {std::pair{100, 1000}, std::pair{3000, 30}}) {
      if (!wanted("passes")) break;
      Bench b(bin_dir, work, {courses, members});
      std::string size = std::to_string(courses) + " x " + std::to_string(members);
      row("initial sync, " + size, b.pass(), b.members());
      row("no-change pass, " + size, b.pass(), b.members());
      if (courses >= 1000) {
        timing_row("check-config, " + std::to_string(courses) + " registered courses", b.command({"check-config", "--quiet"}));
        Measured status = b.command({"status"});
        timing_row("status, " + std::to_string(courses) + " registered courses", status);
      }
    }
    if (wanted("writes")) {
      // The write side: fewer than `budget` operations in flight at RTT.
      Scenario s{1, 10'000, 0, 20, 10, 10, 4, 100, false};
      Bench b(bin_dir, work, s);
      const double rtt = b.rtt(true);
      Measured m = b.pass();
      row("10,000 creates, IMS-ES RTT 20 ms, budget 10", m, b.members(), ratio(m.wall, 10'000 * rtt / 10, rtt));
    }
    if (wanted("reads")) {
      // The read side: each course's `next` chain, `walks` at a time.
      Scenario s{3000, 30, 20, 0, 10, 10, 4, 100, false};
      Bench b(bin_dir, work, s);
      const double rtt = b.rtt(false);
      const double bound = 3000 * rtt / 4;  // one page per course
      Measured initial = b.pass();
      row("initial, 3,000 x 30, LTIAAS RTT 20 ms, 4 walks", initial, b.members(), ratio(initial.wall, bound, rtt));
      Measured again = b.pass();
      row("no-change, 3,000 x 30, LTIAAS RTT 20 ms, 4 walks", again, b.members(), ratio(again.wall, bound, rtt));
    }
    for (int members : {10'000, 100'000, 1'000'000}) {
      if (!wanted("memory") || (quick && members > 100'000)) break;
      // Memory: one course, its whole initial sync (batches of 50, the most itslearning takes).
      Scenario s{1, members, 0, 0, 50, 50, 1, 1000, false};
      Bench b(bin_dir, work, s);
      row("peak RSS, one course of " + std::to_string(members) + ", initial", b.pass(), b.members());
    }
  } catch (const std::exception& e) {
    std::cerr << "bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
