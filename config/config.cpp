// The configuration file's schema: every key of sources, targets, jobs,
// job_defaults, registry and metrics read, range-checked and cross-checked
// (config.hpp). The registry's course files are read in registry.cpp, the
// secrets and other I/O in resolve.cpp; the YAML reader is reader.hpp.
#include "config/config.hpp"

#include "config/config_json.hpp"
#include "config/reader.hpp"
#include "domain/names.hpp"
#include "domain/text.hpp"

#include <boost/url/parse.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace rostersync::config {
namespace {

namespace fs = std::filesystem;

void check_url(MapReader& r, const std::string& key, const std::string& url, bool allow_insecure) {
  YAML::Node n = r.node(key);
  // Credentials go where the URL says, exactly as written, or nowhere.
  if (std::string problem = url_problem(url); !problem.empty()) {
    r.ctx().error(n, r.child_path(key), "'" + clip_for_message(url, 200) + "' " + problem);
  }
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) r.ctx().error(n, r.child_path(key), "'" + url + "' is not an absolute URL");
  std::string scheme(parsed->scheme());
  if (scheme != "https" && scheme != "http") {
    r.ctx().error(n, r.child_path(key), "scheme must be https (or http for loopback), got '" + scheme + "'");
  }
  if (parsed->host().empty()) r.ctx().error(n, r.child_path(key), "'" + url + "' has no host");
  if (scheme == "http" && !allow_insecure && !is_loopback_host(parsed->host())) {
    r.ctx().error(n, r.child_path(key),
                  "plain http is only allowed to loopback hosts; use https or set http.allow_insecure_http: true");
  }
  if (parsed->has_query() || parsed->has_fragment()) {
    r.ctx().error(n, r.child_path(key), "must not contain a query or fragment");
  }
}

