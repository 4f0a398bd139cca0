// Configuration loading: the shipped example loads; every error names file,
// line, column and key path; secrets come from files and never show.
#include <gtest/gtest.h>

#include "domain/text.hpp"

#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "config/config.hpp"
#include "config/config_json.hpp"

using namespace rostersync::config;
namespace fs = std::filesystem;

namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("rs-config-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    write("api.key", "the-api-key\n");
    write("pw", "the-password\n");
    write("svc.key", "the-service-key\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }

  Config load(const std::string& yaml) { return load_string(yaml, "test.yaml", dir_.string()); }

  // Expects a ConfigError whose message contains every fragment.
  void expect_error(const std::string& yaml, std::initializer_list<std::string> fragments) {
    try {
      load(yaml);
      ADD_FAILURE() << "no error for:\n" << yaml;
    } catch (const ConfigError& e) {
      std::string msg = e.what();
      for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "missing '" << f << "' in: " << msg;
      for (const char* secret : {"the-api-key", "the-password", "the-service-key"}) {
        EXPECT_EQ(msg.find(secret), std::string::npos) << msg;
      }
    }
  }

  static std::string minimal(const std::string& target_extra = "", const std::string& job_extra = "") {
    return "sources:\n  lt:\n    base_url: https://school.ltiaas.com/\n    api_key_file: api.key\n"
           "targets:\n  its:\n    endpoint: https://its.example/WCFServiceLibrary/MembershipManagementServiceSync.svc\n"
           "    username: u\n    password_file: pw\n" + target_extra +
           "jobs:\n  - name: j1\n    source: lt\n    target: its\n    service_key_file: svc.key\n    hierarchy_id: h1\n" +
           job_extra;
  }

  fs::path dir_;
};

}  // namespace

