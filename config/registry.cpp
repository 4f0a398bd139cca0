// The course registry: reading its files (one course, or a list, per
// file; refused files named with file:line:key, never applied), its
// fingerprint for the daemon's poll, and loading a configuration file with
// its registry.
#include "config/config.hpp"

#include "config/reader.hpp"

#include <sys/stat.h>

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

}  // namespace rostersync::config
