// The read-only operator commands on a populated state database, in both
// output forms, run as the real binary.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.hpp"
#include "sync/platform/client_assertion.hpp"
#include "store/store.hpp"

using namespace rostersync::testing;
namespace json = boost::json;

namespace {

class OperatorCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sim_ = new Simulator({"--contexts", "2", "--members", "20"});
    ws_ = new Workspace();
    // One course-1-only member whose person itslearning does not know.
    sim_->post("/_sim/rosters/course-1-key/members",
               R"([{"user_id":"ghost","lis_person_sourcedid":"sis-ghost","roles":["Learner"]}])");
    sim_->post("/_sim/faults", R"({"reject_persons": ["sis-ghost"]})");
    // One course-2 member whose fields carry terminal escapes (skipped: its
    // person key is not valid XML text).
    sim_->post("/_sim/rosters/course-2-key/members",
               R"([{"user_id":"evil\u001b[2J\nforged","lis_person_sourcedid":"sis-evil\u0007","roles":["Learner"]}])");
    ws_->configure(*sim_, course_jobs(2));
    ASSERT_EQ(ws_->rostersync({"sync"}), 1);  // course-1 ends partial
  }
  static void TearDownTestSuite() {
    delete ws_;
    delete sim_;
  }
  static json::array json_of(const std::vector<std::string>& args) {
    auto [rc, out] = ws_->rostersync_output(args);
    EXPECT_EQ(rc, 0) << out;
    return json::parse(out).as_array();
  }
  static Simulator* sim_;
  static Workspace* ws_;
};
Simulator* OperatorCli::sim_ = nullptr;
Workspace* OperatorCli::ws_ = nullptr;

long long num(const json::value& v, const char* key) { return v.as_object().at(key).as_int64(); }
std::string str(const json::value& v, const char* key) { return std::string(v.as_object().at(key).as_string()); }

}  // namespace

TEST_F(OperatorCli, StatusPerJob) {
  auto rows = json_of({"status", "--json"});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(str(rows[0], "job"), "course-1");
  EXPECT_EQ(str(rows[0], "last_outcome"), "partial");
  EXPECT_EQ(num(rows[0], "members"), 21);
  EXPECT_EQ(num(rows[0], "created"), 20);
  EXPECT_EQ(num(rows[0], "waiting"), 1);  // refused once: tried again later, not parked yet
  EXPECT_EQ(num(rows[0], "parked"), 0);
  EXPECT_TRUE(rows[0].as_object().at("schedule").is_null()) << "`sync` plans no next run";
  EXPECT_EQ(num(rows[0], "pending"), 0);
  EXPECT_TRUE(rows[0].as_object().at("hold").is_null());
  EXPECT_EQ(str(rows[1], "last_outcome"), "ok");
  EXPECT_EQ(num(rows[1], "created"), 20);
  auto [rc, table] = ws_->rostersync_output({"status"});
  EXPECT_EQ(rc, 0);
  EXPECT_NE(table.find("last_outcome"), std::string::npos) << table;
  EXPECT_NE(table.find("partial"), std::string::npos) << table;
}

TEST_F(OperatorCli, TablesFitTheTerminalUnlessWide) {
  for (const char* columns : {"80", "120"}) {
    setenv("COLUMNS", columns, 1);
    for (const char* cmd : {"status", "runs", "failures"}) {
      auto [rc, table] = ws_->rostersync_output({cmd});
      EXPECT_EQ(rc, 0);
      std::istringstream lines(table);
      for (std::string line; std::getline(lines, line);) {
        EXPECT_LE(line.size(), static_cast<std::size_t>(std::atoi(columns))) << cmd << " at " << columns << ": " << line;
      }
    }
  }
  setenv("COLUMNS", "80", 1);
  auto [rc, wide] = ws_->rostersync_output({"failures", "--wide"});
  auto [rc2, narrow] = ws_->rostersync_output({"runs"});
  unsetenv("COLUMNS");
  EXPECT_EQ(rc, 0);
  EXPECT_NE(wide.find("PersonNotFound=sis-ghost"), std::string::npos) << wide;  // the whole last_error
  EXPECT_EQ(wide.rfind("job ", 0), 0u) << "--wide is a table: " << wide;
  // 15 columns cannot fit 80: one "column  value" line per cell instead.
  EXPECT_EQ(rc2, 0);
  EXPECT_NE(narrow.find("\nmembers_seen     21\n"), std::string::npos) << narrow;
}

