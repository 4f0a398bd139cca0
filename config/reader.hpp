// What the configuration room's readers share (internal to config/): the
// limits the schema checks, the context of one file being read (where
// messages point, how relative paths resolve), the YAML mapping reader that
// reports unknown and repeated keys with file:line:col and key path, and the
// job reader that the configuration file and the registry's course files
// both use. Not for use outside config/.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "config/config.hpp"
#include "config/config_json.hpp"
#include "domain/names.hpp"
#include "domain/text.hpp"

namespace rostersync::config {

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

// yaml-cpp's syntax errors in plain words: what usually causes each (" (hint)", or "").
std::string yaml_hint(const std::string& msg);
// 'value', "a list", "a mapping" or "nothing": what a node holds, for messages.
std::string describe(const YAML::Node& node);
// A mapping key as text; YAML also allows lists and mappings as keys.
std::string key_text(const Context& ctx, const YAML::Node& key, const std::string& parent_path);

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

// Where a job's keys come from: the configuration's `jobs`, `job_defaults`
// (nothing required, no name), or a registry course (a service key may be
// written inline, in a file only the service may read).
enum class JobKind { job, defaults, course };

// One job, course or the job defaults at `node` (`path` its key path), on
// top of `base` (the job defaults, or a Job's defaults for them).
Job read_job(const Context& ctx, const YAML::Node& node, const std::string& path, const Config& cfg, const Job& base,
             JobKind kind);

}  // namespace rostersync::config
