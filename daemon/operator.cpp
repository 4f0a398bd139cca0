#include "daemon/operator.hpp"

#include "daemon/display_width.hpp"
#include "daemon/health.hpp"
#include "daemon/time_text.hpp"

#include <boost/json.hpp>

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

#include "config/config_json.hpp"
#include "domain/text.hpp"
#include "daemon/commands.hpp"
#include "daemon/writer_lock.hpp"
#include "store/reports.hpp"
#include "sync/platform/client_assertion.hpp"
#include "store/store.hpp"

namespace rostersync::daemon {
namespace json = boost::json;

namespace {

using Table = store::ReportTable;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

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

// A cell as a terminal may show it: roster text from the network gets no
// control characters through, and never a split UTF-8 sequence.
std::string shown_text(const Table::Cell& cell) {
  const std::string text = cell_text(cell);
  return clip_for_message(text, text.size());
}

// Columns of the terminal on stdout; else $COLUMNS; else 120.
std::size_t terminal_width() {
  winsize size{};
  if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* columns = std::getenv("COLUMNS")) {
    if (int n = std::atoi(columns); n > 0) return static_cast<std::size_t>(n);
  }
  return 120;
}

// One "column  value" line per cell, a blank line between rows (psql's
// expanded display): for tables with more columns than the terminal fits.
void print_records(const Table& t, std::size_t total) {
  std::size_t label = 0;
  for (const auto& c : t.columns) label = std::max(label, c.size());
  const std::size_t room = total > label + 5 ? total - label - 2 : 3;
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    if (r > 0) std::cout << "\n";
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
      std::cout << t.columns[c] << std::string(label - t.columns[c].size() + 2, ' ')
                << fit_to_width(shown_text(t.rows[r][c]), room) << "\n";
    }
  }
  if (t.rows.empty()) std::cout << "(none)\n";
}

void print(const Table& shown, bool as_json, bool wide, bool utc) {
  Table t = shown;
  if (!as_json && !utc) {  // JSON and --utc keep the database's UTC ISO 8601
    const std::int64_t now = unix_now();
    for (auto& row : t.rows) {
      for (auto& cell : row) {
        if (auto* text = std::get_if<std::string>(&cell)) *text = localize_times(*text, now);
      }
    }
  }
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
  std::vector<std::size_t> width, minimum;
  for (const auto& c : t.columns) {
    width.push_back(c.size());
    minimum.push_back(std::max<std::size_t>(c.size(), 8));
  }
  for (const auto& row : t.rows) {
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], display_width(shown_text(row[c])));
  }
  if (!wide) {
    const std::size_t total = terminal_width();
    width = fit_columns(width, minimum, total);
    std::size_t used = 2 * (width.size() - 1);
    for (auto w : width) used += w;
    if (used > total) return print_records(t, total);  // too many columns for this terminal
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      // Measured in display columns: `2026-Français-Ærø` takes 17, not its 20 bytes.
      const std::string text = fit_to_width(cells[c], width[c]);
      const std::size_t used = display_width(text);
      s += text + std::string(c + 1 < cells.size() ? width[c] - std::min(width[c], used) + 2 : 0, ' ');
    }
    std::cout << s << "\n";
  };
  line(t.columns);
  for (const auto& row : t.rows) {
    std::vector<std::string> cells;
    for (const auto& v : row) cells.push_back(shown_text(v));
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
  // A course whose file is refused: say where and why, not only "no job".
  std::string refused;
  for (const std::string& e : cfg.registry_errors) {
    if (e.find("'" + *job + "'") != std::string::npos || e.find("course " + *job + " ") != std::string::npos) {
      refused += "\n  " + e;
    }
  }
  if (!refused.empty()) {
    std::cerr << "rostersync: course '" << *job << "' is refused in the registry (a running daemon keeps its last "
              << "good definition):" << refused << "\n";
  } else {
    std::cerr << "rostersync: no job named '" << *job << "' in " << cfg.path
              << (cfg.registry_unreadable.empty() ? "" : " (" + cfg.registry_unreadable + ")") << "\n";
  }
  return false;
}

}  // namespace

std::vector<std::size_t> fit_columns(std::vector<std::size_t> width, const std::vector<std::size_t>& minimum,
                                     std::size_t total) {
  auto used = [&] {
    std::size_t sum = width.empty() ? 0 : 2 * (width.size() - 1);
    for (auto w : width) sum += w;
    return sum;
  };
  // Narrow the widest column that can still give, one step at a time, so the
  // long free-text columns (hold, error, last_error) give first.
  while (used() > total) {
    std::size_t widest = width.size();
    for (std::size_t c = 0; c < width.size(); ++c) {
      if (width[c] > minimum[c] && (widest == width.size() || width[c] > width[widest])) widest = c;
    }
    if (widest == width.size()) break;  // every column at its minimum: wider than the terminal, as narrow as it gets
    --width[widest];
  }
  return width;
}

