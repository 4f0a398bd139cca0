#include "config/config.hpp"

#include "domain/names.hpp"
#include "domain/text.hpp"
#include "config/config_json.hpp"

#include <yaml-cpp/yaml.h>

#include <boost/url/parse.hpp>

#include <arpa/inet.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace rostersync::config {
namespace {

namespace fs = std::filesystem;

// sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
constexpr std::size_t kMaxUnixSocketPath = 107;
// A secret is one line: a password, an API key. Anything larger is a mistake.
constexpr std::size_t kMaxSecretBytes = 64 * 1024;
// itslearning's identifiers (sync ids, usernames) hold at most 255 characters.
constexpr std::size_t kMaxIdentifierBytes = 255;

// Shared state of one load: where messages point and how paths resolve.
struct Context {
  std::string file;
  std::string base_dir;

  // "file:line:col: key.path", the prefix of every message about a key.
  std::string where(const YAML::Node& node, const std::string& key_path) const {
    std::ostringstream out;
    out << file;
    if (node.IsDefined() && node.Mark().line >= 0) {
      out << ':' << node.Mark().line + 1 << ':' << node.Mark().column + 1;
    }
    out << ": " << key_path;
    return out.str();
  }

  [[noreturn]] void error(const YAML::Node& node, const std::string& key_path, const std::string& what) const {
    throw ConfigError(where(node, key_path) + ": " + what);
  }
};

// Levenshtein distance, for "did you mean" on misspelt keys (short strings).
// yaml-cpp's syntax errors in plain words: what usually causes each.
std::string yaml_hint(const std::string& msg) {
  static const std::pair<const char*, const char*> kHints[] = {
      {"end of map flow not found", "a '{' is not closed by '}'"},
      {"end of sequence flow not found", "a '[' is not closed by ']'"},
      {"end of map not found", "a key is indented less or more than the keys beside it"},
      {"end of sequence not found", "a '- ' item is indented less or more than the items beside it"},
      {"illegal tab", "indent with spaces: YAML does not allow tabs there"},
      {"illegal map value", "a value holding ': ' (or starting with a special character) needs quotes"},
      {"illegal map key", "a key cannot start there: check the indentation and the line before"},
      {"illegal block entry", "a '- ' item cannot start there: check its indentation"},
      {"illegal flow end", "a '}' or ']' closes nothing"},
      {"unknown escape character", "inside double quotes a backslash starts an escape: use single quotes for paths"},
      {"illegal EOF in scalar", "a quote is not closed"},
      {"unknown token", "a character YAML reserves (such as @ or `) starts a value: put the value in quotes"},
  };
  for (const auto& [fragment, hint] : kHints) {
    if (msg.find(fragment) != std::string::npos) return std::string(" (") + hint + ")";
  }
  return "";
}


std::string describe(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a mapping";
  return "nothing";
}

// A mapping key as text; YAML also allows lists and mappings as keys.
std::string key_text(const Context& ctx, const YAML::Node& key, const std::string& parent_path) {
  if (!key.IsScalar()) {
    ctx.error(key, parent_path.empty() ? "(top level)" : parent_path, "keys must be plain names, got " + describe(key));
  }
  return key.Scalar();
}

// Reads one YAML mapping, remembering which keys were used so that unknown
// (usually misspelt) keys are reported instead of silently ignored.
class MapReader {
 public:
  MapReader(const Context& ctx, YAML::Node node, std::string path)
      : ctx_(ctx), node_(std::move(node)), path_(std::move(path)) {
    if (!node_.IsMap()) ctx_.error(node_, path_, "expected a mapping, got " + describe(node_));
    // yaml-cpp keeps both entries of a repeated key and lookups find the
    // first: the second value would be ignored without a word.
    std::map<std::string, YAML::Mark> seen;
    for (const auto& entry : node_) {
      std::string key = key_text(ctx_, entry.first, path_);
      auto [first, inserted] = seen.emplace(key, entry.first.Mark());
      if (!inserted) {
        ctx_.error(entry.first, child_path(key),
                   "duplicate key (first at line " + std::to_string(first->second.line + 1) + ")");
      }
    }
  }

  std::string child_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const Context& ctx() const { return ctx_; }

  YAML::Node node(const std::string& key) {
    used_.insert(key);
    return node_[key];
  }

  bool has(const std::string& key) const { return node_[key].IsDefined() && !node_[key].IsNull(); }