TEST_F(ConfigTest, ShippedExampleLoads) {
  for (const char* name : {"ltiaas-api-key", "imses-password", "service-keys_cps435"}) write(name, "secret\n");
  write("platform-keys_canvas.pem", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
  setenv("CREDENTIALS_DIRECTORY", dir_.c_str(), 1);
  Config cfg = load_file(ROSTERSYNC_SOURCE_DIR "/config/rostersync.example.yaml");
  unsetenv("CREDENTIALS_DIRECTORY");
  ASSERT_EQ(cfg.jobs.size(), 2u);
  const Source& canvas = cfg.sources.at("canvas");
  EXPECT_EQ(canvas.kind, SourceKind::lti_platform);
  EXPECT_EQ(canvas.base_url, "https://school.instructure.com");
  EXPECT_EQ(canvas.scopes, std::vector<std::string>{kNrpsReadScope});
  EXPECT_EQ(cfg.jobs[1].memberships_url, "https://school.instructure.com/api/lti/courses/1234/names_and_roles");
  const Job& j = cfg.jobs[0];
  EXPECT_EQ(j.name, "cps435");
  EXPECT_EQ(j.service_key.reveal(), "secret");
  EXPECT_EQ(j.service_key.file(), (dir_ / "service-keys_cps435").string());
  EXPECT_EQ(j.interval, std::chrono::minutes(30));
  EXPECT_EQ(j.role_map.size(), default_role_map().size());
  EXPECT_EQ(cfg.targets.at("itslearning").batch_size, 10);
  EXPECT_EQ(cfg.state_db, "/var/lib/rostersync/state.db");
}

TEST_F(ConfigTest, DefaultsApply) {
  Config cfg = load(minimal());
  const Target& t = cfg.targets.at("its");
  EXPECT_EQ(t.in_flight_budget, 10);
  EXPECT_EQ(t.batch_size, 10);
  EXPECT_EQ(t.password.reveal(), "the-password");
  EXPECT_EQ(cfg.sources.at("lt").base_url, "https://school.ltiaas.com");  // trailing slash dropped
  const Job& j = cfg.jobs[0];
  EXPECT_EQ(j.person_key, PersonKeyField::lis_person_sourcedid);
  EXPECT_EQ(j.auth, AuthScheme::service_key);
  EXPECT_TRUE(j.skip_test_users);
  EXPECT_EQ(j.page_limit, 100);
  EXPECT_EQ(cfg.log_level, "info");
  EXPECT_EQ(cfg.find_job("j1"), &cfg.jobs[0]);
}

TEST_F(ConfigTest, BatchSizeDefaultsToTheBudgetWhenSmaller) {
  EXPECT_EQ(load(minimal("    in_flight_budget: 4\n")).targets.at("its").batch_size, 4);
}

TEST_F(ConfigTest, ErrorsNameFileLineColumnAndKeyPath) {
  expect_error(minimal("    batch_size: 12\n"), {"test.yaml:10:17", "targets.its.batch_size", "in_flight_budget (10)"});
  expect_error(minimal("    in_flight_budget: 100\n    batch_size: 60\n"), {"targets.its.batch_size", "at most 50"});
  expect_error(minimal("", "    interval: soon\n"), {"test.yaml:16:15", "jobs[0].interval", "duration"});
  expect_error(minimal("", "    page_limit: 0\n"), {"jobs[0].page_limit", "between 1 and"});
  expect_error(minimal("", "    person_key: ssn\n"), {"jobs[0].person_key", "lis_person_sourcedid, user_id or email"});
  expect_error(minimal("", "    role_map:\n      - { lti: Learner, role_type: Student }\n"),
               {"jobs[0].role_map[0].role_type", "'Student' is not an IMS-ES roleType"});
  expect_error(minimal("", "    sourec: x\n"), {"test.yaml:16:5", "jobs[0].sourec", "unknown key"});
  expect_error(minimal("", "    skip_test_users: maybe\n"), {"jobs[0].skip_test_users", "true or false"});
}

TEST_F(ConfigTest, MissingAndDanglingReferences) {
  std::string yaml = minimal();
  yaml.replace(yaml.find("target: its"), 11, "target: nope");
  expect_error(yaml, {"jobs[0].target", "no target named 'nope'"});
  expect_error(minimal("", "  - name: j1\n    source: lt\n    target: its\n    service_key_file: svc.key\n    hierarchy_id: h2\n"),
               {"jobs[1].name", "duplicate job name 'j1'"});
  std::string no_hierarchy = minimal();
  no_hierarchy.replace(no_hierarchy.find("    hierarchy_id: h1\n"), 21, "");
  expect_error(no_hierarchy, {"jobs[0].hierarchy_id", "is required"});
}

TEST_F(ConfigTest, AUrlWhoseHostOrPortIsReadOtherwiseThanWrittenIsRefused) {
  auto with_base = [&](const std::string& url) {
    std::string yaml = minimal();
    yaml.replace(yaml.find("https://school.ltiaas.com/"), 26, url);
    return yaml;
  };
  // Boost.URL 1.81 reads these as host 127.0.0.1 with a path: credentials would go to port 80.
  expect_error(with_base("http://127.0.0.1.nip.io:8099"), {"sources.lt.base_url", "not as written"});
  expect_error(with_base("http://127.0.0.1%2eevil.example:8080"), {"sources.lt.base_url", "percent-encoded"});
  // Ports wrap in the resolver: refused where they are read.
  expect_error(with_base("http://127.0.0.1:99999"), {"sources.lt.base_url", "port 99999, outside 1..65535"});
  expect_error(with_base("http://127.0.0.1:70000"), {"sources.lt.base_url", "port 70000, outside 1..65535"});
  expect_error(with_base("http://127.0.0.1:0"), {"sources.lt.base_url", "outside 1..65535"});
  expect_error(with_base("https://user:pw@school.ltiaas.com"), {"sources.lt.base_url", "user information"});
  EXPECT_NO_THROW(load(with_base("http://127.0.0.1:65535")));
  std::string endpoint = minimal();
  endpoint.replace(endpoint.find("https://its.example/"), 20, "https://its.example:443x/");
  expect_error(endpoint, {"targets.its.endpoint", "invalid port '443x'"});
}

TEST(UrlProblem, OnlyAnAuthorityExactlyAsWrittenPasses) {
  using rostersync::url_origin;
  using rostersync::url_problem;
  EXPECT_EQ(url_problem("https://school.instructure.com/api/lti/courses/1/names_and_roles?page=2"), "");
  EXPECT_EQ(url_problem("http://[::1]:8080/x"), "");
  EXPECT_EQ(url_problem("https://lms.example.edu"), "");
  EXPECT_NE(url_problem("http://127.0.0.1.nip.io:8099"), "");
  EXPECT_NE(url_problem("http://127.0.0.1%2eevil.example:8080"), "");
  EXPECT_NE(url_problem("http://127.0.0.1:99999"), "");
  EXPECT_NE(url_problem("ftp://x.example"), "");
  EXPECT_NE(url_problem("https:///path"), "");
  EXPECT_NE(url_problem("https://[::1"), "");
  EXPECT_NE(url_problem("https://a.example:"), "");
  EXPECT_EQ(url_origin("http://127.0.0.1.nip.io:8099"), "") << "no origin for a URL read otherwise than written";
}

TEST_F(ConfigTest, PlainHttpOnlyForLoopbackUnlessAllowed) {
  std::string yaml = minimal();
  yaml.replace(yaml.find("https://school.ltiaas.com/"), 26, "http://school.ltiaas.com");
  expect_error(yaml, {"sources.lt.base_url", "plain http is only allowed to loopback"});
  std::string loopback = minimal();
  loopback.replace(loopback.find("https://school.ltiaas.com/"), 26, "http://127.0.0.1:8080");
  EXPECT_NO_THROW(load(loopback));
  std::string lookalike = minimal();
  lookalike.replace(lookalike.find("https://school.ltiaas.com/"), 26, "http://127.attacker.example");
  expect_error(lookalike, {"sources.lt.base_url", "plain http is only allowed to loopback"});
  std::string v6 = minimal();
  v6.replace(v6.find("https://school.ltiaas.com/"), 26, "http://[::1]:8080");
  EXPECT_NO_THROW(load(v6));
}

TEST_F(ConfigTest, SecretFilesMustExistAndHoldOneLine) {
  std::string yaml = minimal();
  yaml.replace(yaml.find("password_file: pw"), 17, "password_file: missing");
  expect_error(yaml, {"targets.its.password_file", "cannot read secret file", "missing"});
  write("pw", "\n");
  expect_error(minimal(), {"targets.its.password_file", "is empty"});
  write("pw", "line1\nline2\n");
  expect_error(minimal(), {"targets.its.password_file", "single line"});
}

TEST_F(ConfigTest, SecretFilesMustBeSmallRegularFiles) {
  // A path to a device or a directory must fail at once, not hang or fill memory.
  std::string yaml = minimal();
  yaml.replace(yaml.find("password_file: pw"), 17, "password_file: /dev/zero");
  expect_error(yaml, {"test.yaml:9:", "targets.its.password_file", "'/dev/zero' is not a regular file"});
  yaml = minimal();
  yaml.replace(yaml.find("password_file: pw"), 17, "password_file: " + dir_.string());
  expect_error(yaml, {"targets.its.password_file", "is not a regular file"});
  write("pw", std::string(64 * 1024 + 1, 'x'));
  expect_error(minimal(), {"targets.its.password_file", "larger than 64 KiB"});
  write("pw", std::string(64 * 1024, 'x'));
  EXPECT_EQ(load(minimal()).targets.at("its").password.reveal().size(), 64u * 1024);
}

TEST_F(ConfigTest, IdentifiersSentToItslearningAreCheckedAtLoad) {
  // A control character or an over-long id would be refused by itslearning
  // for every batch and block the target; say so at load instead.
  expect_error(minimal("", "    person_key_prefix: \"a\\u0001b\"\n"),
               {"test.yaml:16:", "jobs[0].person_key_prefix", "control characters"});
  std::string yaml = minimal();
  yaml.replace(yaml.find("hierarchy_id: h1"), 16, "hierarchy_id: " + std::string(256, 'h'));
  expect_error(yaml, {"jobs[0].hierarchy_id", "longer than 255 bytes"});
  yaml = minimal();
  yaml.replace(yaml.find("username: u"), 11, "username: \"u\\tv\"");
  expect_error(yaml, {"targets.its.username", "control characters"});
  yaml = minimal();
  yaml.replace(yaml.find("hierarchy_id: h1"), 16, "hierarchy_id: " + std::string(255, 'h'));
  EXPECT_EQ(load(yaml).jobs[0].hierarchy_id.size(), 255u);
}

TEST_F(ConfigTest, NonScalarKeysAreRefusedWithTheirPlace) {
  // Found by fuzz_config: a list or mapping as a key threw yaml-cpp's bare "bad conversion".
  expect_error("sources: {[a]: x}\n", {"test.yaml:1:11", "sources", "keys must be plain names, got a list"});
  std::string yaml = minimal();
  yaml.insert(yaml.find("    api_key_file"), "    {q: 1}: 2\n");
  expect_error(yaml, {"test.yaml:4:5", "sources.lt", "keys must be plain names, got a mapping"});
  expect_error(minimal() + "? [x]\n: 1\n", {"(top level)", "keys must be plain names, got a list"});
}

TEST_F(ConfigTest, InvalidYamlNamesThePosition) {
  expect_error("sources: [\n  - a\n", {"test.yaml:", "invalid YAML"});
  expect_error("", {"test.yaml", "empty"});
}

TEST_F(ConfigTest, UnknownEnvironmentVariableInAPath) {
  std::string yaml = minimal();
  yaml.replace(yaml.find("password_file: pw"), 17, "password_file: ${RS_NO_SUCH_VAR}/pw");
  expect_error(yaml, {"targets.its.password_file", "RS_NO_SUCH_VAR is not set"});
}

TEST_F(ConfigTest, ParseReadsNoFileAndResolveReadsTheSecrets) {
  // parse() alone needs none of the secret files, nor the variables in their paths.
  std::string yaml = minimal();
  yaml.replace(yaml.find("api_key_file: api.key"), 21, "api_key_file: ${CREDS}/api.key");
  fs::remove(dir_ / "pw");
  Config cfg = parse(yaml, "test.yaml", dir_.string());
  EXPECT_FALSE(cfg.sources.at("lt").api_key.resolved());
  EXPECT_EQ(cfg.sources.at("lt").api_key.file(), "${CREDS}/api.key");
  EXPECT_TRUE(cfg.sources.at("lt").api_key.reveal().empty());

  // resolve() expands from the given environment and names the key of the failing file.
  fs::create_directories(dir_ / "creds");
  write("creds/api.key", "the-api-key\n");
  std::string creds = (dir_ / "creds").string();
  Environment env = [&](const std::string& name) -> const char* { return name == "CREDS" ? creds.c_str() : nullptr; };
  try {
    resolve(cfg, {env, ""});
    ADD_FAILURE() << "the missing password file was not reported";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("test.yaml:9:20: targets.its.password_file: cannot read secret file"),
              std::string::npos) << e.what();
  }
  write("pw", "the-password\n");
  resolve(cfg, {env, ""});
  EXPECT_EQ(cfg.sources.at("lt").api_key.reveal(), "the-api-key");
  EXPECT_EQ(cfg.sources.at("lt").api_key.file(), (dir_ / "creds" / "api.key").string());
  EXPECT_EQ(cfg.targets.at("its").password.reveal(), "the-password");
}

