#include "config/config_json.hpp"

#include <boost/json.hpp>

#include <map>

namespace rostersync::config {
namespace json = boost::json;

namespace {

std::string secret(const Secret& s) { return "(secret from " + s.file() + ")"; }

json::object http(const HttpSettings& h) {
  return {{"connect_timeout", format_duration(h.connect_timeout)},
          {"request_timeout", format_duration(h.request_timeout)},
          {"max_response_bytes", h.max_response_bytes},
          {"ca_file", h.ca_file},
          {"allow_insecure_http", h.allow_insecure_http}};
}

void add_retry(json::object& o, const RetrySettings& r) {
  o["max_attempts"] = r.max_attempts;
  o["retry_delay"] = format_duration(r.retry_delay);
  o["max_retry_delay"] = format_duration(r.max_retry_delay);
  o["blocked_retry_interval"] = format_duration(r.blocked_retry_interval);
}

json::object source(const Source& s) {
  json::object o{{"kind", to_string(s.kind)}, {"base_url", s.base_url}, {"http", http(s.http)},
                 {"max_concurrent_walks", s.max_concurrent_walks}};
  if (s.kind == SourceKind::ltiaas) {
    o["api_key_file"] = secret(s.api_key);
  } else {
    json::array scopes;
    for (const auto& scope : s.scopes) scopes.emplace_back(scope);
    o["issuer"] = s.issuer;
    o["client_id"] = s.client_id;
    o["deployment_id"] = s.deployment_id;
    o["token_url"] = s.token_url;
    o["audience"] = s.audience.empty() ? s.token_url : s.audience;
    o["private_key_file"] = secret(s.private_key);
    o["key_id"] = s.key_id;
    o["scopes"] = std::move(scopes);
    o["assertion_lifetime"] = format_duration(s.assertion_lifetime);
  }
  add_retry(o, s.retry);
  return o;
}

json::object target(const Target& t) {
  json::object o{{"endpoint", t.endpoint},
                 {"username", t.username},
                 {"password_file", secret(t.password)},
                 {"in_flight_budget", t.in_flight_budget},
                 {"batch_size", t.batch_size},
                 {"force_large_batches", t.force_large_batches},
                 {"item_max_failures", t.items.max_failures},
                 {"item_retry_delay", format_duration(t.items.retry_delay)},
                 {"item_max_retry_delay", format_duration(t.items.max_retry_delay)},
                 {"breaker_failure_percent", t.breaker.failure_percent},
                 {"breaker_min_items", t.breaker.min_items},
                 {"breaker_window_items", t.breaker.window_items},
                 {"breaker_consecutive_failed_batches", t.breaker.consecutive_failed_batches},
                 {"breaker_probe_interval", format_duration(t.breaker.probe_interval)},
                 {"http", http(t.http)}};
  add_retry(o, t.retry);
  return o;
}

}  // namespace

std::string format_duration(Millis value) {
  long long ms = value.count();
  if (ms != 0 && ms % 86'400'000 == 0) return std::to_string(ms / 86'400'000) + "d";
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

json::object to_json(const Job& j) {
  json::array roles;
  for (const auto& r : j.role_map) roles.push_back(json::object{{"lti", r.lti}, {"role_type", r.role_type}});
  return {{"name", j.name},
          {"source", j.source},
          {"target", j.target},
          {"auth", to_string(j.auth)},
          {"service_key_file", secret(j.service_key)},
          {"memberships_url", j.memberships_url},
          {"role_filter", j.role_filter},
          {"resource_link_id", j.resource_link_id},
          {"page_limit", j.page_limit},
          {"max_pages", j.max_pages},
          {"max_members", j.max_members},
          {"hierarchy_id", j.hierarchy_id},
          {"person_key", to_string(j.person_key)},
          {"person_key_prefix", j.person_key_prefix},
          {"role_map", std::move(roles)},
          {"skip_test_users", j.skip_test_users},
          {"interval", format_duration(j.interval)},
          {"jitter", format_duration(j.jitter)},
          {"remove_departed", j.remove_departed},
          {"departure_grace", j.departure_grace},
          {"remove_inactive", j.remove_inactive},
          {"max_deletes", j.max_deletes},
          {"max_delete_percent", j.max_delete_percent},
          {"adopt_existing", j.adopt_existing},
          {"own_adopted", j.own_adopted},
          {"reconcile_interval", format_duration(j.reconcile_interval)},
          {"origin", j.origin}};
}

json::object to_json(const Config& cfg) {
  json::object sources, targets;
  for (const auto& [name, s] : cfg.sources) sources[name] = source(s);
  for (const auto& [name, t] : cfg.targets) targets[name] = target(t);
  json::array jobs, errors;
  for (const auto& j : cfg.jobs) jobs.push_back(to_json(j));
  for (const auto& e : cfg.registry_errors) errors.push_back(json::string(e));
  return {{"config", cfg.path},
          {"state_db", cfg.state_db},
          {"log_level", cfg.log_level},
          {"control_socket", cfg.control_socket},
          {"shutdown_grace", format_duration(cfg.shutdown_grace)},
          {"run_retention", format_duration(cfg.run_retention)},
          {"sources", std::move(sources)},
          {"targets", std::move(targets)},
          {"registry", json::object{{"path", cfg.registry.path}, {"poll_interval", format_duration(cfg.registry.poll_interval)}}},
          {"metrics", json::object{{"listen", cfg.metrics.listen}, {"textfile", cfg.metrics.textfile},
                                   {"textfile_interval", format_duration(cfg.metrics.textfile_interval)}}},
          {"jobs", std::move(jobs)},
          {"registry_errors", std::move(errors)}};
}

namespace {
// Names in a change summary: a registry of thousands must not make one log line of them.
struct NameList {
  std::string text;
  int count = 0;
  void add(const std::string& entry) {
    if (++count <= 10) text += " " + entry;
  }
  std::string str() const { return count > 10 ? text + " and " + std::to_string(count - 10) + " more" : text; }
};
}  // namespace

std::string describe_changes(const Config& before, const Config& after) {
  NameList added, removed, changed;
  std::map<std::string, const Job*> old_jobs, new_jobs;
  for (const auto& j : before.jobs) old_jobs[j.name] = &j;
  for (const auto& j : after.jobs) new_jobs[j.name] = &j;
  for (const auto& j : after.jobs) {
    auto found = old_jobs.find(j.name);
    const Job* old = found == old_jobs.end() ? nullptr : found->second;
    if (!old) {
      added.add(j.name);
    } else if (!same_settings(*old, j)) {
      json::object a = to_json(*old), b = to_json(j);
      std::string keys;
      for (const auto& [key, value] : b) {
        if (key != "origin" && a[key] != value) keys += (keys.empty() ? "" : ", ") + std::string(key);
      }
      if (keys.empty()) keys = "service key content";  // same file, new secret: never show it
      changed.add(j.name + " (" + keys + ")");
    }
  }
  for (const auto& j : before.jobs) {
    if (!new_jobs.count(j.name)) removed.add(j.name);
  }
  std::string out;
  if (added.count) out += "added:" + added.str() + "; ";
  if (removed.count) out += "removed:" + removed.str() + "; ";
  if (changed.count) out += "changed:" + changed.str() + "; ";
  return out.empty() ? "no job changed (sources, targets or log level may have)" : out.substr(0, out.size() - 2);
}

}  // namespace rostersync::config