  std::string string(const std::string& key, std::string fallback, bool required = false) {
    YAML::Node n = node(key);
    if (!n.IsDefined() || n.IsNull()) {
      if (required) missing(key);
      return fallback;
    }
    if (!n.IsScalar()) ctx_.error(n, child_path(key), "expected a string, got " + describe(n));
    return n.Scalar();
  }

  std::string required_string(const std::string& key) {
    std::string value = string(key, "", true);
    if (value.empty()) ctx_.error(node(key), child_path(key), "must not be empty");
    return value;
  }

  // A value itslearning receives as an identifier or in the SOAP header: a
  // control character would make the XML invalid and an over-long value is
  // refused, and either would block every job on the target, so both are
  // caught here. An optional one is "" when absent.
  std::string identifier(const std::string& key, std::size_t max_bytes, bool required = true) {
    std::string value = required ? required_string(key) : string(key, "");
    auto bad = std::find_if(value.begin(), value.end(), [](unsigned char c) { return c < 0x20 || c == 0x7F; });
    if (bad != value.end()) ctx_.error(node(key), child_path(key), "must not contain control characters");
    if (value.size() > max_bytes) {
      ctx_.error(node(key), child_path(key), "longer than " + std::to_string(max_bytes) + " bytes");
    }
    return value;
  }

  long integer(const std::string& key, long fallback, long min, long max) {
    YAML::Node n = node(key);
    if (!n.IsDefined() || n.IsNull()) return fallback;
    long value = 0;
    std::size_t used = 0;
    bool parsed = false;
    if (n.IsScalar()) {
      try {
        value = std::stol(n.Scalar(), &used);
        parsed = used == n.Scalar().size();
      } catch (const std::exception&) {
        parsed = false;
      }
    }
    if (!parsed) ctx_.error(n, child_path(key), "expected a whole number, got " + describe(n));
    if (value < min || value > max) {
      ctx_.error(n, child_path(key),
                 "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                     std::to_string(value));
    }
    return value;
  }

  bool boolean(const std::string& key, bool fallback) {
    YAML::Node n = node(key);
    if (!n.IsDefined() || n.IsNull()) return fallback;
    bool value = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, value)) {
      ctx_.error(n, child_path(key), "expected true or false, got " + describe(n));
    }
    return value;
  }

  // Every duration has a range: a value outside it is refused here, where
  // its file, line and key are known (a 110000d interval must not pass and
  // then loop; an overflow must not wrap).
  Millis duration(const std::string& key, Millis fallback, Millis min, Millis max) {
    YAML::Node n = node(key);
    if (!n.IsDefined() || n.IsNull()) return fallback;
    Millis value{};
    if (!n.IsScalar() || !parse_duration(n.Scalar(), value)) {
      ctx_.error(n, child_path(key),
                 "expected a duration such as 90s, 30m, 2h, 500ms or a number of seconds (at most 3650d), got " +
                     describe(n));
    }
    if (value < min || value > max) {
      ctx_.error(n, child_path(key),
                 "must be between " + format_duration(min) + " and " + format_duration(max) + ", got " + n.Scalar());
    }
    return value;
  }

  // A reference to the secret file named by `key`, read by resolve().
  Secret secret_file(const std::string& key) {
    std::string raw = required_string(key);
    return Secret::reference(std::move(raw), ctx_.where(node(key), child_path(key)));
  }

  // A required key is absent (or each of `alternatives`, keys that would
  // do instead). A misspelling of one is the likely cause: name it.
  [[noreturn]] void missing(const std::string& key, std::initializer_list<const char*> alternatives = {}) const {
    std::vector<std::string> wanted{key};
    for (const char* a : alternatives) wanted.emplace_back(a);
    for (const auto& entry : node_) {
      std::string other = key_text(ctx_, entry.first, path_);
      for (const std::string& w : wanted) {
        if (other != w && edit_distance(other, w) <= 2) {
          ctx_.error(entry.first, child_path(other), "unknown key; did you mean '" + w + "'? (" + key + " is required)");
        }
      }
    }
    ctx_.error(node_, child_path(key), "is required");
  }

  // Rejects keys this reader never asked for, suggesting the nearest one it did.
  void finish() const {
    for (const auto& entry : node_) {
      std::string key = key_text(ctx_, entry.first, path_);
      if (used_.count(key)) continue;
      std::string nearest;
      std::size_t best = 3;
      for (const std::string& known : used_) {
        const std::size_t d = edit_distance(key, known);
        if (d < best && d * 3 <= known.size()) {
          best = d;
          nearest = known;
        }
      }
      ctx_.error(entry.first, child_path(key), nearest.empty() ? "unknown key" : "unknown key; did you mean '" + nearest + "'?");
    }
  }