store::JobRef job_ref(const config::Job& job) { return {job.name, job.target, job.hierarchy_id, job.source, job.origin}; }

std::string summarize_status(const store::ReportTable& status) {
  if (status.rows.empty()) return "";
  auto column = [&](const std::string& name) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < status.columns.size(); ++i) {
      if (status.columns[i] == name) return i;
    }
    return std::nullopt;
  };
  auto text = [](const store::ReportTable::Cell& c) -> std::string {
    if (const auto* s = std::get_if<std::string>(&c)) return *s;
    if (const auto* n = std::get_if<std::int64_t>(&c)) return std::to_string(*n);
    return "";
  };
  auto number = [](const store::ReportTable::Cell& c) -> std::int64_t {
    const auto* n = std::get_if<std::int64_t>(&c);
    return n ? *n : 0;
  };
  const auto outcome = column("last_outcome"), hold = column("hold"), removals = column("removals"),
             parked = column("parked");
  std::map<std::string, int> by_outcome;
  std::map<std::string, int> holds;  // hold text without its job: one line per held target or source
  int awaiting = 0, with_parked = 0;
  for (const auto& row : status.rows) {
    const std::string o = outcome ? text(row[*outcome]) : "";
    ++by_outcome[o.empty() ? "never ran" : o];
    if (hold && !text(row[*hold]).empty()) ++holds[text(row[*hold])];
    if (removals && !text(row[*removals]).empty()) ++awaiting;
    if (parked && number(row[*parked]) > 0) ++with_parked;
  }
  std::string out = std::to_string(status.rows.size()) + " job(s):";
  bool first = true;
  for (const char* o : {"ok", "partial", "failed", "interrupted", "running", "never ran"}) {
    auto it = by_outcome.find(o);
    if (it == by_outcome.end()) continue;
    out += std::string(first ? " " : ", ") + std::to_string(it->second) + " " + o;
    first = false;
    by_outcome.erase(it);
  }
  for (const auto& [o, n] : by_outcome) out += std::string(first ? " " : ", ") + std::to_string(n) + " " + o;
  int held = 0;
  for (const auto& [h, n] : holds) held += n;
  if (held > 0) out += "\n" + std::to_string(held) + " held:";
  for (const auto& [h, n] : holds) out += "\n  " + h + " (" + std::to_string(n) + " job(s))";
  if (awaiting > 0) out += "\n" + std::to_string(awaiting) + " with writes awaiting approval (rostersync status --job NAME)";
  if (with_parked > 0) out += "\n" + std::to_string(with_parked) + " with parked items (rostersync failures)";
  if (held == 0 && awaiting == 0 && with_parked == 0) out += "\nnothing held, awaiting approval or parked";
  return out;
}

int cmd_status(const config::Config& cfg, const ReportOptions& options) {
  if (options.check) return check_health(cfg, options);
  if (!known_job(cfg, options.job)) return kExitConfig;
  return with_database(cfg, [&](store::Reports& db) {
    std::vector<store::JobRef> jobs;
    for (const auto& job : cfg.jobs) {
      if (!options.job || job.name == *options.job) jobs.push_back(job_ref(job));
    }
    // A registry this user may not read (the monitoring group's): the
    // courses the daemon recorded it runs.
    if (!cfg.registry_unreadable.empty()) {
      if (std::optional<std::vector<store::DaemonJob>> recorded = db.daemon_jobs()) {
        jobs.clear();
        for (const auto& j : *recorded) {
          if (!options.job || j.ref.name == *options.job) jobs.push_back(j.ref);
        }
      }
    }
    if (!options.json && !options.job) {
      std::string pass = db.pass_line();
      if (!pass.empty()) std::cout << (options.utc ? pass : localize_times(pass, unix_now())) << "\n";
    }
    store::ReportTable table = db.status(jobs, writer_running(cfg.state_db));
    if (!options.json && !options.job) {
      // A district's hundreds of jobs: the summary first, a row each when few or asked for.
      std::cout << summarize_status(table) << "\n";
      if (table.rows.size() > kStatusRowsUpTo && !options.all) {
        std::cout << "(a row per job: rostersync status --all; one job: --job NAME; for scripts: --json)\n";
        return;
      }
      std::cout << "\n";
    }
    print(table, options.json, options.wide, options.utc);
    if (options.job && !options.json) {
      store::ReportTable held = db.held(*options.job);
      if (!held.rows.empty()) {
        std::cout << "\nheld for a person to decide (`rostersync approve --job " << *options.job
                  << " --hold ID`, or `reject`):\n";
        print(held, false, options.wide, options.utc);
      }
    }
  });
}

