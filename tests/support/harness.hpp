// Integration-test harness: the real rostersync-sim and rostersync binaries as
// child processes on 127.0.0.1 (port 0), a throwaway directory with secret
// files and a config, and read-only queries on the real state database.
#pragma once

#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "daemon/demo/child_process.hpp"

namespace rostersync::testing {

// True when `text` contains `part` (log lines, command output).
inline bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

inline constexpr const char* kApiKey = "it-api-key-5f1e";
inline constexpr const char* kImsesUser = "it-integration";
inline constexpr const char* kImsesPassword = "it-password-9c2d";

class Simulator {
 public:
  explicit Simulator(std::vector<std::string> extra_args);
  const std::string& base() const { return base_; }
  std::string endpoint() const { return base_ + "/WCFServiceLibrary/MembershipManagementServiceSync.svc"; }
  boost::json::object state() const;
  boost::json::object rosters() const;
  void post(const std::string& path, const std::string& json_body) const;
  // The member leaves the roster served under `service_key`.
  void remove_member(const std::string& service_key, const std::string& user_id) const;
  // The member's roles become the one LIS membership role `role` (e.g. "Instructor").
  void set_roles(const std::string& service_key, const std::string& user_id, const std::string& role) const;
  // The membership is deleted in itslearning behind rostersync's back.
  void delete_membership(const std::string& id) const;

 private:
  std::unique_ptr<daemon::ChildProcess> process_;
  std::string base_;
};

struct JobSpec {
  std::string name;
  std::string service_key;  // the simulator's roster key, e.g. course-1-key
  std::string hierarchy;
  std::string extra;        // more YAML lines for the job, each "    key: value\n"
};

class Workspace {
 public:
  Workspace();
  ~Workspace();
  const std::filesystem::path& dir() const { return dir_; }
  std::string db() const { return (dir_ / "state.db").string(); }
  std::string config_path() const { return (dir_ / "rostersync.yaml").string(); }

  void write(const std::string& name, const std::string& text) const;
  // Writes rostersync.yaml against the simulator; `target_extra` adds lines under the target.
  void configure(const Simulator& sim, const std::vector<JobSpec>& jobs, const std::string& target_extra = "",
                 const std::string& password = kImsesPassword, const std::string& source_extra = "") const;
  // Writes rostersync.yaml with an lti_platform source "lms" on the
  // simulator's platform side, with a fresh tool key (secrets/tool.pem)
  // whose public half it registers with the simulator; each job reads the
  // context of its roster key (course-<i>-key: ctx-<i>) by memberships_url.
  void configure_platform(const Simulator& sim, const std::vector<JobSpec>& jobs, const std::string& source_extra = "") const;
  // Writes rostersync.yaml with no jobs but a course registry in courses.d/
  // (polled every second) and `defaults` (YAML lines under job_defaults,
  // source and target given); courses come from write_course().
  void configure_registry(const Simulator& sim, const std::string& defaults) const;
  // courses.d/<name>.yaml for the simulator's roster `service_key`, plus `extra` lines.
  void write_course(const std::string& name, const std::string& service_key, const std::string& extra = "") const;
  // Runs `rostersync --config <cfg> <args...>` to completion; returns its exit code.
  int rostersync(const std::vector<std::string>& args) const;
  // Same, also returning what it printed on stdout (and stderr, with `with_stderr`).
  std::pair<int, std::string> rostersync_output(const std::vector<std::string>& args, bool with_stderr = false) const;

  // Read-only queries on the state database.
  long long count(const std::string& sql) const;
  std::vector<std::vector<std::string>> rows(const std::string& sql) const;
  // A write, for tests that stand in for the passage of time (never while rostersync runs).
  void exec(const std::string& sql) const;

 private:
  std::filesystem::path dir_;
};

// A Unix datagram socket the test binds, standing in for systemd's
// NOTIFY_SOCKET or journald's socket. Removed with the object.
class DatagramSocket {
 public:
  explicit DatagramSocket(const std::string& path);
  ~DatagramSocket();
  DatagramSocket(const DatagramSocket&) = delete;
  DatagramSocket& operator=(const DatagramSocket&) = delete;
  // Reads datagrams until one satisfies `match` or the deadline passes; keeps all in `seen`.
  bool wait_for(const std::function<bool(const std::string&)>& match, std::chrono::milliseconds deadline);
  // Reads every datagram already queued (after the sender exited, that is all it sent).
  void drain();
  std::vector<std::string> seen;

 private:
  std::string path_;
  int fd_ = -1;
};

// Polls the state database until `sql` counts at least `n`; false at the deadline.
bool wait_for_count(const Workspace& ws, const std::string& sql, long long n, std::chrono::seconds deadline);

// The simulator's memberships as (group, person, roleType), and how many ids it holds.
std::set<std::tuple<std::string, std::string, std::string>> sim_memberships(const Simulator& sim, std::size_t* ids = nullptr);

// The simulator's generated jobs course-1..course-n mapped to hierarchies h-1..h-n.
std::vector<JobSpec> course_jobs(int n, const std::string& extra = "");

// Expected memberships (group, person, roleType) computed independently from
// the simulator's rosters with the default rules; `jobs` maps roster key -> hierarchy.
std::set<std::tuple<std::string, std::string, std::string>> expected_memberships(
    const boost::json::object& rosters, const std::map<std::string, std::string>& hierarchy_of_key);

// What course_jobs(n) maps: roster key course-<i>-key -> hierarchy h-<i>.
std::map<std::string, std::string> course_hierarchies(int n);

// The end state every convergence test requires after syncing course_jobs(n):
// itslearning holds exactly the expected memberships, no pair has a second id
// (in the simulator or the database), and every id it holds is stored as created.
void expect_exact_state(const Simulator& sim, const Workspace& ws, int courses);
// The same where rosters (service keys) feed the groups `groups` maps them to, several to one group.
void expect_exact_state(const Simulator& sim, const Workspace& ws, const std::map<std::string, std::string>& groups);

}  // namespace rostersync::testing
