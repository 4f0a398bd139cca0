#include "daemon/operator.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "config/config_json.hpp"
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
  if (!known_job(cfg, options.job)) return kExitConfig;
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

int cmd_check_config(const std::string& path, const CheckConfigOptions& check) {
  const bool as_json = check.json;
  config::Config cfg;
  try {
    cfg = config::parse_file(path);
    config::ResolveOptions options;
    options.credentials_dir = check.credentials_dir;
    config::resolve(cfg, options);
  } catch (const config::ConfigError& e) {
    print_fatal(std::string("configuration error: ") + e.what());
    return kExitConfig;
  }
  if (check.quiet) return kExitOk;
  json::object out = config::to_json(cfg);
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
