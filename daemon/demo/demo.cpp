// `rostersync demo`: the whole pipeline against the local simulator, with a
// throwaway configuration, so a newcomer sees what rostersync does in seconds.
#include <boost/json.hpp>

#include <spdlog/spdlog.h>

#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "daemon/demo/child_process.hpp"
#include "daemon/demo/demo.hpp"
#include "daemon/commands.hpp"
#include "store/reports.hpp"
#include "sync/io/http_client.hpp"
#include "sync/platform/client_assertion.hpp"

namespace rostersync::daemon {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string find_simulator() {
  fs::path dir = self_dir();
  for (fs::path candidate : {dir / "rostersync-sim", dir.parent_path() / "sim" / "rostersync-sim"}) {
    if (fs::exists(candidate)) return candidate.string();
  }
  throw std::runtime_error("cannot find rostersync-sim next to " + dir.string());
}

// SkipReason order, in words for the summary.
constexpr const char* kSkipLabels[kSkipReasonCount] = {"inactive",      "TestUser",  "no person key", "invalid person key",
                                                       "unmapped role", "malformed", "outside the role filter"};

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
}

// Removes three Learners from the simulator's roster `key` and promotes a
// fourth; returns the user ids (the promoted one last), or none on failure.
std::vector<std::string> change_course(const std::string& base, const std::string& key) {
  auto rosters = sync::blocking_request({"GET", base + "/_sim/rosters", {}, ""});
  if (!rosters || rosters->status != 200) return {};
  boost::system::error_code ec;
  boost::json::value all = boost::json::parse(rosters->body, ec);
  const auto* roster = !ec && all.is_object() ? all.as_object().if_contains(key) : nullptr;
  if (!roster) return {};
  std::vector<std::string> learners;
  for (const auto& v : roster->as_object().at("members").as_array()) {
    const auto& m = v.as_object();
    const auto* uid = m.if_contains("user_id");
    const auto* sis = m.if_contains("lis_person_sourcedid");
    const auto* status = m.if_contains("status");
    const auto* roles = m.if_contains("roles");
    if (!uid || !uid->is_string() || !sis || !roles || !roles->is_array() || roles->as_array().size() != 1) continue;
    if (status && *status != "Active") continue;
    const auto& role = roles->as_array()[0];
    if (role.is_string() && std::string_view(role.as_string()).ends_with("membership#Learner")) {
      learners.emplace_back(uid->as_string());
    }
    if (learners.size() == 4) break;
  }
  if (learners.size() < 4) return {};
  for (int i = 0; i < 3; ++i) {
    auto r = sync::blocking_request({"DELETE", base + "/_sim/rosters/" + key + "/members/" + learners[i], {}, ""});
    if (!r || r->status != 200) return {};
  }
  auto r = sync::blocking_request({"POST", base + "/_sim/rosters/" + key + "/members/" + learners[3] + "/roles", {},
                                   R"(["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"])"});
  if (!r || r->status != 200) return {};
  return learners;
}

}  // namespace

