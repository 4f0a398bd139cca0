#include "daemon/operator.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "config/domain/text.hpp"
#include "daemon/commands.hpp"
#include "store/reports.hpp"

namespace rostersync::daemon {
namespace json = boost::json;

namespace {

using Table = store::ReportTable;

json::value to_json(const Table::Cell& cell) {
  if (const auto* i = std::get_if<std::int64_t>(&cell)) return *i;
  if (const auto* t = std::get_if<std::string>(&cell)) return json::string(*t);
  return nullptr;
}

std::string cell_text(const json::value& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

std::string cell_text(const Table::Cell& cell) { return cell_text(to_json(cell)); }

void print(const Table& t, bool as_json) {
  if (as_json) {
    json::array out;
    for (const auto& row : t.rows) {
      json::object o;
      for (std::size_t c = 0; c < t.columns.size(); ++c) o[t.columns[c]] = to_json(row[c]);
      out.push_back(std::move(o));
    }
    std::cout << json::serialize(out) << "\n";
    return;
  }
  std::vector<std::size_t> width;
  for (const auto& c : t.columns) width.push_back(c.size());
  for (const auto& row : t.rows) {
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::min<std::size_t>(60, std::max(width[c], cell_text(row[c]).size()));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      // Cells hold roster text from the network: a terminal gets no control
      // characters from them, and a cut never splits a UTF-8 sequence.
      std::string text = clip_for_message(cells[c], cells[c].size() > 60 ? 57 : 60);
      s += text + std::string(c + 1 < cells.size() ? width[c] - std::min(width[c], text.size()) + 2 : 0, ' ');
    }
    std::cout << s << "\n";
  };
  line(t.columns);
  for (const auto& row : t.rows) {
    std::vector<std::string> cells;
    for (const auto& v : row) cells.push_back(cell_text(v));
    line(cells);
  }
  if (t.rows.empty()) std::cout << "(none)\n";
}

// Runs `body` with the state database open read-only; maps errors to exit codes.
template <typename Body>
int with_database(const config::Config& cfg, Body body) {
  try {
    store::Reports reports(cfg.state_db);
    body(reports);
    return kExitOk;
  } catch (const std::exception& e) {
    std::cerr << "rostersync: " << e.what() << "\n";
    return kExitRuntime;
  }
}

bool known_job(const config::Config& cfg, const std::optional<std::string>& job) {
  if (!job || cfg.find_job(*job)) return true;
  std::cerr << "rostersync: no job named '" << *job << "' in " << cfg.path << "\n";
  return false;
}

}  // namespace

store::JobRef job_ref(const config::Job& job) { return {job.name, job.target, job.hierarchy_id}; }

int cmd_status(const config::Config& cfg, const ReportOptions& options) {
  if (!known_job(cfg, options.job)) return kExitConfig;
  return with_database(cfg, [&](store::Reports& db) {
    std::vector<store::JobRef> jobs;
    for (const auto& job : cfg.jobs) {
      if (!options.job || job.name == *options.job) jobs.push_back(job_ref(job));
    }
    print(db.status(jobs), options.json);
  });
}

int cmd_runs(const config::Config& cfg, const ReportOptions& options) {
  return with_database(cfg, [&](store::Reports& db) { print(db.runs(options.job, options.limit), options.json); });
}

int cmd_members(const config::Config& cfg, const ReportOptions& options) {
  if (!options.job || !known_job(cfg, options.job)) {
    if (!options.job) std::cerr << "rostersync: members needs --job NAME\n";
    return kExitConfig;
  }
  const config::Job& job = *cfg.find_job(*options.job);
  return with_database(cfg, [&](store::Reports& db) { print(db.members(job_ref(job)), options.json); });
}

int cmd_failures(const config::Config& cfg, const ReportOptions& options) {
  if (!known_job(cfg, options.job)) return kExitConfig;
  return with_database(cfg, [&](store::Reports& db) { print(db.failures(options.job), options.json); });
}

int cmd_check_config(const std::string& path, bool as_json) {
  config::Config cfg;
  try {
    cfg = config::load_file(path);
  } catch (const config::ConfigError& e) {
    std::cerr << "rostersync: configuration error: " << e.what() << "\n";
    return kExitConfig;
  }
  auto secret = [](const config::Secret& s) { return "(secret from " + s.file() + ")"; };
  auto http = [](const config::HttpSettings& h) {
    return json::object{{"connect_timeout_ms", h.connect_timeout.count()}, {"request_timeout_ms", h.request_timeout.count()},
                        {"max_response_bytes", h.max_response_bytes}, {"ca_file", h.ca_file},
                        {"allow_insecure_http", h.allow_insecure_http}};
  };
  auto retry = [](const config::RetrySettings& r) {
    return json::object{{"max_attempts", r.max_attempts}, {"retry_delay_ms", r.retry_delay.count()},
                        {"max_retry_delay_ms", r.max_retry_delay.count()},
                        {"blocked_retry_interval_ms", r.blocked_retry_interval.count()}};
  };
  json::object sources, targets;
  for (const auto& [name, s] : cfg.sources) {
    sources[name] = json::object{{"base_url", s.base_url}, {"api_key", secret(s.api_key)}, {"http", http(s.http)},
                                 {"retry", retry(s.retry)}};
  }
  for (const auto& [name, t] : cfg.targets) {
    targets[name] = json::object{{"endpoint", t.endpoint}, {"username", t.username}, {"password", secret(t.password)},
                                 {"in_flight_budget", t.in_flight_budget}, {"batch_size", t.batch_size},
                                 {"force_large_batches", t.force_large_batches}, {"retry", retry(t.retry)},
                                 {"items", json::object{{"max_failures", t.items.max_failures},
                                                        {"retry_delay_ms", t.items.retry_delay.count()},
                                                        {"max_retry_delay_ms", t.items.max_retry_delay.count()}}},
                                 {"breaker", json::object{{"failure_percent", t.breaker.failure_percent},
                                                          {"min_items", t.breaker.min_items},
                                                          {"window_items", t.breaker.window_items},
                                                          {"consecutive_failed_batches", t.breaker.consecutive_failed_batches},
                                                          {"probe_interval_ms", t.breaker.probe_interval.count()}}},
                                 {"http", http(t.http)}};
  }
  json::array jobs;
  for (const auto& j : cfg.jobs) {
    json::array roles;
    for (const auto& r : j.role_map) roles.push_back(json::object{{"lti", r.lti}, {"role_type", r.role_type}});
    jobs.push_back(json::object{{"name", j.name}, {"source", j.source}, {"target", j.target},
                                {"auth", config::to_string(j.auth)}, {"service_key", secret(j.service_key)},
                                {"role_filter", j.role_filter}, {"resource_link_id", j.resource_link_id},
                                {"page_limit", j.page_limit}, {"max_pages", j.max_pages}, {"max_members", j.max_members},
                                {"hierarchy_id", j.hierarchy_id}, {"person_key", config::to_string(j.person_key)},
                                {"person_key_prefix", j.person_key_prefix}, {"role_map", std::move(roles)},
                                {"skip_test_users", j.skip_test_users}, {"interval_ms", j.interval.count()},
                                {"jitter_ms", j.jitter.count()}});
  }
  json::object out{{"config", cfg.path}, {"state_db", cfg.state_db}, {"log_level", cfg.log_level},
                   {"sources", std::move(sources)}, {"targets", std::move(targets)}, {"jobs", std::move(jobs)}};
  if (as_json) {
    std::cout << json::serialize(out) << "\n";
  } else {
    std::cout << "configuration OK: " << cfg.path << " (" << cfg.jobs.size() << " job(s))\n";
    std::function<void(const json::value&, const std::string&)> dump = [&](const json::value& v, const std::string& indent) {
      if (v.is_object()) {
        for (const auto& [k, child] : v.as_object()) {
          if (child.is_object() || child.is_array()) {
            std::cout << indent << std::string(k) << ":\n";
            dump(child, indent + "  ");
          } else {
            std::cout << indent << std::string(k) << ": " << cell_text(child) << "\n";
          }
        }
      } else if (v.is_array()) {
        for (const auto& child : v.as_array()) {
          std::cout << indent << "-\n";
          dump(child, indent + "  ");
        }
      }
    };
    dump(out, "  ");
  }
  return kExitOk;
}

}  // namespace rostersync::daemon
