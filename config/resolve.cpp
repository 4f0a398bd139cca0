// resolve(): the configuration's I/O after parsing: ${VAR} expansion,
// secret files (bounded, one line, with the OS's reason when unreadable and
// what to run after fixing one), the unit's credentials directory, CA files.
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

namespace fs = std::filesystem;

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
