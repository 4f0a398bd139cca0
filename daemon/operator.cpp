#include "daemon/operator.hpp"
#include "sync/redact.hpp"

#include <boost/json.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "daemon/commands.hpp"
#include "store/store.hpp"

namespace rostersync::daemon {
namespace json = boost::json;

namespace {

// A query result: column names and typed cells (integer, text or null).
struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<json::value>> rows;
};

Table query(store::Store& db, const std::string& sql, const std::vector<std::string>& binds = {}) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    throw store::StoreError(db.path() + ": " + sqlite3_errmsg(db.handle()));
  }
  for (std::size_t i = 0; i < binds.size(); ++i) {
    sqlite3_bind_text(st, static_cast<int>(i + 1), binds[i].c_str(), -1, SQLITE_TRANSIENT);
  }
  Table t;
  for (int c = 0; c < sqlite3_column_count(st); ++c) t.columns.emplace_back(sqlite3_column_name(st, c));
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    std::vector<json::value> row;
    for (int c = 0; c < sqlite3_column_count(st); ++c) {
      switch (sqlite3_column_type(st, c)) {
        case SQLITE_INTEGER: row.emplace_back(sqlite3_column_int64(st, c)); break;
        case SQLITE_NULL: row.emplace_back(nullptr); break;
        default: row.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, c)));
      }
    }
    t.rows.push_back(std::move(row));
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) throw store::StoreError(db.path() + ": " + sqlite3_errmsg(db.handle()));
  return t;
}

std::string cell_text(const json::value& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

void print(const Table& t, bool as_json) {
  if (as_json) {
    json::array out;
    for (const auto& row : t.rows) {
      json::object o;
      for (std::size_t c = 0; c < t.columns.size(); ++c) o[t.columns[c]] = row[c];
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
      std::string text = sync::clip_for_message(cells[c], cells[c].size() > 60 ? 57 : 60);
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

// A pending membership whose next send is due (not waiting after a refusal).
const std::string kNotWaiting = "COALESCE(next_attempt_at <= strftime('%Y-%m-%dT%H:%M:%fZ','now'), 1)";
// What operators see: created, pending (goes out at the next run), waiting
// (refused; tried again at next_try), parked (refused too often; `rostersync retry`).
const std::string kDerivedState = "CASE WHEN m.state='created' THEN 'created' WHEN m.state='failed' THEN 'parked' WHEN " +
                                  kNotWaiting + " THEN 'pending' ELSE 'waiting' END";

// Runs `body` with the state database open read-only; maps errors to exit codes.
template <typename Body>
int with_database(const config::Config& cfg, Body body) {
  try {
    store::Store db(cfg.state_db, store::Store::Mode::read_only);
    if (db.schema_version() < store::kSchemaVersion) {
      std::cerr << "rostersync: " << cfg.state_db << " has schema version " << db.schema_version()
                << "; run `rostersync sync` (or the daemon) once to upgrade it\n";
      return kExitRuntime;
    }
    body(db);
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

int cmd_status(const config::Config& cfg, const ReportOptions& options) {
  if (!known_job(cfg, options.job)) return kExitConfig;
  return with_database(cfg, [&](store::Store& db) {
    Table out;
    for (const auto& job : cfg.jobs) {
      if (options.job && job.name != *options.job) continue;
      Table t = query(db,
                      "SELECT ?1 AS job, r.started_at AS last_run, r.outcome AS last_outcome, r.created AS last_created, "
                      "r.failed AS last_failed, (SELECT next_run_at FROM job_schedule WHERE job=?1) AS next_run, "
                      "(SELECT count(*) FROM roster_member WHERE job=?1) AS members, "
                      "(SELECT count(*) FROM membership WHERE job=?1 AND state='created') AS created, "
                      "(SELECT count(*) FROM membership WHERE job=?1 AND state='pending' AND " + kNotWaiting + ") AS pending, "
                      "(SELECT count(*) FROM membership WHERE job=?1 AND state='pending' AND NOT " + kNotWaiting + ") AS waiting, "
                      "(SELECT count(*) FROM membership WHERE job=?1 AND state='failed') AS failed, "
                      "(SELECT CASE h.kind WHEN 'breaker' THEN 'breaker open' ELSE 'blocked' END || ' until ' || h.until || "
                      "': ' || h.scope || ' ' || h.name || ': ' || h.reason FROM hold h "
                      "WHERE ((h.scope='job' AND h.name=?1) OR (h.scope='target' AND h.name=?2)) "
                      "AND h.until > strftime('%Y-%m-%dT%H:%M:%fZ','now') ORDER BY h.scope LIMIT 1) AS hold "
                      "FROM (SELECT 1) LEFT JOIN (SELECT * FROM run WHERE job=?1 ORDER BY run_id DESC LIMIT 1) r",
                      {job.name, job.target});
      out.columns = t.columns;
      for (auto& row : t.rows) out.rows.push_back(std::move(row));
    }
    print(out, options.json);
  });
}

int cmd_runs(const config::Config& cfg, const ReportOptions& options) {
  return with_database(cfg, [&](store::Store& db) {
    std::string sql =
        "SELECT run_id, job, started_at, ended_at, outcome, pages, members_seen, new_members, created, already_present, "
        "failed, pending, deferred, skipped_inactive + skipped_test_user + skipped_no_person_key + skipped_invalid_person_key + "
        "skipped_unmapped_role + skipped_malformed AS skipped, error FROM run ";
    std::vector<std::string> binds;
    if (options.job) {
      sql += "WHERE job=? ";
      binds.push_back(*options.job);
    }
    sql += "ORDER BY run_id DESC LIMIT " + std::to_string(options.limit);
    print(query(db, sql, binds), options.json);
  });
}

int cmd_members(const config::Config& cfg, const ReportOptions& options) {
  if (!options.job || !known_job(cfg, options.job)) {
    if (!options.job) std::cerr << "rostersync: members needs --job NAME\n";
    return kExitConfig;
  }
  const config::Job& job = *cfg.find_job(*options.job);
  return with_database(cfg, [&](store::Store& db) {
    print(query(db,
                "SELECT r.user_id, r.person_key, r.status, r.outcome, m.membership_id, m.role_type, " + kDerivedState + " AS state "
                "FROM roster_member r LEFT JOIN membership m ON m.target=?2 AND m.hierarchy_id=?3 AND "
                "m.person_key=r.person_key WHERE r.job=?1 ORDER BY r.user_id",
                {job.name, job.target, job.hierarchy_id}),
          options.json);
  });
}

int cmd_failures(const config::Config& cfg, const ReportOptions& options) {
  if (!known_job(cfg, options.job)) return kExitConfig;
  return with_database(cfg, [&](store::Store& db) {
    std::string sql =
        "SELECT m.job, m.membership_id, m.person_key, m.hierarchy_id, m.role_type, " + kDerivedState + " AS state, m.attempts, m.refusals, m.last_error, m.updated_at, "
        "CASE WHEN m.state='failed' THEN NULL WHEN " + kNotWaiting + " THEN s.next_run_at ELSE m.next_attempt_at END "
        "AS next_try FROM membership m LEFT JOIN job_schedule s ON s.job=m.job WHERE m.state <> 'created' ";
    std::vector<std::string> binds;
    if (options.job) {
      sql += "AND m.job=? ";
      binds.push_back(*options.job);
    }
    sql += "ORDER BY m.job, m.state, m.person_key";
    print(query(db, sql, binds), options.json);
  });
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