TEST_F(OperatorCli, RunsNewestFirstWithLimitAndJobFilter) {
  auto rows = json_of({"runs", "--json", "--job", "course-1", "--limit", "1"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(str(rows[0], "job"), "course-1");
  EXPECT_EQ(num(rows[0], "failed"), 1);
  EXPECT_EQ(num(rows[0], "created"), 20);
  EXPECT_EQ(json_of({"runs", "--json"}).size(), 2u);
  auto [rc, table] = ws_->rostersync_output({"runs"});
  EXPECT_EQ(rc, 0);
  EXPECT_NE(table.find("members_seen"), std::string::npos) << table;
}

TEST_F(OperatorCli, MembersShowsIdsAndStates) {
  auto rows = json_of({"members", "--job", "course-1", "--json"});
  ASSERT_EQ(rows.size(), 21u);
  int failed = 0;
  for (const auto& r : rows) {
    if (str(r, "person_key") == "sis-ghost") {
      EXPECT_EQ(str(r, "state"), "waiting");
      EXPECT_EQ(str(r, "membership_id"), "rs:9:sis-ghost:h-1");
      ++failed;
    } else {
      EXPECT_EQ(str(r, "state"), "created");
    }
  }
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(ws_->rostersync({"members"}), 2);  // --job is required
  EXPECT_EQ(ws_->rostersync({"members", "--job", "nope"}), 2);
}

TEST_F(OperatorCli, AnUnknownJobIsAConfigurationErrorForEveryCommand) {
  for (const char* cmd : {"status", "runs", "members", "failures", "retry"}) {
    auto [rc, out] = ws_->rostersync_output({cmd, "--job", "nosuch"}, true);
    EXPECT_EQ(rc, 2) << cmd;
    EXPECT_TRUE(has(out, "no job named 'nosuch'")) << cmd << ": " << out;
  }
  auto [rc, out] = ws_->rostersync_output({"--version"});
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "rostersync 0.1.0\n");
}

TEST_F(OperatorCli, TablesNeverPassControlCharactersToTheTerminal) {
  auto rows = json_of({"members", "--job", "course-2", "--json"});
  ASSERT_EQ(rows.size(), 21u);
  // A skipped member shows why, not "pending".
  int skipped = 0;
  for (const auto& r : rows) {
    if (str(r, "outcome") == "invalid_person_key") {
      EXPECT_EQ(str(r, "state"), "skipped: invalid_person_key");
      ++skipped;
    }
  }
  EXPECT_EQ(skipped, 1);
  auto [rc, table] = ws_->rostersync_output({"members", "--job", "course-2"});
  EXPECT_EQ(rc, 0);
  EXPECT_NE(table.find("evil [2J forged"), std::string::npos) << table;
  EXPECT_NE(table.find("invalid_person_key"), std::string::npos) << table;
  EXPECT_EQ(table.find('\x1b'), std::string::npos);
  EXPECT_EQ(table.find('\a'), std::string::npos);
}

TEST_F(OperatorCli, FailuresCarryTheLastError) {
  auto rows = json_of({"failures", "--json"});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(str(rows[0], "person_key"), "sis-ghost");
  EXPECT_EQ(num(rows[0], "attempts"), 1);
  EXPECT_EQ(num(rows[0], "refusals"), 1);
  EXPECT_EQ(str(rows[0], "state"), "waiting");
  EXPECT_GT(str(rows[0], "next_try"), str(rows[0], "updated_at"));  // its own next attempt, item_retry_delay away
  EXPECT_NE(str(rows[0], "last_error").find("PersonNotFound=sis-ghost"), std::string::npos);
  EXPECT_TRUE(json_of({"failures", "--json", "--job", "course-2"}).empty());
  auto [rc, table] = ws_->rostersync_output({"failures"});
  EXPECT_EQ(rc, 0);
  EXPECT_NE(table.find("failure/error PersonNotFound"), std::string::npos) << table;  // long cells are cut at 60
}

TEST_F(OperatorCli, CheckConfigMasksSecretsAndRejectsBadFiles) {
  auto [rc, out] = ws_->rostersync_output({"check-config", "--json"});
  ASSERT_EQ(rc, 0) << out;
  auto cfg = json::parse(out).as_object();
  EXPECT_EQ(cfg.at("jobs").as_array().size(), 2u);
  // The YAML file's key names, every effective setting.
  EXPECT_EQ(std::string(cfg.at("targets").at("its").at("password_file").as_string()).rfind("(secret from ", 0), 0u);
  EXPECT_EQ(cfg.at("targets").at("its").at("retry_delay").as_string(), "50ms");
  EXPECT_EQ(cfg.at("shutdown_grace").as_string(), "10s");
  EXPECT_TRUE(cfg.at("control_socket").as_string().ends_with("control.sock"));
  for (const char* secret : {kApiKey, kImsesPassword, "course-1-key"}) EXPECT_EQ(out.find(secret), std::string::npos) << secret;
  auto [rc2, human] = ws_->rostersync_output({"check-config"});
  EXPECT_EQ(rc2, 0);
  EXPECT_NE(human.find("configuration OK"), std::string::npos);
  EXPECT_EQ(human.find(kImsesPassword), std::string::npos);
  ws_->write("broken.yaml", "state_db: [\n");
  EXPECT_EQ(ws_->rostersync({"check-config", (ws_->dir() / "broken.yaml").string()}), 2);

  // A URL whose host or port would be read otherwise than written: refused, naming the key and why.
  std::ifstream in(ws_->config_path());
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& [bad, why] : std::vector<std::pair<std::string, std::string>>{
           {"http://127.0.0.1.nip.io:8099", "not as written"},
           {"http://127.0.0.1%2eevil.example:8080", "percent-encoded"},
           {"http://127.0.0.1:70000", "outside 1..65535"}}) {
    std::string yaml = good;
    const std::size_t at = yaml.find("endpoint: ") + 10;
    yaml.replace(at, yaml.find('\n', at) - at, bad);
    ws_->write("bad-url.yaml", yaml);
    auto [brc, bout] = ws_->rostersync_output({"check-config", (ws_->dir() / "bad-url.yaml").string()}, true);
    EXPECT_EQ(brc, 2) << bad;
    EXPECT_NE(bout.find("targets.its.endpoint"), std::string::npos) << bout;
    EXPECT_NE(bout.find(why), std::string::npos) << bout;
  }
}