namespace {

// The one warning a registry gives status --check: why it could not be read,
// or how many course files are refused, with the first error.
std::optional<std::string> registry_warning(const std::string& unreadable, std::size_t refused_files,
                                            const std::string& first_error) {
  if (!unreadable.empty()) return unreadable;
  if (refused_files == 0) return std::nullopt;
  return std::to_string(refused_files) + " course file(s) refused (" + first_error + "; rostersync check-config lists all)";
}

}  // namespace

int check_health(const config::Config& cfg, const ReportOptions& options) {
  auto unknown = [](const std::string& why) {
    std::string line = "ROSTERSYNC UNKNOWN - " + why;
    std::replace(line.begin(), line.end(), '\n', ' ');
    std::cout << line << "\n";
    return static_cast<int>(HealthState::unknown);
  };
  try {
    store::Reports db(cfg.state_db);
    // What the daemon runs, as it recorded it: the registry's files (which
    // may hold service keys) need not be readable by the monitoring user,
    // and a course the daemon keeps from a refused file is judged too.
    // Without a record (only `sync` ever ran), the configuration on disk.
    std::vector<store::DaemonJob> jobs;
    std::vector<std::string> config_warnings;
    if (std::optional<std::vector<store::DaemonJob>> recorded = db.daemon_jobs()) {
      jobs = std::move(*recorded);
      // As the daemon recorded its last read of the registry (ConfigState):
      // the refused files one per line, or why the registry could not be read.
      const std::string refused = db.meta("registry_refused_files"), errors = db.meta("registry_errors");
      const std::string first_error = errors.substr(0, errors.find('\n'));
      const bool unreadable = !refused.empty() && refused == first_error;
      const auto files = refused.empty() ? 0 : static_cast<std::size_t>(std::count(refused.begin(), refused.end(), '\n') + 1);
      if (auto w = registry_warning(unreadable ? refused : "", files, first_error)) config_warnings.push_back(*w);
    } else {
      for (const auto& job : cfg.jobs) jobs.push_back({job_ref(job), job.interval});
      const std::string first_error = cfg.registry_errors.empty() ? "" : cfg.registry_errors.front();
      if (auto w = registry_warning(cfg.registry_unreadable, cfg.refused_files.size(), first_error)) {
        config_warnings.push_back(*w);
      }
    }
    if (options.job) {
      std::erase_if(jobs, [&](const store::DaemonJob& j) { return j.ref.name != *options.job; });
      if (jobs.empty()) return unknown("no job named '" + *options.job + "' in " + cfg.path + " or run by the daemon");
    }
    std::vector<store::JobRef> refs;
    for (const auto& j : jobs) refs.push_back(j.ref);
    std::vector<store::JobHealth> facts = db.health(refs);
    std::vector<JobHealthInput> inputs;
    for (std::size_t i = 0; i < facts.size(); ++i) inputs.push_back({std::move(facts[i]), jobs[i].interval});
    if (std::string awaiting = db.meta("registry_awaiting"); !awaiting.empty()) {
      config_warnings.push_back("registry change awaiting confirmation: " + awaiting);
    }
    HealthCheck check =
        judge_health(inputs, {options.warning_intervals, options.critical_intervals}, unix_now(), config_warnings);
    std::cout << check.line << "\n";
    return static_cast<int>(check.state);
  } catch (const std::exception& e) {
    return unknown(e.what());
  }
}

int cmd_courses(const config::Config& cfg, const ReportOptions& options) {
  if (!known_job(cfg, options.job)) return kExitConfig;
  for (const auto& e : cfg.registry_errors) std::cerr << "rostersync: registry: " << e << "\n";
  std::vector<store::JobRef> jobs;
  for (const auto& job : cfg.jobs) {
    if (!options.job || job.name == *options.job) jobs.push_back(job_ref(job));
  }
  std::error_code ec;
  if (!std::filesystem::exists(cfg.state_db, ec)) {  // nothing synced yet: the registry alone
    store::ReportTable t;
    t.columns = {"course", "source", "target", "hierarchy_id", "defined_in"};
    for (const auto& j : jobs) t.rows.push_back({j.name, j.source, j.target, j.hierarchy_id, j.origin.empty() ? "configuration" : j.origin});
    print(t, options.json, options.wide, options.utc);
    return kExitOk;
  }
  return with_database(cfg, [&](store::Reports& db) { print(db.courses(jobs), options.json, options.wide, options.utc); });
}

bool refuse_configured_job(const config::Config& cfg, const std::string& job) {
  const config::Job* still = cfg.find_job(job);
  if (still) {
    std::cerr << "rostersync: job " << job << " is still configured ("
              << (still->origin.empty() ? "in " + cfg.path : "in the registry, " + still->origin)
              << "); remove it there first (and reload), then forget it\n";
  }
  return still != nullptr;
}