 private:
  const Context& ctx_;
  YAML::Node node_;
  std::string path_;
  std::set<std::string> used_;
};

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

std::vector<RoleRule> read_role_map(MapReader& parent) {
  YAML::Node n = parent.node("role_map");
  if (!n.IsDefined() || n.IsNull()) return default_role_map();
  std::string path = parent.child_path("role_map");
  if (!n.IsSequence() || n.size() == 0) parent.ctx().error(n, path, "expected a non-empty list of {lti, role_type}");
  std::vector<RoleRule> rules;
  for (std::size_t i = 0; i < n.size(); ++i) {
    MapReader r(parent.ctx(), n[i], path + "[" + std::to_string(i) + "]");
    RoleRule rule;
    rule.lti = r.required_string("lti");
    rule.role_type = r.required_string("role_type");
    if (!is_one_of(kRoleTypes, rule.role_type)) {
      parent.ctx().error(r.node("role_type"), r.child_path("role_type"),
                         "'" + rule.role_type + "' is not an IMS-ES roleType (" + list_of(kRoleTypes) + ")");
    }
    r.finish();
    rules.push_back(std::move(rule));
  }
  return rules;
}

// Where a job's keys come from: the configuration's `jobs`, `job_defaults`
// (nothing required, no name), or a registry course (a service key may be
// written inline, in a file only the service may read).
enum class JobKind { job, defaults, course };

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = 0; (at = text.find(from, at)) != std::string::npos; at += to.size()) text.replace(at, from.size(), to);
  return text;
}

void check_hierarchy_template(const MapReader& r, const YAML::Node& node, const std::string& key, const std::string& value) {
  static const std::set<std::string> known = {"{context.id}", "{context.label}", "{context.title}", "{name}"};
  for (std::size_t at = 0; (at = value.find('{', at)) != std::string::npos;) {
    std::size_t end = value.find('}', at);
    if (end == std::string::npos) r.ctx().error(node, r.child_path(key), "unterminated '{' in '" + value + "'");
    std::string placeholder = value.substr(at, end - at + 1);
    if (!known.count(placeholder)) {
      r.ctx().error(node, r.child_path(key),
                    "unknown placeholder " + placeholder + " (known: {context.id}, {context.label}, {context.title}, {name})");
    }
    at = end + 1;
  }
}