int run_demo(const DemoOptions& options) {
  try {
    fs::path work = options.workdir;
    if (work.empty()) {
      std::string pattern = (fs::temp_directory_path() / "rostersync-demo-XXXXXX").string();
      if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a demo directory under /tmp");
      work = pattern;
    }
    fs::create_directories(work / "secrets");
    const std::string api_key = "demo-api-key-" + std::to_string(::getpid());
    const std::string password = "demo-password-" + std::to_string(::getpid());

    const bool platform = options.source == "platform";
    std::cout << "rostersync demo: " << options.contexts << " courses x " << options.members
              << " members, served by the local simulator ("
              << (platform ? "an LMS's own NRPS with OAuth2" : "LTIAAS") << " + itslearning IMS-ES)\n";
    std::vector<std::string> sim_args = {find_simulator(), "--port", "0", "--contexts", std::to_string(options.contexts),
                                         "--members", std::to_string(options.members), "--seed", "7", "--mix",
                                         "--api-key", api_key, "--imses-user", "demo-integration", "--imses-password",
                                         password, "--imses-latency-ms", "2"};
    if (platform) {
      // The tool's key pair, as a school makes it when registering the tool;
      // the simulated platform is given the public half.
      sync::GeneratedKey key = sync::generate_rsa_key(2048);
      write_file(work / "secrets" / "tool-private-key.pem", key.private_pem);
      write_file(work / "secrets" / "tool-public-key.pem", key.public_pem);
      sim_args.insert(sim_args.end(), {"--platform-public-key", (work / "secrets" / "tool-public-key.pem").string(),
                                       "--platform-client-id", "demo-tool", "--platform-key-id", "demo-key-1",
                                       "--platform-deployment-id", "demo-deployment", "--link-style", "canvas"});
    }
    ChildProcess sim(sim_args);
    auto banner = sim.read_line(10s);
    auto colon = banner ? banner->rfind(':') : std::string::npos;
    if (colon == std::string::npos) throw std::runtime_error("the simulator did not start");
    const std::string base = "http://127.0.0.1:" + banner->substr(colon + 1);

    write_file(work / "secrets" / "ltiaas-api-key", api_key + "\n");
    write_file(work / "secrets" / "imses-password", password + "\n");
    std::string yaml = "# Throwaway configuration written by `rostersync demo`.\n"
                       "state_db: state.db\nlog_level: warn\nsources:\n";
    if (platform) {
      yaml += "  lms:\n    kind: lti_platform\n    issuer: " + base + "\n    client_id: demo-tool\n"
              "    deployment_id: demo-deployment\n    token_url: " + base + "/platform/token\n"
              "    private_key_file: secrets/tool-private-key.pem\n    key_id: demo-key-1\n";
    } else {
      yaml += "  ltiaas:\n    base_url: " + base + "\n    api_key_file: secrets/ltiaas-api-key\n";
    }
    yaml += "targets:\n  itslearning:\n    endpoint: " + base +
            "/WCFServiceLibrary/MembershipManagementServiceSync.svc\n"
            "    username: demo-integration\n    password_file: secrets/imses-password\n"
            "jobs:\n";
    for (int c = 1; c <= options.contexts; ++c) {
      const std::string n = std::to_string(c);
      if (platform) {
        yaml += "  - name: course-" + n + "\n    source: lms\n    target: itslearning\n"
                "    memberships_url: " + base + "/platform/contexts/ctx-" + n + "/memberships\n";
      } else {
        std::string key_file = "secrets/course-" + n + ".key";
        write_file(work / key_file, "course-" + n + "-key\n");
        yaml += "  - name: course-" + n + "\n    source: ltiaas\n    target: itslearning\n"
                "    service_key_file: " + key_file + "\n";
      }
      yaml += "    hierarchy_id: demo-course-" + n + "\n    page_limit: 500\n    remove_departed: true\n    departure_grace: 1\n";
    }
    write_file(work / "rostersync.yaml", yaml);
    config::Config cfg = config::load_file((work / "rostersync.yaml").string());
    spdlog::set_level(spdlog::level::warn);

    for (int pass = 1; pass <= 2; ++pass) {
      std::cout << (pass == 1 ? "\nFirst pass: nothing provisioned yet\n" : "\nSecond pass: the same rosters again\n");
      std::int64_t before = fs::exists(cfg.state_db) ? store::Reports(cfg.state_db).latest_run_id() : 0;
      auto started = std::chrono::steady_clock::now();
      int rc = sync_once(cfg, std::nullopt, isatty(STDERR_FILENO));
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      store::PassTotals t = store::Reports(cfg.state_db).totals_since(before);
      std::printf("  %d members read, %d memberships created, %d already present, %d skipped, %d failed, %d pending (%.2fs)\n",
                  t.members, t.created, t.present, t.skipped_total(), t.failed, t.pending, secs);
      if (t.skipped_total() > 0) {
        std::printf("  skipped:");
        for (std::size_t i = 0; i < kSkipReasonCount; ++i) {
          if (t.skipped[i]) std::printf(" %s %d;", kSkipLabels[i], t.skipped[i]);
        }
        std::printf("\n");
      }
      if (pass == 2 && t.created == 0) std::printf("  nothing to do: every eligible member was already provisioned\n");
      if (rc != kExitOk) std::printf("  (pass %d did not end ok: exit code %d; see the run table)\n", pass, rc);
    }

    auto state = sync::blocking_request({"GET", base + "/_sim/state", {}, ""});
    if (state && state->status == 200) {
      auto doc = boost::json::parse(state->body).as_object();
      std::printf("\nThe itslearning simulator now holds %zu memberships, received in %lld IMS-ES calls "
                  "(at most %lld operations in flight).\n",
                  doc.at("memberships").as_array().size(), static_cast<long long>(doc.at("create_calls").to_number<double>()),
                  static_cast<long long>(doc.at("max_in_flight_ops").to_number<double>()));
      if (platform) {
        const auto& p = doc.at("platform").as_object();
        std::printf("The LMS issued %lld access token(s) for %lld NRPS page requests (one per pass: "
                    "the token is cached and shared by every course).\n",
                    static_cast<long long>(p.at("tokens_issued").to_number<double>()),
                    static_cast<long long>(p.at("nrps_requests").to_number<double>()));
      }
    }

    // The LMS changes: three students leave course-1 and one is promoted.
    // `rostersync plan` shows what the next sync would do, sending nothing.
    std::vector<std::string> changed = change_course(base, "course-1-key");
    if (!changed.empty()) {
      std::cout << "\nThen the LMS changes: in course-1, " << changed.size() - 1 << " students leave and "
                << changed.back() << " becomes an Instructor.\n`rostersync plan` shows what the next sync would do:\n\n";
      std::cout.flush();
      sync_once(cfg, std::string("course-1"), false, PlanOutput{true, false});
    }
    sim.signal(SIGTERM);
    sim.wait(5s);

    std::cout << "\nState database: " << cfg.state_db << "\n"
              << "Read it with, for example:\n"
              << "  sqlite3 -header -column " << cfg.state_db
              << " 'SELECT run_id, job, outcome, members_seen, created, already_present, failed FROM run'\n"
              << "  sqlite3 -header -column " << cfg.state_db
              << " 'SELECT membership_id, person_key, role_type, state FROM membership LIMIT 10'\n"
              << "Configuration used: " << (work / "rostersync.yaml").string() << "\n";
    return kExitOk;
  } catch (const std::exception& e) {
    std::cerr << "rostersync demo: " << e.what() << "\n";
    return kExitRuntime;
  }
}

}  // namespace rostersync::daemon