int cmd_forget(const config::Config& cfg, const std::string& job) {
  if (refuse_configured_job(cfg, job)) return kExitConfig;
  try {
    store::Store db(cfg.state_db);
    int runs = db.forget_job(job);
    std::cout << "forgot job " << job << ": " << runs
              << " run record(s), its roster snapshot and schedule; the memberships it created stay recorded\n";
  } catch (const std::exception& e) {
    std::cerr << "rostersync: " << e.what() << "\n";
    return kExitRuntime;
  }
  return kExitOk;
}

int cmd_runs(const config::Config& cfg, const ReportOptions& options) {
  // A job no longer configured (a removed course) still has its history here.
  bool unknown = false;
  int rc = with_database(cfg, [&](store::Reports& db) {
    store::ReportTable runs = db.runs(options.job, options.limit);
    if (options.job && runs.rows.empty() && !cfg.find_job(*options.job)) {
      unknown = true;
      return;
    }
    print(runs, options.json, options.wide, options.utc);
  });
  if (unknown) {
    known_job(cfg, options.job);  // says why: no such job, or a refused course
    return kExitConfig;
  }
  return rc;
}

int cmd_members(const config::Config& cfg, const ReportOptions& options) {
  if (!options.job || !known_job(cfg, options.job)) {
    if (!options.job) std::cerr << "rostersync: members needs --job NAME\n";
    return kExitConfig;
  }
  const config::Job& job = *cfg.find_job(*options.job);
  return with_database(cfg, [&](store::Reports& db) { print(db.members(job_ref(job)), options.json, options.wide, options.utc); });
}

int cmd_failures(const config::Config& cfg, const ReportOptions& options) {
  if (!known_job(cfg, options.job)) return kExitConfig;
  return with_database(cfg, [&](store::Reports& db) { print(db.failures(options.job), options.json, options.wide, options.utc); });
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
  // A platform's key must be one OpenSSL can sign RS256 with (the daemon
  // would hold that source at its first run).
  for (const auto& [name, source] : cfg.sources) {
    if (source.kind != config::SourceKind::lti_platform) continue;
    Result<sync::SigningKey> key =
        sync::SigningKey::from_pem(source.private_key.reveal(), source.private_key.where() + " (" + source.private_key.file() + ")");
    if (!key) {
      print_fatal("configuration error: " + key.failure().describe());
      return kExitConfig;
    }
  }
  // A course file in error is refused: a running daemon keeps its courses'
  // last good definitions, a starting one skips the entries in error.
  for (const auto& e : cfg.registry_errors) std::cerr << "rostersync: registry: " << e << "\n";
  const bool refused = !cfg.registry_errors.empty();
  if (refused) {
    std::cerr << "rostersync: " << (cfg.registry_unreadable.empty()
                                        ? std::to_string(cfg.refused_files.size()) + " course file(s) refused"
                                        : "the course registry cannot be read")
              << "; a running daemon keeps their courses' last good definitions\n";
  }
  const int rc = refused && !check.refused_courses_ok ? kExitConfig : kExitOk;
  if (check.quiet) return rc;
  json::object out = config::to_json(cfg);
  if (as_json) {
    std::cout << json::serialize(out) << "\n";
  } else {
    std::cout << (refused ? "configuration with refused course files: " : "configuration OK: ") << cfg.path << " ("
              << cfg.jobs.size() << " job(s))\n";
    // Several jobs feeding one itslearning group: one desired state, decided together.
    std::map<std::pair<std::string, std::string>, std::vector<const config::Job*>> groups;
    for (const auto& job : cfg.jobs) {
      if (!config::is_hierarchy_template(job.hierarchy_id)) groups[{job.target, job.hierarchy_id}].push_back(&job);
    }
    for (const auto& [group, jobs] : groups) {
      if (jobs.size() < 2) continue;
      std::string names;
      bool all_remove = true, any_remove = false, all_own = true, any_own = false;
      for (const auto* j : jobs) {
        names += (names.empty() ? "" : ", ") + j->name;
        all_remove = all_remove && j->remove_departed;
        any_remove = any_remove || j->remove_departed;
        all_own = all_own && j->own_adopted;
        any_own = any_own || j->own_adopted;
      }
      std::cout << "group '" << group.second << "' (target " << group.first << ") is fed by " << jobs.size()
                << " jobs: " << names << "; a person leaves it only when none of them lists the person";
      if (any_remove && !all_remove) std::cout << "; remove_departed is not on for all of them: nothing is deleted there";
      if (any_own && !all_own) std::cout << "; own_adopted is not on for all of them: adopted memberships are not rostersync's";
      std::cout << "\n";
    }
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
  return rc;
}

}  // namespace rostersync::daemon
