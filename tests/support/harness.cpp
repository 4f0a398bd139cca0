#include <algorithm>
#include <iterator>
#include "harness.hpp"

#include "sync/platform/client_assertion.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "sync/io/http_client.hpp"

namespace rostersync::testing {
namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;

Simulator::Simulator(std::vector<std::string> extra_args) {
  std::vector<std::string> argv = {ROSTERSYNC_SIM_BIN, "--port", "0", "--api-key", kApiKey, "--imses-user", kImsesUser,
                                   "--imses-password", kImsesPassword};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<daemon::ChildProcess>(argv);
  auto banner = process_->read_line(20s);
  if (!banner || banner->rfind("rostersync-sim listening on 127.0.0.1:", 0) != 0) {
    throw std::runtime_error("simulator did not start");
  }
  base_ = "http://127.0.0.1:" + banner->substr(banner->rfind(':') + 1);
}

namespace {
std::string get_or_throw(const std::string& url) {
  auto r = sync::blocking_request({"GET", url, {}, ""});
  if (!r || r->status != 200) throw std::runtime_error("GET " + url + " failed");
  return r->body;
}
}  // namespace

json::object Simulator::state() const { return json::parse(get_or_throw(base_ + "/_sim/state")).as_object(); }
json::object Simulator::rosters() const { return json::parse(get_or_throw(base_ + "/_sim/rosters")).as_object(); }

void Simulator::post(const std::string& path, const std::string& json_body) const {
  auto r = sync::blocking_request({"POST", base_ + path, {{"Content-Type", "application/json"}}, json_body});
  if (!r || r->status != 200) throw std::runtime_error("POST " + path + " failed");
}

void Simulator::remove_member(const std::string& service_key, const std::string& user_id) const {
  auto r = sync::blocking_request({"DELETE", base_ + "/_sim/rosters/" + service_key + "/members/" + user_id, {}, ""});
  if (!r || r->status != 200) throw std::runtime_error("removing " + user_id + " from " + service_key + " failed");
}

void Simulator::set_roles(const std::string& service_key, const std::string& user_id, const std::string& role) const {
  post("/_sim/rosters/" + service_key + "/members/" + user_id + "/roles",
       "[\"http://purl.imsglobal.org/vocab/lis/v2/membership#" + role + "\"]");
}

void Simulator::delete_membership(const std::string& id) const {
  auto r = sync::blocking_request({"DELETE", base_ + "/_sim/memberships/" + id, {}, ""});
  if (!r || r->status != 200) throw std::runtime_error("deleting membership " + id + " failed");
}

Workspace::Workspace() {
  std::string pattern = (fs::temp_directory_path() / "rostersync-it-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
}

Workspace::~Workspace() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void Workspace::write(const std::string& name, const std::string& text) const {
  fs::create_directories((dir_ / name).parent_path());
  std::ofstream(dir_ / name) << text;
}

void Workspace::configure(const Simulator& sim, const std::vector<JobSpec>& jobs, const std::string& target_extra,
                          const std::string& password, const std::string& source_extra) const {
  write("secrets/api-key", std::string(kApiKey) + "\n");
  write("secrets/password", password + "\n");
  std::string y = "state_db: state.db\nlog_level: info\ncontrol_socket: control.sock\n"
                  "sources:\n  ltiaas:\n    base_url: " + sim.base() + "\n    api_key_file: secrets/api-key\n" + source_extra +
                  "targets:\n  its:\n    endpoint: " + sim.endpoint() + "\n    username: " + kImsesUser +
                  "\n    password_file: secrets/password\n    retry_delay: 50ms\n" + target_extra + "jobs:\n";
  for (const auto& j : jobs) {
    write("secrets/" + j.name + ".key", j.service_key + "\n");
    y += "  - name: " + j.name + "\n    source: ltiaas\n    target: its\n    service_key_file: secrets/" + j.name +
         ".key\n    hierarchy_id: " + j.hierarchy + "\n" + j.extra;
  }
  write("rostersync.yaml", y);
}

void Workspace::configure_platform(const Simulator& sim, const std::vector<JobSpec>& jobs,
                                   const std::string& source_extra) const {
  sync::GeneratedKey key = sync::generate_rsa_key(2048);
  write("secrets/tool.pem", key.private_pem);
  write("secrets/tool.pub", key.public_pem);
  sim.post("/_sim/platform", json::serialize(json::object{{"public_key_pem", key.public_pem}}));
  write("secrets/password", std::string(kImsesPassword) + "\n");
  std::string y = "state_db: state.db\nlog_level: info\ncontrol_socket: control.sock\n"
                  "sources:\n  lms:\n    kind: lti_platform\n    issuer: " + sim.base() +
                  "\n    client_id: sim-client\n    deployment_id: sim-deployment\n    token_url: " + sim.base() +
                  "/platform/token\n    private_key_file: secrets/tool.pem\n    key_id: sim-kid\n"
                  "    retry_delay: 50ms\n" + source_extra +
                  "targets:\n  its:\n    endpoint: " + sim.endpoint() + "\n    username: " + kImsesUser +
                  "\n    password_file: secrets/password\n    retry_delay: 50ms\njobs:\n";
  for (const auto& j : jobs) {
    std::string context = j.service_key;  // course-<i>-key -> ctx-<i>
    context = "ctx-" + context.substr(7, context.size() - 11);
    y += "  - name: " + j.name + "\n    source: lms\n    target: its\n    memberships_url: " + sim.base() +
         "/platform/contexts/" + context + "/memberships\n    hierarchy_id: " + j.hierarchy + "\n" + j.extra;
  }
  write("rostersync.yaml", y);
}

void Workspace::configure_registry(const Simulator& sim, const std::string& defaults) const {
  write("secrets/api-key", std::string(kApiKey) + "\n");
  write("secrets/password", std::string(kImsesPassword) + "\n");
  fs::create_directories(dir_ / "courses.d");
  write("rostersync.yaml", "state_db: state.db\nlog_level: info\ncontrol_socket: control.sock\n"
                           "sources:\n  ltiaas:\n    base_url: " + sim.base() + "\n    api_key_file: secrets/api-key\n"
                           "targets:\n  its:\n    endpoint: " + sim.endpoint() + "\n    username: " + kImsesUser +
                           "\n    password_file: secrets/password\n    retry_delay: 50ms\n"
                           "registry:\n  path: courses.d\n  poll_interval: 1s\n"
                           "job_defaults:\n  source: ltiaas\n  target: its\n  jitter: 0s\n" + defaults);
}

void Workspace::write_course(const std::string& name, const std::string& service_key, const std::string& extra) const {
  write("courses.d/" + name + ".key", service_key + "\n");
  write("courses.d/" + name + ".yaml", "name: " + name + "\nservice_key_file: " + name + ".key\n" + extra);
}

int Workspace::rostersync(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {ROSTERSYNC_BIN, "--config", config_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  daemon::ChildProcess p(argv, false);
  auto rc = p.wait(240s);
  if (!rc) throw std::runtime_error("rostersync did not finish within 240 s");
  return *rc;
}

std::pair<int, std::string> Workspace::rostersync_output(const std::vector<std::string>& args, bool with_stderr) const {
  std::vector<std::string> argv = {ROSTERSYNC_BIN, "--config", config_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  daemon::ChildProcess p(argv, true, with_stderr);
  std::string out;
  while (auto line = p.read_line(60s)) out += *line + "\n";
  auto rc = p.wait(60s);
  if (!rc) throw std::runtime_error("rostersync did not finish");
  return {*rc, out};
}

std::vector<std::vector<std::string>> Workspace::rows(const std::string& sql) const {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(this->db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + this->db());
  }
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(db);
    sqlite3_close(db);
    throw std::runtime_error(sql + ": " + msg);
  }
  std::vector<std::vector<std::string>> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      auto* t = sqlite3_column_text(st, i);
      row.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
    }
    out.push_back(std::move(row));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

void Workspace::exec(const std::string& sql) const {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(this->db().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + this->db());
  }
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string msg = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw std::runtime_error(sql + ": " + msg);
}

long long Workspace::count(const std::string& sql) const {
  auto r = rows(sql);
  return r.empty() || r[0].empty() ? -1 : std::stoll(r[0][0]);
}

bool wait_for_count(const Workspace& ws, const std::string& sql, long long n, std::chrono::seconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    try {
      if (fs::exists(ws.db()) && ws.count(sql) >= n) return true;
    } catch (const std::exception&) {  // the schema may not exist yet
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

std::set<std::tuple<std::string, std::string, std::string>> sim_memberships(const Simulator& sim, std::size_t* ids) {
  std::set<std::tuple<std::string, std::string, std::string>> out;
  auto all = sim.state().at("memberships").as_array();
  for (const auto& v : all) {
    const auto& m = v.as_object();
    out.emplace(std::string(m.at("group").as_string()), std::string(m.at("person").as_string()),
                std::string(m.at("role").as_string()));
  }
  if (ids) *ids = all.size();
  return out;
}

std::vector<JobSpec> course_jobs(int n, const std::string& given) {
  // A new job is due within its jitter: none here, so that tests see the first run at once.
  std::string extra = given.find("jitter:") == std::string::npos ? given + "    jitter: 0s\n" : given;
  // The create path's tests count IMS-ES calls and aim faults at the n-th
  // one; adoption's read (on by default) has tests of its own (test_upkeep).
  if (given.find("adopt_existing:") == std::string::npos) extra += "    adopt_existing: false\n";
  std::vector<JobSpec> jobs;
  for (int c = 1; c <= n; ++c) {
    jobs.push_back({"course-" + std::to_string(c), "course-" + std::to_string(c) + "-key", "h-" + std::to_string(c), extra});
  }
  return jobs;
}

std::map<std::string, std::string> course_hierarchies(int n) {
  std::map<std::string, std::string> out;
  for (int c = 1; c <= n; ++c) out["course-" + std::to_string(c) + "-key"] = "h-" + std::to_string(c);
  return out;
}

void expect_exact_state(const Simulator& sim, const Workspace& ws, int courses) {
  expect_exact_state(sim, ws, course_hierarchies(courses));
}

void expect_exact_state(const Simulator& sim, const Workspace& ws, const std::map<std::string, std::string>& groups) {
  auto expected = expected_memberships(sim.rosters(), groups);
  std::size_t ids = 0;
  auto found = sim_memberships(sim, &ids);
  EXPECT_EQ(found, expected);
  if (found != expected) {
    std::vector<std::tuple<std::string, std::string, std::string>> extra, missing;
    std::set_difference(found.begin(), found.end(), expected.begin(), expected.end(), std::back_inserter(extra));
    std::set_difference(expected.begin(), expected.end(), found.begin(), found.end(), std::back_inserter(missing));
    auto show = [](const auto& v) {
      std::string out;
      for (std::size_t i = 0; i < v.size() && i < 8; ++i) {
        out += " (" + std::get<0>(v[i]) + ", " + std::get<1>(v[i]) + ", " + std::get<2>(v[i]) + ")";
      }
      return std::to_string(v.size()) + ":" + out;
    };
    ADD_FAILURE() << "in itslearning, not expected: " << show(extra) << "\nexpected, not in itslearning: " << show(missing);
  }
  EXPECT_EQ(ids, expected.size()) << "a pair got a second id";
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE state='created'"), static_cast<long long>(expected.size()));
  EXPECT_EQ(ws.count("SELECT count(*) FROM (SELECT hierarchy_id, person_key FROM membership "
                     "GROUP BY 1, 2 HAVING count(*) > 1)"), 0);
  std::set<std::string> created;
  for (const auto& row : ws.rows("SELECT membership_id FROM membership WHERE state='created'")) created.insert(row[0]);
  json::object state = sim.state();  // kept: a range-for over a temporary's member would dangle
  for (const auto& v : state.at("memberships").as_array()) {
    std::string id(v.as_object().at("id").as_string());
    EXPECT_TRUE(created.count(id)) << "itslearning holds " << id << ", not stored as created";
  }
}

std::set<std::tuple<std::string, std::string, std::string>> expected_memberships(
    const json::object& rosters, const std::map<std::string, std::string>& hierarchy_of_key) {
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  // One membership per (group, person): where several rosters feed a group,
  // the first-ranking role wins (Instructor, TeachingAssistant, Learner).
  std::map<std::pair<std::string, std::string>, std::string> merged;
  auto rank = [](const std::string& r) { return r == "Instructor" ? 0 : r == "TeachingAssistant" ? 1 : 2; };
  for (const auto& [key, hierarchy] : hierarchy_of_key) {
    for (const auto& v : rosters.at(key).as_object().at("members").as_array()) {
      const auto& m = v.as_object();
      if (m.contains("status") && m.at("status").as_string() != "Active") continue;
      std::string person;
      for (const char* k : {"lis_person_sourcedid", "lisPersonSourcedid"}) {
        if (m.contains(k)) person = std::string(m.at(k).as_string());
      }
      if (person.empty()) continue;
      bool test_user = false, ta = false, instructor = false, learner = false;
      for (const auto& r : m.at("roles").as_array()) {
        std::string role(r.as_string());
        test_user |= ends_with(role, "#TestUser");
        ta |= ends_with(role, "/Instructor#TeachingAssistant");
        instructor |= ends_with(role, "membership#Instructor");
        learner |= ends_with(role, "membership#Learner");
      }
      if (test_user) continue;
      std::string role = ta ? "TeachingAssistant" : instructor ? "Instructor" : learner ? "Learner" : "";
      if (role.empty()) continue;
      auto [it, fresh] = merged.emplace(std::pair{hierarchy, person}, role);
      if (!fresh && rank(role) < rank(it->second)) it->second = role;
    }
  }
  std::set<std::tuple<std::string, std::string, std::string>> out;
  for (const auto& [pair, role] : merged) out.emplace(pair.first, pair.second, role);
  return out;
}

DatagramSocket::DatagramSocket(const std::string& path) : path_(path) {
  fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind " + path);
}

DatagramSocket::~DatagramSocket() {
  close(fd_);
  unlink(path_.c_str());
}

void DatagramSocket::drain() {
  std::string buf(64 * 1024, '\0');
  for (ssize_t n; (n = recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT)) > 0;) seen.emplace_back(buf.data(), static_cast<std::size_t>(n));
}

bool DatagramSocket::wait_for(const std::function<bool(const std::string&)>& match, std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    std::string buf(64 * 1024, '\0');
    ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    if (n <= 0) continue;
    buf.resize(static_cast<std::size_t>(n));
    seen.push_back(std::move(buf));
    if (match(seen.back())) return true;
  }
  return false;
}

}  // namespace rostersync::testing