HttpSettings read_http(MapReader& parent) {
  HttpSettings http;
  YAML::Node n = parent.node("http");
  if (!n.IsDefined() || n.IsNull()) return http;
  MapReader r(parent.ctx(), n, parent.child_path("http"));
  http.connect_timeout = r.duration("connect_timeout", http.connect_timeout, Millis(100), Millis(300'000));
  http.request_timeout = r.duration("request_timeout", http.request_timeout, Millis(100), Millis(3'600'000));
  http.max_response_bytes =
      static_cast<std::size_t>(r.integer("max_response_bytes", static_cast<long>(http.max_response_bytes), 1024, 1L << 31));
  http.ca_file = r.string("ca_file", "");
  if (!http.ca_file.empty()) http.ca_file_where = r.ctx().where(r.node("ca_file"), r.child_path("ca_file"));
  http.allow_insecure_http = r.boolean("allow_insecure_http", false);
  r.finish();
  return http;
}

RetrySettings read_retry(MapReader& r) {
  RetrySettings retry;
  retry.max_attempts = static_cast<int>(r.integer("max_attempts", retry.max_attempts, 1, 100));
  retry.retry_delay = r.duration("retry_delay", retry.retry_delay, Millis(1), Millis(3'600'000));
  retry.max_retry_delay = r.duration("max_retry_delay", retry.max_retry_delay, Millis(1), Millis(86'400'000));
  if (retry.max_retry_delay < retry.retry_delay) {
    r.ctx().error(r.node("max_retry_delay"), r.child_path("max_retry_delay"), "must not be shorter than retry_delay");
  }
  retry.blocked_retry_interval =
      r.duration("blocked_retry_interval", retry.blocked_retry_interval, Millis(1000), Millis(30LL * 86'400'000));
  return retry;
}

void read_platform(MapReader& r, Source& s) {
  s.issuer = r.required_string("issuer");
  s.base_url = r.string("base_url", s.issuer);
  while (!s.base_url.empty() && s.base_url.back() == '/') s.base_url.pop_back();
  check_url(r, r.has("base_url") ? "base_url" : "issuer", s.base_url, s.http.allow_insecure_http);
  s.client_id = r.identifier("client_id", kMaxIdentifierBytes);
  s.deployment_id = r.identifier("deployment_id", kMaxIdentifierBytes);
  s.token_url = r.required_string("token_url");
  check_url(r, "token_url", s.token_url, s.http.allow_insecure_http);
  s.audience = r.identifier("audience", 2048, false);
  s.private_key = r.secret_file("private_key_file");
  s.key_id = r.identifier("key_id", kMaxIdentifierBytes);
  if (YAML::Node n = r.node("scopes"); n.IsDefined() && !n.IsNull()) {
    const std::string path = r.child_path("scopes");
    if (!n.IsSequence() || n.size() == 0) r.ctx().error(n, path, "expected a list of scope URIs");
    s.scopes.clear();
    for (std::size_t i = 0; i < n.size(); ++i) {
      const std::string item = path + "[" + std::to_string(i) + "]";
      if (!n[i].IsScalar() || n[i].Scalar().empty() || n[i].Scalar().find_first_of(" \t\r\n\"") != std::string::npos) {
        r.ctx().error(n[i], item, "expected a scope URI without spaces or quotes");
      }
      s.scopes.push_back(n[i].Scalar());
    }
    if (std::find(s.scopes.begin(), s.scopes.end(), kNrpsReadScope) == s.scopes.end()) {
      r.ctx().error(n, path, std::string("must include ") + kNrpsReadScope + " (rosters are read with it)");
    }
  }
  s.assertion_lifetime = r.duration("assertion_lifetime", s.assertion_lifetime, Millis(30'000), Millis(600'000));
}

Source read_source(const Context& ctx, const std::string& name, const YAML::Node& node) {
  MapReader r(ctx, node, "sources." + name);
  Source s;
  s.name = name;
  s.http = read_http(r);
  std::string kind = r.string("kind", to_string(s.kind));
  if (kind == "lti_platform") s.kind = SourceKind::lti_platform;
  else if (kind != "ltiaas") ctx.error(r.node("kind"), r.child_path("kind"), "expected ltiaas or lti_platform, got '" + kind + "'");
  // Keys of the other kind are refused by name, before the generic "unknown key".
  static const char* const kLtiaasOnly[] = {"api_key_file"};
  static const char* const kPlatformOnly[] = {"issuer", "client_id", "deployment_id", "token_url", "audience",
                                              "private_key_file", "key_id", "scopes", "assertion_lifetime"};
  auto refuse = [&](const auto& keys) {
    for (const char* key : keys) {
      if (r.has(key)) ctx.error(r.node(key), r.child_path(key), "is not a key of a source of kind " + kind);
    }
  };
  if (s.kind == SourceKind::ltiaas) {
    refuse(kPlatformOnly);
    s.base_url = r.required_string("base_url");
    while (!s.base_url.empty() && s.base_url.back() == '/') s.base_url.pop_back();
    check_url(r, "base_url", s.base_url, s.http.allow_insecure_http);
    s.api_key = r.secret_file("api_key_file");
  } else {
    refuse(kLtiaasOnly);
    read_platform(r, s);
  }
  s.retry = read_retry(r);
  s.max_concurrent_walks = static_cast<int>(r.integer("max_concurrent_walks", s.max_concurrent_walks, 1, 256));
  r.finish();
  return s;
}

Target read_target(const Context& ctx, const std::string& name, const YAML::Node& node) {
  MapReader r(ctx, node, "targets." + name);
  Target t;
  t.name = name;
  t.http = read_http(r);
  t.endpoint = r.required_string("endpoint");
  check_url(r, "endpoint", t.endpoint, t.http.allow_insecure_http);
  t.username = r.identifier("username", kMaxIdentifierBytes);
  t.password = r.secret_file("password_file");
  t.in_flight_budget = static_cast<int>(r.integer("in_flight_budget", t.in_flight_budget, 1, 1000));
  t.force_large_batches = r.boolean("force_large_batches", false);
  t.batch_size = static_cast<int>(r.integer("batch_size", std::min(t.batch_size, t.in_flight_budget), 1, 1000));
  if (t.batch_size > t.in_flight_budget) {
    ctx.error(r.node("batch_size"), r.child_path("batch_size"),
              "must not exceed in_flight_budget (" + std::to_string(t.in_flight_budget) + ")");
  }
  if (t.batch_size > 50 && !t.force_large_batches) {
    ctx.error(r.node("batch_size"), r.child_path("batch_size"),
              "itslearning asks for batches of at most 50; set force_large_batches: true to override");
  }
  t.retry = read_retry(r);
  t.items.max_failures = static_cast<int>(r.integer("item_max_failures", t.items.max_failures, 1, 1000));
  t.items.retry_delay = r.duration("item_retry_delay", t.items.retry_delay, Millis(0), Millis(7LL * 86'400'000));
  t.items.max_retry_delay =
      r.duration("item_max_retry_delay", t.items.max_retry_delay, Millis(0), Millis(30LL * 86'400'000));
  if (t.items.max_retry_delay < t.items.retry_delay) {
    ctx.error(r.node("item_max_retry_delay"), r.child_path("item_max_retry_delay"), "must not be shorter than item_retry_delay");
  }
  t.breaker.failure_percent = static_cast<int>(r.integer("breaker_failure_percent", t.breaker.failure_percent, 1, 100));
  t.breaker.min_items = static_cast<int>(r.integer("breaker_min_items", t.breaker.min_items, 1, 100'000));
  t.breaker.window_items = static_cast<int>(r.integer("breaker_window_items", t.breaker.window_items, 1, 100'000));
  if (t.breaker.window_items < t.breaker.min_items) {
    ctx.error(r.node("breaker_window_items"), r.child_path("breaker_window_items"), "must be at least breaker_min_items");
  }
  t.breaker.consecutive_failed_batches =
      static_cast<int>(r.integer("breaker_consecutive_failed_batches", t.breaker.consecutive_failed_batches, 1, 100'000));
  t.breaker.probe_interval = r.duration("breaker_probe_interval", t.breaker.probe_interval, Millis(1000), Millis(86'400'000));
  r.finish();
  return t;
}

}  // namespace

const char* to_string(SourceKind k) { return k == SourceKind::lti_platform ? "lti_platform" : "ltiaas"; }

const char* to_string(AuthScheme a) {
  switch (a) {
    case AuthScheme::ltik: return "ltik";
    case AuthScheme::ltik_v1: return "ltik_v1";
    default: return "service_key";
  }
}

const char* to_string(PersonKeyField f) {
  switch (f) {
    case PersonKeyField::user_id: return "user_id";
    case PersonKeyField::email: return "email";
    default: return "lis_person_sourcedid";
  }
}

std::vector<RoleRule> default_role_map() {
  // TeachingAssistant sub-roles come before Instructor: LTI sends a sub-role
  // together with its principal role, so a TA normally also carries
  // Instructor and would otherwise never be mapped as a TA.
  return {
      {"Instructor#TeachingAssistant*", "TeachingAssistant"},
      {"Instructor", "Instructor"},
      {"Learner", "Learner"},
      {"Mentor", "Mentor"},
      {"ContentDeveloper", "ContentDeveloper"},
      {"Administrator", "Administrator"},
  };
}

bool is_loopback_host(std::string_view host) {
  // Decided on the host as an address, never on its spelling: "127.x.example"
  // or "127.0.0.1.nip.io" are DNS names that may resolve anywhere.
  if (host == "localhost") return true;
  std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

bool is_valid_job_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
}

const Job* Config::find_job(const std::string& name) const {
  for (const auto& j : jobs) {
    if (j.name == name) return &j;
  }
  return nullptr;
}

bool parse_duration(const std::string& text, Millis& out) {
  if (text.empty()) return false;
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 12) return false;
  const long long n = std::stoll(text.substr(0, digits));  // < 10^12: no overflow below
  const std::string unit = text.substr(digits);
  long long per = 0;
  if (unit.empty() || unit == "s") per = 1000;
  else if (unit == "ms") per = 1;
  else if (unit == "m" || unit == "min") per = 60'000;
  else if (unit == "h") per = 3'600'000;
  else if (unit == "d") per = 86'400'000;
  else return false;
  // Ten years is longer than any setting means; beyond it the product could overflow.
  constexpr long long kLongest = 3650LL * 86'400'000;
  if (n > kLongest / per) return false;
  out = Millis(n * per);
  return true;
}

namespace {
Config read_config(const Context& ctx, const YAML::Node& root);
}  // namespace

Config parse(const std::string& yaml, const std::string& name, const std::string& base_dir) {
  Context ctx{name, base_dir};
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    throw ConfigError(name + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) +
                      ": invalid YAML: " + e.msg + yaml_hint(e.msg));
  }
  if (!root.IsDefined() || root.IsNull()) throw ConfigError(name + ": the file is empty");
  try {
    return read_config(ctx, root);
  } catch (const YAML::Exception& e) {
    // Every shape the readers expect is checked with a precise message; this
    // is the net under them, so that yaml-cpp's own errors still name the place.
    std::string where = e.mark.is_null() ? name
                                         : name + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    throw ConfigError(where + ": unexpected YAML structure: " + e.msg);
  }
}

namespace {

Config read_config(const Context& ctx, const YAML::Node& root) {
  const std::string& base_dir = ctx.base_dir;
  Config cfg;
  cfg.path = ctx.file;
  cfg.base_dir = base_dir;
  MapReader r(ctx, root, "");
  cfg.state_db = r.string("state_db", cfg.state_db);
  if (cfg.state_db.empty()) ctx.error(r.node("state_db"), "state_db", "must not be empty");
  if (fs::path(cfg.state_db).is_relative()) cfg.state_db = (fs::path(base_dir) / cfg.state_db).lexically_normal().string();
  cfg.log_level = r.string("log_level", cfg.log_level);
  if (!is_one_of(kLogLevels, cfg.log_level)) {
    ctx.error(r.node("log_level"), "log_level", "expected " + list_of(kLogLevels));
  }

  cfg.control_socket = r.string("control_socket", cfg.control_socket);
  if (!cfg.control_socket.empty() && fs::path(cfg.control_socket).is_relative()) {
    cfg.control_socket = (fs::path(base_dir) / cfg.control_socket).lexically_normal().string();
  }
  if (cfg.control_socket.size() > kMaxUnixSocketPath) {
    ctx.error(r.node("control_socket"), "control_socket",
              "path longer than " + std::to_string(kMaxUnixSocketPath) + " bytes, the limit of a Unix socket address");
  }
  cfg.shutdown_grace = r.duration("shutdown_grace", cfg.shutdown_grace, Millis(0), Millis(600'000));
  cfg.run_retention = r.duration("run_retention", cfg.run_retention, Millis(86'400'000), Millis(3650LL * 86'400'000));

  YAML::Node sources = r.node("sources");
  if (!sources.IsDefined()) r.missing("sources");
  if (!sources.IsMap() || sources.size() == 0) ctx.error(sources.IsDefined() ? sources : root, "sources", "expected a mapping of at least one source");
  for (const auto& entry : sources) {
    std::string key = key_text(ctx, entry.first, "sources");
    cfg.sources.emplace(key, read_source(ctx, key, entry.second));
  }
  YAML::Node targets = r.node("targets");
  if (!targets.IsDefined()) r.missing("targets");
  if (!targets.IsMap() || targets.size() == 0) ctx.error(targets.IsDefined() ? targets : root, "targets", "expected a mapping of at least one target");
  for (const auto& entry : targets) {
    std::string key = key_text(ctx, entry.first, "targets");
    cfg.targets.emplace(key, read_target(ctx, key, entry.second));
  }
  if (YAML::Node registry = r.node("registry"); registry.IsDefined() && !registry.IsNull()) {
    MapReader rr(ctx, registry, "registry");
    cfg.registry.path = rr.required_string("path");
    if (fs::path(cfg.registry.path).is_relative()) {
      cfg.registry.path = (fs::path(base_dir) / cfg.registry.path).lexically_normal().string();
    }
    cfg.registry.poll_interval = rr.duration("poll_interval", cfg.registry.poll_interval, Millis(0), Millis(86'400'000));
    cfg.registry.max_removed_courses =
        static_cast<int>(rr.integer("max_removed_courses", cfg.registry.max_removed_courses, 0, 1'000'000));
    cfg.registry.max_removed_percent =
        static_cast<int>(rr.integer("max_removed_percent", cfg.registry.max_removed_percent, 0, 100));
    rr.finish();
  }
  if (YAML::Node metrics = r.node("metrics"); metrics.IsDefined() && !metrics.IsNull()) {
    MapReader mr(ctx, metrics, "metrics");
    cfg.metrics.listen = mr.string("listen", "");
    if (!cfg.metrics.listen.empty()) {
      const std::string& listen = cfg.metrics.listen;
      const std::size_t colon = listen.rfind(':');
      const std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
      const std::string port = colon == std::string::npos ? "" : listen.substr(colon + 1);
      const bool port_ok = !port.empty() && port.size() <= 5 &&
                           std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }) &&
                           std::stoi(port) <= 65535;
      if (!port_ok) ctx.error(mr.node("listen"), mr.child_path("listen"), "expected host:port, e.g. 127.0.0.1:9477, got '" + listen + "'");
      if (!is_loopback_host(host)) {
        ctx.error(mr.node("listen"), mr.child_path("listen"),
                  "'" + host + "' is not a loopback address (127.0.0.1, [::1], localhost): metrics are served to this "
                  "machine only; let node_exporter's textfile collector or a local proxy publish them further");
      }
    }
    cfg.metrics.textfile = mr.string("textfile", "");
    if (!cfg.metrics.textfile.empty()) {
      if (fs::path(cfg.metrics.textfile).is_relative()) {
        cfg.metrics.textfile = (fs::path(base_dir) / cfg.metrics.textfile).lexically_normal().string();
      }
      if (fs::path(cfg.metrics.textfile).extension() != ".prom") {
        ctx.error(mr.node("textfile"), mr.child_path("textfile"), "must end in .prom (node_exporter reads only those)");
      }
    }
    cfg.metrics.textfile_interval =
        mr.duration("textfile_interval", cfg.metrics.textfile_interval, Millis(1000), Millis(3'600'000));
    mr.finish();
  }
  if (YAML::Node defaults = r.node("job_defaults"); defaults.IsDefined() && !defaults.IsNull()) {
    cfg.job_defaults = read_job(ctx, defaults, "job_defaults", cfg, Job{}, JobKind::defaults);
  }
  YAML::Node jobs = r.node("jobs");
  if (!jobs.IsDefined() && cfg.registry.path.empty()) r.missing("jobs");
  if (jobs.IsDefined() && !jobs.IsNull()) {
    if (!jobs.IsSequence() || (jobs.size() == 0 && cfg.registry.path.empty())) {
      ctx.error(jobs, "jobs", "expected a list of at least one job (or a registry of courses)");
    }
    std::set<std::string> names;
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      std::string path = "jobs[" + std::to_string(i) + "]";
      Job job = read_job(ctx, jobs[i], path, cfg, cfg.job_defaults, JobKind::job);
      if (!names.insert(job.name).second) ctx.error(jobs[i]["name"], path + ".name", "duplicate job name '" + job.name + "'");
      cfg.jobs.push_back(std::move(job));
    }
  }
  r.finish();
  return cfg;
}

}  // namespace


}  // namespace rostersync::config