// The shipped example configuration, laid out as the README's "Run as a
// service" says (credentials/ltiaas-api-key, imses-password,
// service-keys/cps435), used from a shell: no CREDENTIALS_DIRECTORY. Only
// state_db and control_socket point into the scratch directory.
TEST(OperatorCliOutsideTheUnit, EveryCommandWorksWithTheShippedExampleConfig) {
  namespace fs = std::filesystem;
  Workspace ws;
  std::ifstream in(fs::path(ROSTERSYNC_SOURCE_DIR) / "config" / "rostersync.example.yaml");
  std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto replace = [&](const std::string& from, const std::string& to) {
    auto at = yaml.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    yaml.replace(at, from.size(), to);
  };
  replace("state_db: /var/lib/rostersync/state.db", "state_db: " + ws.db());
  replace("control_socket: /run/rostersync/control.sock", "control_socket: " + (ws.dir() / "control.sock").string());
  ws.write("rostersync.yaml", yaml);
  ws.write("credentials/ltiaas-api-key", "key-1\n");
  ws.write("credentials/imses-password", "pw-1\n");
  ws.write("credentials/service-keys/cps435", "svc-1\n");
  const std::string tool_key = rostersync::sync::generate_rsa_key(2048).private_pem;
  ws.write("credentials/platform-keys/canvas.pem", tool_key);
  const std::string key_line = tool_key.substr(tool_key.find('\n') + 1, 64);  // a line of the key itself
  { rostersync::store::Store created(ws.db()); }  // as the daemon leaves it
  const char* saved = std::getenv("CREDENTIALS_DIRECTORY");
  std::string saved_value = saved ? saved : "";
  unsetenv("CREDENTIALS_DIRECTORY");

  for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
           {"status"}, {"status", "--json"}, {"runs"}, {"members", "--job", "cps435"}, {"failures"}, {"retry"}}) {
    auto [rc, out] = ws.rostersync_output(cmd, true);
    EXPECT_EQ(rc, 0) << cmd[0] << ": " << out;
    EXPECT_FALSE(has(out, "CREDENTIALS_DIRECTORY")) << cmd[0] << ": " << out;
  }
  auto [resync_rc, resync_out] = ws.rostersync_output({"resync"}, true);
  EXPECT_EQ(resync_rc, 3) << resync_out;  // no daemon listening: not delivered, but no configuration error
  EXPECT_TRUE(has(resync_out, "resync not delivered")) << resync_out;

  // check-config reads the secrets: outside the unit it needs the credentials directory.
  auto [bare_rc, bare_out] = ws.rostersync_output({"check-config"}, true);
  EXPECT_EQ(bare_rc, 2);
  EXPECT_TRUE(has(bare_out, "--credentials-dir /etc/rostersync/credentials")) << bare_out;
  std::string creds = (ws.dir() / "credentials").string();
  auto [rc, out] = ws.rostersync_output({"check-config", "--json", "--credentials-dir", creds}, true);
  ASSERT_EQ(rc, 0) << out;
  auto cfg = json::parse(out).as_object();
  EXPECT_EQ(cfg.at("jobs").as_array().at(0).at("service_key_file").as_string(),
            "(secret from " + creds + "/service-keys/cps435)");
  for (const std::string secret : {"key-1", "pw-1", "svc-1"}) EXPECT_FALSE(has(out, secret)) << secret;
  EXPECT_FALSE(has(out, key_line));
  if (saved) setenv("CREDENTIALS_DIRECTORY", saved_value.c_str(), 1);
}

TEST_F(OperatorCli, AnUnknownCommandIsNamedWithTheNearestAndTheList) {
  auto [rc, out] = ws_->rostersync_output({"stauts"}, true);
  EXPECT_EQ(rc, 2);
  EXPECT_TRUE(has(out, "rostersync: unknown command 'stauts'; did you mean 'status'?")) << out;
  EXPECT_TRUE(has(out, "commands: run, sync, plan,")) << out;
  EXPECT_TRUE(has(out, "check-config")) << out;
}