TEST_F(ConfigTest, EqualityAndTheJsonFormSeeEveryKey) {
  Config a = load(minimal());
  Config b = load(minimal());
  EXPECT_TRUE(a == b);
  EXPECT_EQ(describe_changes(a, b), "no job changed (sources, targets or log level may have)");
  Config c = load(minimal("", "    interval: 2h\n    page_limit: 50\n"));
  EXPECT_FALSE(a == c);
  EXPECT_EQ(describe_changes(a, c), "changed: j1 (page_limit, interval)");
  write("svc.key", "another-service-key\n");  // same file, new content: changed, never shown
  Config d = load(minimal());
  std::string changes = describe_changes(a, d);
  EXPECT_EQ(changes, "changed: j1 (service key content)");

  boost::json::object j = to_json(c);
  EXPECT_EQ(j.at("shutdown_grace").as_string(), "10s");
  EXPECT_EQ(j.at("control_socket").as_string(), "/run/rostersync/control.sock");
  const auto& job = j.at("jobs").as_array().at(0).as_object();
  EXPECT_EQ(job.at("interval").as_string(), "2h");
  EXPECT_EQ(job.at("service_key_file").as_string(), "(secret from " + (dir_ / "svc.key").string() + ")");
  const auto& target = j.at("targets").as_object().at("its").as_object();
  EXPECT_EQ(target.at("item_retry_delay").as_string(), "15m");
  EXPECT_EQ(target.at("breaker_probe_interval").as_string(), "5m");
  std::string text = boost::json::serialize(j);
  for (const char* secret : {"the-api-key", "the-password", "the-service-key"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
  }
}

TEST_F(ConfigTest, ADuplicateKeyIsAnErrorNamingBothLines) {
  std::string yaml = minimal("", "    hierarchy_id: h9\n");
  expect_error(yaml, {"test.yaml:16:5: jobs[0].hierarchy_id: duplicate key (first at line 15)"});
  expect_error("log_level: info\nlog_level: debug\n" + minimal(), {"test.yaml:2:1: log_level: duplicate key (first at line 1)"});
}

TEST_F(ConfigTest, AMisspeltRequiredKeyIsNamedAsUnknown) {
  std::string yaml = minimal();
  yaml.replace(yaml.find("hierarchy_id:"), 13, "hierachy_id:");
  expect_error(yaml, {"test.yaml:15:5: jobs[0].hierachy_id: unknown key; did you mean 'hierarchy_id'?"});
  std::string top = minimal();
  top.replace(top.find("jobs:"), 5, "job:");
  expect_error(top, {"job: unknown key; did you mean 'jobs'?"});
  // Nothing like it: the plain message.
  std::string gone = minimal();
  gone.replace(gone.find("    hierarchy_id: h1\n"), 21, "");
  expect_error(gone, {"jobs[0].hierarchy_id: is required"});
}

TEST_F(ConfigTest, SecretsWithControlCharactersOrInvalidUtf8AreRefused) {
  write("pw", std::string("pass\x01word\n"));
  expect_error(minimal(), {"targets.its.password_file", "holds a control character"});
  write("pw", "pass\tword\n");
  expect_error(minimal(), {"targets.its.password_file", "holds a control character"});
  write("pw", "pass\xffword\n");
  expect_error(minimal(), {"targets.its.password_file", "is not valid UTF-8 text"});
  write("pw", "pässwörd\n");
  EXPECT_EQ(load(minimal()).targets.at("its").password.reveal(), "pässwörd");
}

TEST_F(ConfigTest, ADirectoryOrAMissingFileSaysSo) {
  try {
    parse_file(dir_.string());
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), dir_.string() + ": is a directory, not a configuration file");
  }
  try {
    parse_file((dir_ / "nope.yaml").string());
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open the configuration file: No such file or directory"),
              std::string::npos) << e.what();
  }
}