Job read_job(const Context& ctx, const YAML::Node& node, const std::string& path, const Config& cfg, const Job& base,
             JobKind kind) {
  MapReader r(ctx, node, path);
  const bool defaults = kind == JobKind::defaults;
  Job j = base;
  // A key is required unless job_defaults gave it.
  auto text = [&](const std::string& key, const std::string& fallback) {
    std::string value = r.string(key, fallback, !defaults && fallback.empty());
    if (!defaults && value.empty()) ctx.error(r.node(key), r.child_path(key), "must not be empty");
    return value;
  };
  if (!defaults) {
    j.name = r.required_string("name");
    if (!is_valid_job_name(j.name)) ctx.error(r.node("name"), r.child_path("name"), "may only contain letters, digits, '_', '-' and '.'");
  }
  j.source = text("source", base.source);
  if (!j.source.empty() && !cfg.sources.count(j.source)) {
    ctx.error(r.has("source") ? r.node("source") : node, r.child_path("source"), "no source named '" + j.source + "'");
  }
  j.target = text("target", base.target);
  if (!j.target.empty() && !cfg.targets.count(j.target)) {
    ctx.error(r.has("target") ? r.node("target") : node, r.child_path("target"), "no target named '" + j.target + "'");
  }

  std::string auth = r.string("auth", to_string(base.auth));
  if (auth == "service_key") j.auth = AuthScheme::service_key;
  else if (auth == "ltik") j.auth = AuthScheme::ltik;
  else if (auth == "ltik_v1") j.auth = AuthScheme::ltik_v1;
  else ctx.error(r.node("auth"), r.child_path("auth"), "expected service_key, ltik or ltik_v1, got '" + auth + "'");

  const Source* source = j.source.empty() ? nullptr : &cfg.sources.at(j.source);
  if (source && source->kind == SourceKind::lti_platform && !defaults) {
    // A platform's jobs name their roster by URL; the bearer token is the source's.
    for (const char* key : {"service_key", "service_key_file", "auth"}) {
      if (r.has(key)) ctx.error(r.node(key), r.child_path(key), "is not used by a job of an lti_platform source (" + j.source + ")");
    }
    j.service_key = Secret();
    j.memberships_url = r.required_string("memberships_url");
    if (std::string problem = url_problem(j.memberships_url); !problem.empty()) {
      ctx.error(r.node("memberships_url"), r.child_path("memberships_url"),
                "'" + clip_for_message(j.memberships_url, 200) + "' " + problem);
    }
    auto url = boost::urls::parse_uri(j.memberships_url);
    if (!url || !url->has_authority() || url->host().empty()) {
      ctx.error(r.node("memberships_url"), r.child_path("memberships_url"), "'" + j.memberships_url + "' is not an absolute URL");
    }
    if (url->has_fragment()) ctx.error(r.node("memberships_url"), r.child_path("memberships_url"), "must not contain a fragment");
    if (url_origin(j.memberships_url) != url_origin(source->base_url)) {
      ctx.error(r.node("memberships_url"), r.child_path("memberships_url"),
                "is not on the platform's origin " + url_origin(source->base_url) + " (sources." + j.source +
                    ".base_url): the access token is only ever sent there");
    }
  } else if (!defaults && r.has("memberships_url")) {
    ctx.error(r.node("memberships_url"), r.child_path("memberships_url"),
              "is only used by jobs of an lti_platform source; " + j.source + " is an LTIAAS source (give service_key_file)");
  } else if (defaults && r.has("memberships_url")) {
    ctx.error(r.node("memberships_url"), r.child_path("memberships_url"), "belongs to each job, not to job_defaults");
  } else if (kind == JobKind::course && r.has("service_key")) {
    if (r.has("service_key_file")) {
      ctx.error(r.node("service_key"), r.child_path("service_key"), "give service_key or service_key_file, not both");
    }
    std::string value = r.identifier("service_key", 4096);
    j.service_key = Secret(std::move(value), ctx.file);
  } else if (r.has("service_key_file") || defaults) {
    if (r.has("service_key_file")) j.service_key = r.secret_file("service_key_file");
  } else if (!base.service_key.spec().empty()) {
    j.service_key = Secret::reference(replace_all(base.service_key.spec(), "{name}", j.name),
                                      base.service_key.where() + " (for " + j.name + ")");
  } else {
    if (kind == JobKind::course) r.missing("service_key_file", {"service_key"});
    r.missing("service_key_file");
  }
  if (!defaults && j.service_key.spec().find("{name}") != std::string::npos) {
    j.service_key = Secret::reference(replace_all(j.service_key.spec(), "{name}", j.name), j.service_key.where());
  }
  j.role_filter = r.string("role_filter", base.role_filter);
  j.resource_link_id = r.string("resource_link_id", base.resource_link_id);
  j.page_limit = static_cast<int>(r.integer("page_limit", base.page_limit, 1, 10'000));
  j.max_pages = static_cast<int>(r.integer("max_pages", base.max_pages, 1, 1'000'000));
  j.max_members = static_cast<int>(r.integer("max_members", base.max_members, 1, 100'000'000));
  if (r.has("hierarchy_id") || !defaults) {
    j.hierarchy_id = r.has("hierarchy_id") || base.hierarchy_id.empty()
                         ? r.identifier("hierarchy_id", kMaxIdentifierBytes)
                         : base.hierarchy_id;
    check_hierarchy_template(r, r.node("hierarchy_id"), "hierarchy_id", j.hierarchy_id);
    if (!defaults) j.hierarchy_id = replace_all(j.hierarchy_id, "{name}", j.name);
  }

  std::string field = r.string("person_key", to_string(base.person_key));
  if (field == "lis_person_sourcedid") j.person_key = PersonKeyField::lis_person_sourcedid;
  else if (field == "user_id") j.person_key = PersonKeyField::user_id;
  else if (field == "email") j.person_key = PersonKeyField::email;
  else {
    ctx.error(r.node("person_key"), r.child_path("person_key"),
              "expected lis_person_sourcedid, user_id or email, got '" + field + "'");
  }
  if (r.has("person_key_prefix")) j.person_key_prefix = r.identifier("person_key_prefix", 64, false);
  if (r.has("role_map")) j.role_map = read_role_map(r);
  j.skip_test_users = r.boolean("skip_test_users", base.skip_test_users);
  j.interval = r.duration("interval", base.interval, Millis(1000), Millis(30LL * 86'400'000));
  j.jitter = r.duration("jitter", base.jitter, Millis(0), Millis(30LL * 86'400'000));
  if (j.jitter > j.interval) {
    // Point at whichever of the two this entry wrote: the other may come from job_defaults.
    const bool own_jitter = r.has("jitter");
    const std::string values = " (jitter " + format_duration(j.jitter) + ", interval " + format_duration(j.interval) +
                               (own_jitter ? "" : "; jitter from job_defaults or the default") + ")";
    if (own_jitter || !r.has("interval")) ctx.error(r.node("jitter"), r.child_path("jitter"), "must not exceed interval" + values);
    ctx.error(r.node("interval"), r.child_path("interval"), "must not be shorter than jitter" + values);
  }
  j.remove_departed = r.boolean("remove_departed", base.remove_departed);
  j.departure_grace = static_cast<int>(r.integer("departure_grace", base.departure_grace, 1, 100));
  j.remove_inactive = r.boolean("remove_inactive", base.remove_inactive);
  j.max_deletes = static_cast<int>(r.integer("max_deletes", base.max_deletes, 0, 1'000'000));
  j.max_delete_percent = static_cast<int>(r.integer("max_delete_percent", base.max_delete_percent, 0, 100));
  j.adopt_existing = r.boolean("adopt_existing", base.adopt_existing);
  j.own_adopted = r.boolean("own_adopted", base.own_adopted);
  j.reconcile_interval = r.duration("reconcile_interval", base.reconcile_interval, Millis(0), Millis(365LL * 86'400'000));
  if (j.reconcile_interval.count() != 0 && j.reconcile_interval < Millis(60'000)) {
    ctx.error(r.node("reconcile_interval"), r.child_path("reconcile_interval"), "must be 0 (off) or at least 1m");
  }
  r.finish();
  return j;
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

bool same_settings(const Job& a, const Job& b) {
  Job x = a;
  x.origin = b.origin;
  // The key's "where" (file:line for messages) moves with the entry too.
  const Secret &ka = a.service_key, &kb = b.service_key;
  if (ka.reveal() == kb.reveal() && ka.file() == kb.file() && ka.spec() == kb.spec() && ka.resolved() == kb.resolved()) {
    x.service_key = kb;
  }
  return x == b;
}

bool is_hierarchy_template(std::string_view hierarchy_id) { return hierarchy_id.find('{') != std::string_view::npos; }

namespace {

// The registry's course files, in name order: `path` itself, or the
// *.yaml / *.yml files directly in it (hidden and editor backup files are
// not courses).
std::vector<fs::path> registry_files(const std::string& path, std::error_code& ec) {
  std::vector<fs::path> files;
  const fs::file_status st = fs::status(path, ec);
  if (ec) return files;
  // A registry that is not there (moved away, a mount that failed) is an
  // unreadable registry, not a course file that cannot be read.
  if (st.type() == fs::file_type::not_found) {
    ec = std::make_error_code(std::errc::no_such_file_or_directory);
    return files;
  }
  if (!fs::is_directory(st)) {
    files.emplace_back(path);
    return files;
  }
  for (auto it = fs::directory_iterator(path, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    std::string name = p.filename().string();
    std::string ext = p.extension().string();
    if (name.empty() || name[0] == '.' || (ext != ".yaml" && ext != ".yml")) continue;
    files.push_back(p);
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string read_whole(const fs::path& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = std::strerror(errno);
    return {};
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// " (course 'bio')" when the entry names its course: `status --job bio` finds the error.
std::string course_label(const YAML::Node& node) {
  try {
    if (node.IsMap() && node["name"] && node["name"].IsScalar()) {
      const std::string& name = node["name"].Scalar();
      if (is_valid_job_name(name) && name.size() <= 100) return " (course '" + name + "')";
    }
  } catch (const YAML::Exception&) {
  }
  return "";
}

}  // namespace

std::string origin_file(const Job& job) {
  const std::size_t colon = job.origin.rfind(':');
  return colon == std::string::npos ? job.origin : job.origin.substr(0, colon);
}

void read_registry(Config& cfg) {
  std::erase_if(cfg.jobs, [](const Job& j) { return !j.origin.empty(); });
  cfg.registry_errors.clear();
  cfg.refused_files.clear();
  cfg.registry_unreadable.clear();
  if (cfg.registry.path.empty()) return;
  std::set<std::string> names;
  for (const auto& j : cfg.jobs) names.insert(j.name);
  std::error_code ec;
  std::vector<fs::path> files = registry_files(cfg.registry.path, ec);
  if (ec) {
    cfg.registry_unreadable = cfg.registry.path + ": cannot read the course registry: " + ec.message();
    cfg.registry_errors.push_back(cfg.registry_unreadable);
    return;
  }
  std::set<std::string> refused;
  // Every course read, with where its name is written, before duplicates are judged.
  struct Read {
    Job job;
    std::string name_at;  // file:line:col: key path of its name
  };
  std::vector<Read> courses;
  for (const fs::path& file : files) {
    Context ctx{file.string(), fs::path(file).parent_path().string()};
    std::string error;
    std::string text = read_whole(file, error);
    if (!error.empty()) {
      cfg.registry_errors.push_back(file.string() + ": cannot read: " + error);
      refused.insert(file.string());
      continue;
    }
    // A service key written inline must be for the service's eyes only.
    struct stat st{};
    bool world_readable = ::stat(file.c_str(), &st) == 0 && (st.st_mode & S_IROTH);
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      cfg.registry_errors.push_back(file.string() + ":" + std::to_string(e.mark.line + 1) + ":" +
                                    std::to_string(e.mark.column + 1) + ": invalid YAML: " + e.msg + yaml_hint(e.msg));
      refused.insert(file.string());
      continue;
    }
    if (!root.IsDefined() || root.IsNull()) continue;  // an empty file: no course
    std::vector<std::pair<YAML::Node, std::string>> entries;
    if (root.IsSequence()) {
      for (std::size_t i = 0; i < root.size(); ++i) entries.emplace_back(root[i], "[" + std::to_string(i) + "]");
    } else {
      entries.emplace_back(root, "");
    }
    for (auto& [node, path] : entries) {
      try {
        Job job = read_job(ctx, node, path, cfg, cfg.job_defaults, JobKind::course);
        job.origin = file.string() + ":" + std::to_string(node.Mark().line + 1);
        // A key file named in the course's own entry is relative to that entry's file.
        if (node["service_key_file"].IsDefined() && !job.service_key.resolved() &&
            fs::path(job.service_key.spec()).is_relative() && job.service_key.spec().rfind("${", 0) != 0) {
          job.service_key = Secret::reference((file.parent_path() / job.service_key.spec()).lexically_normal().string(),
                                              job.service_key.where());
        }
        if (job.service_key.resolved() && world_readable) {
          throw ConfigError(ctx.where(node["service_key"], path.empty() ? "service_key" : path + ".service_key") +
                            ": the file holds a service key but every user may read it; chmod o-r " + file.string());
        }
        const std::string name_path = path.empty() ? "name" : path + ".name";
        if (names.count(job.name)) {
          throw ConfigError(ctx.where(node["name"], name_path) + ": a job named '" + job.name + "' exists already in " +
                            cfg.path + "; this course is skipped");
        }
        courses.push_back({std::move(job), ctx.where(node["name"], name_path)});
      } catch (const ConfigError& e) {
        cfg.registry_errors.push_back(e.what() + course_label(node));
        refused.insert(file.string());
      } catch (const YAML::Exception& e) {
        cfg.registry_errors.push_back(ctx.where(node, path) + ": unexpected YAML structure: " + e.msg +
                                      course_label(node));
        refused.insert(file.string());
      }
    }
  }
  // One course in two places: which one is meant is not ours to guess, so
  // neither is used and both files are named.
  std::map<std::string, std::vector<const Read*>> by_name;
  for (const Read& r : courses) by_name[r.job.name].push_back(&r);
  for (const auto& [name, defs] : by_name) {
    if (defs.size() < 2) continue;
    for (const Read* r : defs) {
      std::string others;
      for (const Read* o : defs) {
        if (o != r) others += (others.empty() ? "" : ", ") + o->job.origin;
      }
      cfg.registry_errors.push_back(r->name_at + ": the course '" + name + "' is also defined in " + others +
                                    "; neither definition is used until one is removed");
      refused.insert(origin_file(r->job));
    }
  }
  for (Read& r : courses) {
    if (by_name[r.job.name].size() == 1) cfg.jobs.push_back(std::move(r.job));
  }
  cfg.refused_files.assign(refused.begin(), refused.end());
}

std::string registry_stamp(const RegistrySettings& registry) {
  if (registry.path.empty()) return "";
  std::error_code ec;
  std::vector<fs::path> files = registry_files(registry.path, ec);
  if (ec) return "error: " + ec.message();
  std::string stamp;
  for (const auto& f : files) {
    struct stat st{};
    if (::stat(f.c_str(), &st) != 0) continue;
    stamp += f.filename().string() + " " + std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
             std::to_string(st.st_mtim.tv_nsec) + "\n";
  }
  return stamp;
}

Config parse_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw ConfigError(path + ": is a directory, not a configuration file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    throw ConfigError(path + ": cannot open the configuration file: " + std::strerror(err));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string base = fs::absolute(path).parent_path().string();
  Config cfg = parse(buffer.str(), path, base);
  read_registry(cfg);
  return cfg;
}

Environment process_environment() {
  return [](const std::string& name) -> const char* { return std::getenv(name.c_str()); };
}

namespace {

std::string expand_variables(const std::string& text, const std::string& where, const Environment& env) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 2, "${") == 0) {
      std::size_t end = text.find('}', i);
      if (end == std::string::npos) throw ConfigError(where + ": unterminated ${ in '" + text + "'");
      std::string name = text.substr(i + 2, end - i - 2);
      const char* value = env(name);
      if (!value) {
        std::string hint = name == "CREDENTIALS_DIRECTORY"
                               ? " (systemd sets it for the unit; from a shell, check with `rostersync check-config "
                                 "--credentials-dir /etc/rostersync/credentials`)"
                               : "";
        throw ConfigError(where + ": environment variable " + name + " is not set" + hint);
      }
      out += value;
      i = end + 1;
    } else {
      out += text[i++];
    }
  }
  return out;
}

// DIR/<id>_<file> as the unit would present DIR/<id>/<file>, when only the latter exists.
std::string unit_credential_path(const std::string& path, const std::string& credentials_dir) {
  if (credentials_dir.empty() || fs::exists(path)) return path;
  fs::path p(path);
  if (p.parent_path() != fs::path(credentials_dir).lexically_normal()) return path;
  std::string name = p.filename().string();
  auto underscore = name.find('_');
  if (underscore == std::string::npos) return path;
  fs::path nested = p.parent_path() / name.substr(0, underscore) / name.substr(underscore + 1);
  return fs::exists(nested) ? nested.string() : path;
}

// A secret file holds one line (keys, passwords) or one PEM block (a private key).
enum class SecretShape { line, pem };

void resolve_secret(Secret& secret, const std::string& base_dir, const ResolveOptions& options,
                    SecretShape shape = SecretShape::line) {
  const std::string& where = secret.where();
  std::string path = expand_variables(secret.spec(), where, options.env);
  if (fs::path(path).is_relative()) path = (fs::path(base_dir) / path).lexically_normal().string();
  path = unit_credential_path(path, options.credentials_dir);
  auto fail = [&](const std::string& what) { throw ConfigError(where + ": " + what); };
  // Only regular files, and only so much: a path to /dev/zero, a FIFO or a
  // huge file must be an error, not a hang or an exhausted memory.
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  // The OS's reason: a missing file and one this user may not read need different fixes.
  auto os_reason = [&](int err) {
    std::string why = std::strerror(err);
    if (err == EACCES) why += " (the service reads it as its own user: check the file's owner and mode)";
    if (err == ENOENT && path.find("${") == std::string::npos && secret.spec().rfind("${CREDENTIALS_DIRECTORY}", 0) == 0) {
      why += " (is there a LoadCredential= for it, or --credentials-dir for check-config?)";
    }
    return why;
  };
  if (ec) fail("cannot read secret file '" + path + "': " + os_reason(ec.value()));
  if (!fs::exists(st)) fail("cannot read secret file '" + path + "': " + os_reason(ENOENT));
  if (!fs::is_regular_file(st)) fail("secret file '" + path + "' is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read secret file '" + path + "': " + os_reason(errno));
  std::string value(kMaxSecretBytes + 1, '\0');
  in.read(value.data(), static_cast<std::streamsize>(value.size()));
  value.resize(static_cast<std::size_t>(in.gcount()));
  if (value.size() > kMaxSecretBytes) {
    fail("secret file '" + path + "' is larger than " + std::to_string(kMaxSecretBytes / 1024) + " KiB");
  }
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' ')) value.pop_back();
  if (value.empty()) fail("secret file '" + path + "' is empty");
  if (shape == SecretShape::pem) {
    // The key itself is parsed where it is used (sync/platform); here only
    // its shape, so that a wrong file is named at load.
    if (value.find("-----BEGIN ") == std::string::npos || value.find("PRIVATE KEY-----") == std::string::npos) {
      fail("'" + path + "' does not hold a PEM private key (-----BEGIN PRIVATE KEY-----)");
    }
    secret.set(std::move(value), std::move(path));
    return;
  }
  if (value.find_first_of("\r\n") != std::string::npos) fail("secret file '" + path + "' must hold a single line");
  // A control character or invalid UTF-8 would make the SOAP body (or an
  // HTTP header) invalid: refused here instead of at every request.
  if (std::any_of(value.begin(), value.end(), [](unsigned char c) { return c < 0x20 || c == 0x7F; })) {
    fail("secret file '" + path + "' holds a control character");
  }
  if (!is_xml_safe(value)) fail("secret file '" + path + "' is not valid UTF-8 text");
  secret.set(std::move(value), std::move(path));
}

void check_ca_file(const HttpSettings& http) {
  if (!http.ca_file.empty() && !fs::exists(http.ca_file)) {
    throw ConfigError(http.ca_file_where + ": file '" + http.ca_file + "' does not exist");
  }
}

}  // namespace

void resolve(Config& cfg, const ResolveOptions& given) {
  ResolveOptions options = given;
  if (!options.credentials_dir.empty()) {
    options.credentials_dir = fs::absolute(options.credentials_dir).lexically_normal().string();
    while (options.credentials_dir.size() > 1 && options.credentials_dir.back() == '/') options.credentials_dir.pop_back();
    const std::string dir = options.credentials_dir;
    Environment outer = given.env;
    options.env = [dir, outer](const std::string& name) -> const char* {
      return name == "CREDENTIALS_DIRECTORY" ? dir.c_str() : outer(name);
    };
  }
  for (auto& [name, source] : cfg.sources) {
    check_ca_file(source.http);
    if (source.kind == SourceKind::ltiaas) resolve_secret(source.api_key, cfg.base_dir, options);
    else resolve_secret(source.private_key, cfg.base_dir, options, SecretShape::pem);
  }
  for (auto& [name, target] : cfg.targets) {
    check_ca_file(target.http);
    resolve_secret(target.password, cfg.base_dir, options);
  }
  for (auto it = cfg.jobs.begin(); it != cfg.jobs.end();) {
    // Written inline in the registry, or a platform's job (the source holds the key).
    if (it->service_key.resolved() || cfg.sources.at(it->source).kind == SourceKind::lti_platform) {
      ++it;
      continue;
    }
    try {
      resolve_secret(it->service_key, cfg.base_dir, options);
      ++it;
    } catch (const ConfigError& e) {
      if (it->origin.empty()) throw;
      cfg.registry_errors.push_back(std::string(e.what()) + "; course " + it->name + " is skipped");
      const std::string file = origin_file(*it);
      if (std::find(cfg.refused_files.begin(), cfg.refused_files.end(), file) == cfg.refused_files.end()) {
        cfg.refused_files.insert(std::upper_bound(cfg.refused_files.begin(), cfg.refused_files.end(), file), file);
      }
      it = cfg.jobs.erase(it);
    }
  }
}

std::string after_fixing(const Secret& secret) {
  // The unit says its name (Environment=ROSTERSYNC_UNIT=%N): rostersync, or rostersync@SITE.
  const char* env = std::getenv("ROSTERSYNC_UNIT");
  std::string unit = env && *env ? env : "rostersync";
  if (unit.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@_.-") != std::string::npos) {
    unit = "rostersync";
  }
  const std::size_t at = unit.find('@');
  const std::string credentials_dir =
      at == std::string::npos ? "/etc/rostersync/credentials/" : "/etc/rostersync/" + unit.substr(at + 1) + "/credentials/";
  static const std::string kCredentials = "${CREDENTIALS_DIRECTORY}/";
  const std::string& spec = secret.spec().empty() ? secret.file() : secret.spec();
  std::string key = secret.where();
  if (const std::size_t colon = key.rfind(": "); colon != std::string::npos) key = key.substr(colon + 2);
  const std::string named = key.empty() ? spec : key + " (" + spec + ")";
  if (spec.rfind(kCredentials, 0) != 0) {
    return "fix the file " + named + " names, then run `sudo systemctl reload " + unit + "`";
  }
  // The shipped unit's LoadCredential= lines: <id> is /etc/rostersync/credentials/<id>, and
  // <dir>_<file> a file of the directory credential <dir>.
  std::string id = spec.substr(kCredentials.size());
  for (const char* dir : {"service-keys_", "platform-keys_"}) {
    if (id.rfind(dir, 0) == 0) id = std::string(dir, std::strlen(dir) - 1) + "/" + id.substr(std::strlen(dir));
  }
  return "fix " + named + " (under the shipped unit: " + credentials_dir + id + "), then run `sudo systemctl restart " +
         unit + "`: systemd copies credentials only when the service starts, and a reload would read the old copy";
}

Config load_file(const std::string& path) {
  Config cfg = parse_file(path);
  resolve(cfg);
  return cfg;
}

Config load_string(const std::string& yaml, const std::string& name, const std::string& base_dir) {
  Config cfg = parse(yaml, name, base_dir);
  read_registry(cfg);
  resolve(cfg);
  return cfg;
}

}  // namespace rostersync::config