TEST(Durations, FormatAsTheYamlWritesThem) {
  EXPECT_EQ(format_duration(Millis(7'200'000)), "2h");
  EXPECT_EQ(format_duration(Millis(90'000)), "90s");
  EXPECT_EQ(format_duration(Millis(1'800'000)), "30m");
  EXPECT_EQ(format_duration(Millis(500)), "500ms");
  EXPECT_EQ(format_duration(Millis(0)), "0s");
  for (long long ms : {1LL, 999LL, 1000LL, 61'000LL, 3'600'000LL}) {
    Millis back{};
    ASSERT_TRUE(parse_duration(format_duration(Millis(ms)), back));
    EXPECT_EQ(back.count(), ms);
  }
}

TEST(Durations, Parse) {
  Millis m{};
  EXPECT_TRUE(parse_duration("90s", m));
  EXPECT_EQ(m, Millis(90'000));
  EXPECT_TRUE(parse_duration("30m", m));
  EXPECT_EQ(m, Millis(1'800'000));
  EXPECT_TRUE(parse_duration("2h", m));
  EXPECT_TRUE(parse_duration("500ms", m));
  EXPECT_EQ(m, Millis(500));
  EXPECT_TRUE(parse_duration("15", m));
  EXPECT_EQ(m, Millis(15'000));
  EXPECT_FALSE(parse_duration("soon", m));
  EXPECT_TRUE(parse_duration("90d", m));
  EXPECT_EQ(m, Millis(90LL * 86'400'000));
  EXPECT_FALSE(parse_duration("5w", m));
  EXPECT_FALSE(parse_duration("-5s", m));
  // Ten years at most: a product that would overflow is refused, never wrapped.
  EXPECT_TRUE(parse_duration("3650d", m));
  EXPECT_EQ(m, Millis(3650LL * 86'400'000));
  EXPECT_FALSE(parse_duration("3651d", m));
  EXPECT_FALSE(parse_duration("999999999999d", m));
  EXPECT_FALSE(parse_duration("999999999999", m));
  EXPECT_TRUE(parse_duration("99999999999ms", m));
  EXPECT_FALSE(parse_duration("999999999999ms", m));
}

TEST_F(ConfigTest, EveryDurationIsBoundedWhereItIsParsed) {
  expect_error(minimal("", "    interval: 1000d\n"),
               {"test.yaml:16:15", "jobs[0].interval", "must be between 1s and 30d, got 1000d"});
  expect_error(minimal("", "    interval: 110000d\n"), {"jobs[0].interval", "at most 3650d"});
  expect_error(minimal("", "    interval: 999999999999d\n"), {"jobs[0].interval", "at most 3650d"});
  expect_error(minimal("", "    interval: 0s\n"), {"jobs[0].interval", "must be between 1s and 30d"});
  expect_error(minimal("", "    interval: 1h\n    jitter: 2h\n"), {"jobs[0].jitter", "must not exceed interval"});
  expect_error(minimal("", "    reconcile_interval: 400d\n"), {"jobs[0].reconcile_interval", "between 0s and 365d"});
  expect_error(minimal("    item_retry_delay: 2h\n    item_max_retry_delay: 1h\n"),
               {"targets.its.item_max_retry_delay", "must not be shorter than item_retry_delay"});
  expect_error(minimal("    breaker_probe_interval: 2d\n"), {"targets.its.breaker_probe_interval", "between 1s and 1d"});
  expect_error(minimal("    http:\n      connect_timeout: 0s\n"), {"targets.its.http.connect_timeout", "between 100ms and 5m"});
  expect_error("shutdown_grace: 1h\n" + minimal(), {"shutdown_grace", "between 0s and 10m"});
  expect_error("run_retention: 12h\n" + minimal(), {"run_retention", "between 1d and 3650d"});
}

TEST(Loopback, OneRuleForConfigAndClient) {
  for (const char* host : {"localhost", "127.0.0.1", "127.8.9.10", "::1", "[::1]"}) EXPECT_TRUE(is_loopback_host(host)) << host;
  // Names that only look like loopback are DNS names: API keys must not travel there in clear text.
  for (const char* host : {"lms.example.edu", "10.0.0.1", "128.0.0.1", "localhost.example", "::2", "127.attacker.example",
                           "127.0.0.1.nip.io", "localhost.", "127.1", "[127.0.0.1]", "0x7f.0.0.1", ""}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
  }
}

namespace {

// A configuration whose jobs come from a course registry beside it.
std::string registry_config(const std::string& extra_defaults = "") {
  return "sources:\n  lt:\n    base_url: https://school.ltiaas.com/\n    api_key_file: api.key\n"
         "targets:\n  its:\n    endpoint: https://its.example/WCFServiceLibrary/MembershipManagementServiceSync.svc\n"
         "    username: u\n    password_file: pw\n"
         "registry:\n  path: courses.d\n"
         "job_defaults:\n  source: lt\n  target: its\n  hierarchy_id: \"2026-{context.label}\"\n  interval: 2h\n" +
         extra_defaults;
}

}  // namespace

TEST_F(ConfigTest, JobDefaultsApplyToEveryJobUnlessItSaysOtherwise) {
  Config cfg = load("job_defaults:\n  page_limit: 50\n  interval: 2h\n  person_key: email\n" +
                    minimal("", "    interval: 10m\n"));
  ASSERT_EQ(cfg.jobs.size(), 1u);
  EXPECT_EQ(cfg.jobs[0].page_limit, 50);
  EXPECT_EQ(cfg.jobs[0].person_key, PersonKeyField::email);
  EXPECT_EQ(cfg.jobs[0].interval, Millis(600'000));  // its own key wins
  expect_error("job_defaults:\n  name: x\n" + minimal(), {"test.yaml:2:3: job_defaults.name: unknown key"});
  expect_error("job_defaults:\n  hierarchy_id: \"{context.code}\"\n" + minimal(),
               {"job_defaults.hierarchy_id", "unknown placeholder {context.code}"});
  expect_error("job_defaults:\n  source: nowhere\n" + minimal(), {"job_defaults.source", "no source named 'nowhere'"});
}

TEST_F(ConfigTest, RegistryCoursesAreAFewLinesEachAndErrorsRefuseTheirFile) {
  fs::create_directories(dir_ / "courses.d");
  write("courses.d/cps435.yaml", "name: cps435\nservice_key_file: cps435.key\n");
  write("courses.d/cps435.key", "key-435\n");
  write("courses.d/more.yaml",
        "- {name: bio101, service_key_file: bio.key, hierarchy_id: BIO-101}\n"
        "- {name: broken, service_key_file: bio.key, page_limit: lots}\n"
        "- {name: cps435, service_key_file: bio.key}\n"
        "- {name: nokey, service_key_file: missing.key}\n");
  write("courses.d/bio.key", "key-bio\n");
  write("courses.d/lab.yaml", "name: lab\nservice_key_file: bio.key\n");
  write("courses.d/notes.txt", "not a course\n");
  write("courses.d/.hidden.yaml", "name: hidden\n");
  Config cfg = load(registry_config());
  // At start the entries in error are skipped; cps435 is in two files: neither is used.
  ASSERT_EQ(cfg.jobs.size(), 2u);
  EXPECT_EQ(cfg.jobs[0].name, "lab");
  EXPECT_EQ(cfg.jobs[0].hierarchy_id, "2026-{context.label}");
  EXPECT_EQ(cfg.jobs[0].service_key.reveal(), "key-bio");
  EXPECT_EQ(cfg.jobs[0].interval, Millis(7'200'000));
  EXPECT_EQ(cfg.jobs[0].origin, (dir_ / "courses.d/lab.yaml").string() + ":1");
  EXPECT_EQ(cfg.jobs[1].name, "bio101");
  EXPECT_EQ(cfg.jobs[1].hierarchy_id, "BIO-101");
  const std::string more = (dir_ / "courses.d/more.yaml").string();
  const std::string cps = (dir_ / "courses.d/cps435.yaml").string();
  EXPECT_EQ(cfg.refused_files, (std::vector<std::string>{cps, more}));
  EXPECT_TRUE(cfg.registry_unreadable.empty());
  ASSERT_EQ(cfg.registry_errors.size(), 4u);
  std::string all;
  for (const auto& e : cfg.registry_errors) all += e + "\n";
  EXPECT_NE(all.find(more + ":2:57: [1].page_limit: expected a whole number"), std::string::npos) << all;
  EXPECT_NE(all.find("(course 'broken')"), std::string::npos) << all;
  EXPECT_NE(all.find(more + ":3:10: [2].name: the course 'cps435' is also defined in " + cps + ":1"), std::string::npos)
      << all;
  EXPECT_NE(all.find(cps + ":1:7: name: the course 'cps435' is also defined in " + more + ":3"), std::string::npos)
      << all;
  EXPECT_NE(all.find("missing.key"), std::string::npos) << all;
  EXPECT_NE(all.find("course nokey is skipped"), std::string::npos) << all;
}

TEST(AfterFixing, ACredentialNeedsARestartAnyOtherFileAReload) {
  const std::string api = after_fixing(Secret::reference("${CREDENTIALS_DIRECTORY}/ltiaas-api-key",
                                                         "/etc/rostersync/rostersync.yaml:5:18: sources.ltiaas.api_key_file"));
  EXPECT_EQ(api, "fix sources.ltiaas.api_key_file (${CREDENTIALS_DIRECTORY}/ltiaas-api-key) (under the shipped unit: "
                 "/etc/rostersync/credentials/ltiaas-api-key), then run `sudo systemctl restart rostersync`: systemd "
                 "copies credentials only when the service starts, and a reload would read the old copy");
  const std::string course = after_fixing(Secret::reference("${CREDENTIALS_DIRECTORY}/service-keys_cps435", "x.yaml:2:1: jobs[0].service_key_file"));
  EXPECT_NE(course.find("/etc/rostersync/credentials/service-keys/cps435"), std::string::npos) << course;
  const std::string plain = after_fixing(Secret::reference("/etc/rostersync/courses.d/cps435.key", "c.yaml:2:1: service_key_file"));
  EXPECT_EQ(plain, "fix the file service_key_file (/etc/rostersync/courses.d/cps435.key) names, then run `sudo systemctl "
                   "reload rostersync`");
  // An instance of the template unit (Environment=ROSTERSYNC_UNIT=%N): its own unit and credentials.
  setenv("ROSTERSYNC_UNIT", "rostersync@north", 1);
  const std::string site = after_fixing(Secret::reference("${CREDENTIALS_DIRECTORY}/imses-password", "r.yaml:9:20: targets.its.password_file"));
  unsetenv("ROSTERSYNC_UNIT");
  EXPECT_NE(site.find("/etc/rostersync/north/credentials/imses-password"), std::string::npos) << site;
  EXPECT_NE(site.find("`sudo systemctl restart rostersync@north`"), std::string::npos) << site;
}

TEST_F(ConfigTest, AnInlineServiceKeyNeedsAFileOthersCannotRead) {
  fs::create_directories(dir_ / "courses.d");
  write("courses.d/a.yaml", "name: a\nservice_key: inline-secret-a\nhierarchy_id: H-A\n");
  fs::permissions(dir_ / "courses.d/a.yaml", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  write("courses.d/b.yaml", "name: b\nservice_key: inline-secret-b\n");
  fs::permissions(dir_ / "courses.d/b.yaml", fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  Config cfg = load(registry_config());
  ASSERT_EQ(cfg.jobs.size(), 1u);
  EXPECT_EQ(cfg.jobs[0].service_key.reveal(), "inline-secret-a");
  ASSERT_EQ(cfg.registry_errors.size(), 1u);
  EXPECT_NE(cfg.registry_errors[0].find("every user may read it; chmod o-r"), std::string::npos) << cfg.registry_errors[0];
  EXPECT_EQ(cfg.registry_errors[0].find("inline-secret"), std::string::npos);
  EXPECT_EQ(boost::json::serialize(to_json(cfg)).find("inline-secret"), std::string::npos);
}

TEST_F(ConfigTest, KeyFilesCanBeNamedAfterTheCourseInJobDefaults) {
  fs::create_directories(dir_ / "keys");
  write("keys/c1", "k1\n");
  write("courses.yaml", "- name: c1\n- name: c2\n");
  Config cfg = load("sources:\n  lt:\n    base_url: https://school.ltiaas.com/\n    api_key_file: api.key\n"
                    "targets:\n  its:\n    endpoint: https://its.example/x.svc\n    username: u\n    password_file: pw\n"
                    "registry: {path: courses.yaml}\n"
                    "job_defaults:\n  source: lt\n  target: its\n  hierarchy_id: \"{name}-2026\"\n"
                    "  service_key_file: \"keys/{name}\"\n");
  ASSERT_EQ(cfg.jobs.size(), 1u);
  EXPECT_EQ(cfg.jobs[0].hierarchy_id, "c1-2026");
  EXPECT_EQ(cfg.jobs[0].service_key.reveal(), "k1");
  ASSERT_EQ(cfg.registry_errors.size(), 1u);
  EXPECT_NE(cfg.registry_errors[0].find((dir_ / "keys/c2").string()), std::string::npos) << cfg.registry_errors[0];
}

TEST_F(ConfigTest, AMissingRegistryIsAnErrorOfItsOwnAndTheStampSeesEveryChange) {
  Config cfg = load(registry_config());
  EXPECT_TRUE(cfg.jobs.empty());
  ASSERT_EQ(cfg.registry_errors.size(), 1u);
  EXPECT_NE(cfg.registry_errors[0].find("courses.d: cannot read the course registry"), std::string::npos);
  EXPECT_EQ(cfg.registry_unreadable, cfg.registry_errors[0]);
  expect_error(minimal() + "registry:\n  path: courses.d\n  max_removed_percent: 101\n",
               {"registry.max_removed_percent: must be between 0 and 100, got 101"});
  expect_error(minimal() + "registry:\n  path: courses.d\n  max_removed_courses: -1\n",
               {"registry.max_removed_courses: must be between 0 and 1000000"});

  fs::create_directories(dir_ / "courses.d");
  const std::string empty = registry_stamp(cfg.registry);
  write("courses.d/a.yaml", "name: a\nservice_key_file: ../svc.key\n");
  const std::string one = registry_stamp(cfg.registry);
  EXPECT_NE(one, empty);
  EXPECT_EQ(registry_stamp(cfg.registry), one);
  write("courses.d/a.yaml", "name: a\nservice_key_file: ../svc.key\npage_limit: 5\n");
  EXPECT_NE(registry_stamp(cfg.registry), one);
  read_registry(cfg);
  resolve(cfg);
  ASSERT_EQ(cfg.jobs.size(), 1u);
  EXPECT_EQ(cfg.jobs[0].page_limit, 5);
  EXPECT_TRUE(cfg.registry_errors.empty());
}

TEST_F(ConfigTest, AnEntryThatOnlyMovedInItsListFileIsNotAChange) {
  write("courses.yaml", "- {name: a, service_key_file: svc.key}\n- {name: b, service_key_file: svc.key}\n");
  std::string cfg_text = registry_config();
  cfg_text.replace(cfg_text.find("path: courses.d"), 15, "path: courses.yaml");
  Config before = load(cfg_text);
  write("courses.yaml", "- {name: new, service_key_file: svc.key}\n- {name: a, service_key_file: svc.key}\n"
                        "- {name: b, service_key_file: svc.key, page_limit: 7}\n");
  Config after = load(cfg_text);
  ASSERT_EQ(after.jobs.size(), 3u);
  EXPECT_NE(before.jobs[0].origin, after.jobs[1].origin) << "a moved from line 1 to line 2";
  EXPECT_TRUE(same_settings(before.jobs[0], after.jobs[1]));
  EXPECT_FALSE(same_settings(before.jobs[1], after.jobs[2]));
  EXPECT_EQ(describe_changes(before, after), "added: new; changed: b (page_limit)");
}

TEST_F(ConfigTest, UpkeepKeysDefaultToSafeAndAreChecked) {
  const Config defaults = load(minimal());
  const Job& j = defaults.jobs[0];
  EXPECT_FALSE(j.remove_departed);  // deleting is opt-in
  EXPECT_EQ(j.departure_grace, 2);
  EXPECT_TRUE(j.remove_inactive);
  EXPECT_EQ(j.max_deletes, 500);
  EXPECT_EQ(j.max_delete_percent, 20);
  EXPECT_TRUE(j.adopt_existing);
  EXPECT_FALSE(j.own_adopted);
  EXPECT_EQ(j.reconcile_interval.count(), 0);

  Config cfg = load(minimal("", "    remove_departed: true\n    departure_grace: 3\n    max_deletes: 50\n"
                                "    max_delete_percent: 5\n    own_adopted: true\n    reconcile_interval: 24h\n"));
  EXPECT_TRUE(cfg.jobs[0].remove_departed);
  EXPECT_EQ(cfg.jobs[0].departure_grace, 3);
  EXPECT_EQ(cfg.jobs[0].max_deletes, 50);
  EXPECT_EQ(cfg.jobs[0].max_delete_percent, 5);
  EXPECT_TRUE(cfg.jobs[0].own_adopted);
  EXPECT_EQ(cfg.jobs[0].reconcile_interval, Millis(24LL * 3'600'000));

  expect_error(minimal("", "    departure_grace: 0\n"), {"jobs[0].departure_grace", "between 1 and"});
  expect_error(minimal("", "    max_delete_percent: 120\n"), {"jobs[0].max_delete_percent", "between 0 and 100"});
  expect_error(minimal("", "    reconcile_interval: 10s\n"), {"jobs[0].reconcile_interval", "at least 1m"});
  expect_error(minimal("", "    remove_departed: yes please\n"), {"jobs[0].remove_departed", "true or false"});
}

TEST_F(ConfigTest, MetricsAreServedOnLoopbackOnlyAndWrittenToAPromFile) {
  Config off = load(minimal());
  EXPECT_EQ(off.metrics.listen, "");
  EXPECT_EQ(off.metrics.textfile, "");
  EXPECT_EQ(off.metrics.textfile_interval, std::chrono::minutes(1));
  Config on = load(minimal() + "metrics:\n  listen: \"[::1]:9477\"\n  textfile: prom/rostersync.prom\n  textfile_interval: 15s\n");
  EXPECT_EQ(on.metrics.listen, "[::1]:9477");
  EXPECT_EQ(on.metrics.textfile, (dir_ / "prom" / "rostersync.prom").string());
  EXPECT_EQ(on.metrics.textfile_interval, std::chrono::seconds(15));
  EXPECT_EQ(load(minimal() + "metrics:\n  listen: localhost:0\n").metrics.listen, "localhost:0");
  expect_error(minimal() + "metrics:\n  listen: 0.0.0.0:9477\n", {"test.yaml:17:11", "metrics.listen", "not a loopback address"});
  expect_error(minimal() + "metrics:\n  listen: 127.0.0.1\n", {"metrics.listen", "expected host:port"});
  expect_error(minimal() + "metrics:\n  listen: 127.0.0.1:99999\n", {"metrics.listen", "expected host:port"});
  expect_error(minimal() + "metrics:\n  textfile: /var/lib/node/rostersync.txt\n", {"metrics.textfile", "must end in .prom"});
  expect_error(minimal() + "metrics:\n  textfile_interval: 0s\n", {"metrics.textfile_interval", "between 1s and 1h"});
  expect_error(minimal() + "metrics:\n  port: 9477\n", {"metrics.port"});
}

// Messages an operator meets in the first week: each says what, where and what to do.
TEST_F(ConfigTest, CourseFileMessagesNameFileLineAndSuggestTheKeyMeant) {
  fs::create_directories(dir_ / "courses.d");
  write("courses.d/a.yaml", "name: a\nservce_key: k-a\n");
  write("courses.d/b.yaml", "name: b\nservice_key_file: ../svc.key\npage_limt: 5\n");
  write("courses.d/c.yaml", "name: c\nservice_key_file: ../svc.key\ninterval: 30s\n");
  write("courses.d/d.yaml", "name: d\n\tservice_key_file: ../svc.key\n");
  Config cfg = load(registry_config());
  std::string all;
  for (const auto& e : cfg.registry_errors) all += e + "\n";
  const std::string d = (dir_ / "courses.d").string() + "/";
  EXPECT_NE(all.find(d + "a.yaml:2:1: servce_key: unknown key; did you mean 'service_key'?"), std::string::npos) << all;
  EXPECT_NE(all.find(d + "b.yaml:3:1: page_limt: unknown key; did you mean 'page_limit'?"), std::string::npos) << all;
  EXPECT_NE(all.find(d + "c.yaml:3:11: interval: must not be shorter than jitter (jitter 1m, interval 30s; jitter from "
                     "job_defaults or the default)"), std::string::npos) << all;
  EXPECT_NE(all.find(d + "d.yaml:2:"), std::string::npos) << all;
  EXPECT_NE(all.find("indent with spaces: YAML does not allow tabs there"), std::string::npos) << all;
  expect_error(minimal("", "    page_limt: 5\n"), {"jobs[0].page_limt: unknown key; did you mean 'page_limit'?"});
  expect_error("sources: {lt: {base_url: x\n", {"test.yaml:", "invalid YAML", "a '{' is not closed by '}'"});
  fs::remove(dir_ / "api.key");
  expect_error(minimal(), {"sources.lt.api_key_file: cannot read secret file", "api.key': No such file or directory"});
}
