// Typed configuration for rostersync, loaded from YAML and validated up front.
//
// Two steps: parse() turns the text into a Config and validates every key
// without touching anything but the text (secrets stay references to their
// files), and resolve() does the I/O: ${VAR} expansion, secret files, the CA
// file. Commands that only read the state database or talk to the daemon
// need parse() alone, so they run without the unit's credentials.
//
// Every field has a default, a unit and a meaning stated next to it; the
// commented example (config/rostersync.example.yaml) documents the same keys
// for operators. Both steps throw ConfigError whose message names the file,
// line, column and key path, and what was expected. Secrets are read from
// files only and live in Secret, which has no way to be formatted or logged.
//
// Where each part lives: config.cpp (the file's schema), jobs.cpp (one
// job's keys, shared with the registry's course files), registry.cpp (the
// course registry), resolve.cpp (secrets and other I/O); reader.hpp is the
// YAML reader they share, registry_guard.hpp what a running daemon applies.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rostersync::config {

using Millis = std::chrono::milliseconds;

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A secret kept in a file. After parse() it is a reference (the file as
// written, and where it was written); after resolve() it holds the value.
// Only `reveal()` gives the value; the file path is safe to show.
class Secret {
 public:
  Secret() = default;
  // A resolved secret (tests, tools).
  Secret(std::string value, std::string file) : value_(std::move(value)), file_(std::move(file)), resolved_(true) {}
  // An unresolved reference: `spec` may be relative and hold ${VAR};
  // `where` ("file:line:col: key.path") prefixes messages about it.
  static Secret reference(std::string spec, std::string where) {
    Secret s;
    s.spec_ = std::move(spec);
    s.where_ = std::move(where);
    return s;
  }
  const std::string& reveal() const { return value_; }
  // The file it was read from; before resolve(), the file as written.
  const std::string& file() const { return resolved_ ? file_ : spec_; }
  const std::string& spec() const { return spec_; }
  const std::string& where() const { return where_; }
  bool resolved() const { return resolved_; }
  bool empty() const { return value_.empty(); }
  void set(std::string value, std::string file) {
    value_ = std::move(value);
    file_ = std::move(file);
    resolved_ = true;
  }
  bool operator==(const Secret&) const = default;

 private:
  std::string value_;
  std::string file_;
  std::string spec_;
  std::string where_;
  bool resolved_ = false;
};

// Settings of the HTTP client towards one peer (a source or a target).
struct HttpSettings {
  Millis connect_timeout{10'000};             // TCP+TLS connect, per attempt
  Millis request_timeout{60'000};             // one request: write + whole response
  std::size_t max_response_bytes{16u << 20};  // bytes; larger bodies are refused
  std::string ca_file;                        // PEM added to the system trust store; "" = none
  bool allow_insecure_http{false};            // allow http:// to a non-loopback host
  std::string ca_file_where;                  // "file:line:col: key.path" of ca_file, for messages
  bool operator==(const HttpSettings&) const = default;
};

// How failed requests to one peer are retried (see sync/retry_policy.hpp).
// Transient failures (transport errors, timeouts, HTTP 408/429/5xx, SOAP
// faults other than security/deserialization) are retried within the run;
// configuration errors (other 4xx, InvalidSecurity) block the peer.
struct RetrySettings {
  int max_attempts{3};               // sends of one request (a page or a batch) within a run
  Millis retry_delay{1'000};         // back-off ceiling before the 2nd send; doubles per send; full jitter
  Millis max_retry_delay{60'000};    // cap on one back-off; a longer Retry-After leaves the rest to the next run
  Millis blocked_retry_interval{3'600'000};  // after a configuration error, no new try before this (or a reload)
  bool operator==(const RetrySettings&) const = default;
};

// Items itslearning refused one by one (e.g. the person does not exist yet).
struct ItemRetrySettings {
  int max_failures{5};                  // refusals before the item is parked as failed
  Millis retry_delay{15 * 60'000};      // wait after the 1st refusal; x4 after each further one
  Millis max_retry_delay{24 * 3'600'000};  // cap on that wait
  bool operator==(const ItemRetrySettings&) const = default;
};

// Trips when a target fails nearly everything; the job then probes slowly.
struct BreakerSettings {
  int failure_percent{40};            // of the items in the window refused or failed
  int min_items{20};                  // judged only once this many items are in the window
  int window_items{100};              // the most recent items considered
  int consecutive_failed_batches{5};  // or this many batches in a row failed outright
  Millis probe_interval{5 * 60'000};  // then one probe batch no sooner than this
  bool operator==(const BreakerSettings&) const = default;
};

// Where rosters come from:
//   ltiaas        an LTIAAS deployment: GET <base_url>/api/memberships, `next`
//                 in the body, a service key per job (SERVICE-AUTH-V1)
//   lti_platform  the LMS itself (Canvas, Moodle, Blackboard, Brightspace,
//                 Sakai): each job's context memberships URL, Link-header
//                 paging, an OAuth2 bearer token from the platform's token
//                 endpoint (client credentials with a signed JWT assertion)
enum class SourceKind { ltiaas, lti_platform };
const char* to_string(SourceKind);

// The scope that lets a tool read NRPS rosters (and nothing else).
inline constexpr const char* kNrpsReadScope =
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly";

struct Source {
  std::string name;
  SourceKind kind{SourceKind::ltiaas};
  // ltiaas: the LTIAAS base URL (https://school.ltiaas.com). lti_platform:
  // the LMS's own URL (Canvas: https://school.instructure.com); every job's
  // memberships URL and every `next` link must be on its origin, the only
  // one the bearer token is ever sent to. Defaults to `issuer` there.
  std::string base_url;
  Secret api_key;        // ltiaas: LTIAAS API key, from api_key_file
  // lti_platform only (README "Reading rosters straight from the LMS"):
  std::string issuer;         // the platform's issuer (`iss` of its launches)
  std::string client_id;      // the tool's client id at the platform: iss and sub of the assertion
  std::string deployment_id;  // the deployment id claim of the assertion
  std::string token_url;      // the platform's OAuth2 token endpoint
  std::string audience;       // `aud` of the assertion; "" = token_url
  Secret private_key;         // the tool's RSA private key (PEM), from private_key_file
  std::string key_id;         // `kid`: which of the tool's public keys the platform verifies with
  std::vector<std::string> scopes{kNrpsReadScope};  // asked for; the grant must include the NRPS scope
  Millis assertion_lifetime{300'000};  // exp - iat of the assertion, 30s..10m
  HttpSettings http;
  RetrySettings retry;
  int max_concurrent_walks{4};  // roster walks (jobs reading pages) at once from this source, in `run`
  bool operator==(const Source&) const = default;
};

// An itslearning IMS-ES MembershipManagementServiceSync endpoint.
struct Target {
  std::string name;
  std::string endpoint;  // https://<host>/WCFServiceLibrary/MembershipManagementServiceSync.svc
  std::string username;  // IMS-ES (WS-Security) user name
  Secret password;       // from password_file
  int in_flight_budget{10};   // operations (memberships) unprocessed at once, all batches together
  int batch_size{10};         // memberships per createMemberships call; <= in_flight_budget
  bool force_large_batches{false};  // allow batch_size > 50 (itslearning asks for <= 50)
  HttpSettings http;
  RetrySettings retry;
  ItemRetrySettings items;
  BreakerSettings breaker;
  bool operator==(const Target&) const = default;
};

// How a job authenticates to LTIAAS's memberships API:
//   service_key  SERVICE-AUTH-V1 <API_KEY>:<SERVICE_KEY>   (a background job's normal choice)
//   ltik         LTIK-AUTH-V2 <API_KEY>:<LTIK>
//   ltik_v1      LTIK-AUTH-V1 Token=<LTIK>, Additional=Bearer <API_KEY>  (the older documented form)
enum class AuthScheme { service_key, ltik, ltik_v1 };
enum class PersonKeyField { lis_person_sourcedid, user_id, email };

const char* to_string(AuthScheme);
const char* to_string(PersonKeyField);

// One LTI role pattern mapped to an IMS-ES roleType. Patterns are matched after
// normalising roles (see sync/roles.hpp): "Instructor" (also matches its
// sub-roles), "Instructor#TeachingAssistant", a trailing "*" for a prefix, or a
// full URI.
struct RoleRule {
  std::string lti;
  std::string role_type;
  bool operator==(const RoleRule&) const = default;
};

// The default role mapping in priority order: the first rule any of a member's
// roles matches decides the roleType.
std::vector<RoleRule> default_role_map();

// One roster (an LTIAAS service key, or a platform's context memberships
// URL) provisioned into one itslearning hierarchy.
struct Job {
  std::string name;    // [A-Za-z0-9_.-]+, used in logs and the database
  std::string source;  // key of `sources`
  std::string target;  // key of `targets`
  AuthScheme auth{AuthScheme::service_key};  // ltiaas sources
  Secret service_key;             // ltiaas: service key (or ltik) from service_key_file
  // lti_platform: the context's NRPS URL (a launch's context_memberships_url),
  // on the source's origin.
  std::string memberships_url;
  std::string role_filter;        // `role` query parameter; "" = all members (a platform's is re-applied here too)
  std::string resource_link_id;   // LTIAAS `resourceLinkId`, a platform's `rlid`; "" = whole context
  int page_limit{100};            // members per page asked for (`limit`)
  int max_pages{1'000};           // a walk with more pages fails
  int max_members{100'000};       // a walk with more members fails
  // itslearning hierarchy (group) sync id. May be a template over the
  // roster's context, filled in at run time from the first page:
  // {context.id}, {context.label}, {context.title}, and {name} (the job's).
  std::string hierarchy_id;
  PersonKeyField person_key{PersonKeyField::lis_person_sourcedid};
  std::string person_key_prefix;  // prepended to the person key, e.g. "sis:"
  std::vector<RoleRule> role_map = default_role_map();
  bool skip_test_users{true};     // skip members with the LTI TestUser system role
  Millis interval{30 * 60'000};   // between runs of this job in `rostersync run`
  Millis jitter{60'000};          // up to this much random delay added to each interval
  // Departures (README "Removals and their guards"). Off by default: with
  // it on, a member absent from `departure_grace` complete walks in a row
  // (or listed Inactive, with remove_inactive) has the memberships
  // rostersync owns deleted, unless a guard holds them for approval.
  bool remove_departed{false};
  int departure_grace{2};         // complete walks without the member, 1..100
  bool remove_inactive{true};     // an Inactive member counts as departed at once
  int max_deletes{500};           // deletions per run above which the run's deletions are held
  int max_delete_percent{20};     // the same, in percent of the job's memberships in the group
  // Adoption: before the first create into a group, its memberships are read
  // (readMembershipsForGroup) and any already there are used as they are.
  bool adopt_existing{true};
  bool own_adopted{false};        // adopted memberships may be deleted as departures too
  // Read the group back this often and restore what went missing; 0 = never.
  Millis reconcile_interval{0};
  // "" for a job of the configuration file; for a course of the registry,
  // "file:line" of its entry (messages and `rostersync courses` show it).
  std::string origin;
  bool operator==(const Job&) const = default;
};

// Equal in everything a run uses: all but where the job is written (its
// `origin` and its key's position: editing a registry list file moves the
// other entries' lines without changing them).
bool same_settings(const Job& a, const Job& b);

// True when a hierarchy_id holds placeholders to fill in from the roster.
bool is_hierarchy_template(std::string_view hierarchy_id);

// The course registry: courses kept outside the configuration file, one
// small YAML file per course or lists of them, so that a district adds a
// course by dropping a file (and nothing else) where the service reads it.
struct RegistrySettings {
  std::string path;  // a directory of *.yaml / *.yml files, or one such file; "" = no registry
  Millis poll_interval{60'000};  // `run` looks for changed files this often; 0 = only on reload
  // A change that removes more than both of these at once (courses; percent
  // of the running courses) is not applied until an operator confirms it
  // (`rostersync confirm-registry`): a failed mount or a stray `mv` is not a
  // term's end. A registry that vanishes or empties always waits.
  int max_removed_courses{5};    // 0..1000000
  int max_removed_percent{20};   // 0..100
  bool operator==(const RegistrySettings&) const = default;
};

// Prometheus metrics of `rostersync run` (README "Metrics and alerting").
struct MetricsSettings {
  // host:port to serve GET /metrics on; the host must be a loopback address
  // (127.0.0.1, [::1], localhost); port 0 picks a free one (logged). "" = off.
  std::string listen;
  // A *.prom file for node_exporter's textfile collector, replaced atomically
  // every textfile_interval and when the daemon stops; "" = off.
  std::string textfile;
  Millis textfile_interval{60'000};  // 1s..1h
  bool operator==(const MetricsSettings&) const = default;
};

struct Config {
  std::string path;                                 // the file it was loaded from
  std::string base_dir;                             // its directory: relative secret files resolve here
  std::string state_db{"/var/lib/rostersync/state.db"};
  std::string log_level{"info"};                    // trace|debug|info|warn|error|critical|off
  // Unix socket on which `rostersync run` takes `rostersync resync` requests;
  // "" = none (SIGUSR1 still works). Relative paths resolve like state_db.
  std::string control_socket{"/run/rostersync/control.sock"};
  // After SIGTERM/SIGINT, in-flight requests get this long to finish before
  // they are cut off; then the run is recorded as interrupted and the process exits.
  Millis shutdown_grace{10'000};
  // Run history (the run table) older than this is deleted by `run`, once a day.
  Millis run_retention{90LL * 24 * 3'600'000};
  std::map<std::string, Source> sources;
  std::map<std::string, Target> targets;
  RegistrySettings registry;
  MetricsSettings metrics;
  // `job_defaults` as written: what every job and course starts from. Its
  // service_key_file may hold {name}, the job's name.
  Job job_defaults;
  // The configuration's jobs, then the registry's courses (Job::origin set),
  // each with job_defaults applied under its own keys.
  std::vector<Job> jobs;
  // Registry entries that could not be used, each naming its file, line and
  // key; only those courses are skipped (the configuration file's own errors
  // are ConfigError instead).
  std::vector<std::string> registry_errors;
  // The course files with an error (in registry_errors): their change is
  // refused, and a running daemon keeps their courses' last good definitions.
  std::vector<std::string> refused_files;
  // Why the registry itself could not be read ("" = it could): a missing
  // directory, a failed mount, no permission.
  std::string registry_unreadable;

  const Job* find_job(const std::string& name) const;
  bool operator==(const Config&) const = default;
};

inline constexpr const char* kDefaultConfigPath = "/etc/rostersync/rostersync.yaml";

// Step 1, pure: parses and validates `yaml`; `name` stands for the file in
// messages, `base_dir` resolves relative paths (state_db, control_socket; the
// secret files' later). Secrets stay unresolved. Throws ConfigError.
Config parse(const std::string& yaml, const std::string& name, const std::string& base_dir);

// Reads `path` and parses it, with the registry it names (see
// read_registry). Throws ConfigError (also when it cannot be read).
Config parse_file(const std::string& path);

// Replaces the registry's courses in `config` with what the registry holds
// now (parse only; resolve() reads their keys). A course in error is left
// out, its message added to registry_errors and its file to refused_files;
// a course name defined in two files is an error in both (neither is
// used); a registry path that is missing or unreadable sets
// registry_unreadable. Never throws ConfigError. A running daemon does not
// apply this as it is: see registry_guard.hpp.
void read_registry(Config& config);

// The course file a registry course was read from ("" for a job of the
// configuration file): its origin without the line.
std::string origin_file(const Job& job);

// A cheap fingerprint of the registry (its files' names, sizes and
// modification times): `run` reads the registry again when it changes.
std::string registry_stamp(const RegistrySettings& registry);

// Looks up an environment variable; nullptr when unset.
using Environment = std::function<const char*(const std::string& name)>;
Environment process_environment();

struct ResolveOptions {
  Environment env = process_environment();
  // For `check-config --credentials-dir DIR` outside the unit: DIR stands for
  // ${CREDENTIALS_DIRECTORY}, and a credential named "<id>_<file>" is also
  // found as DIR/<id>/<file>, the way the unit's LoadCredential= of a
  // directory names the files in it. "" = off.
  std::string credentials_dir;
};

// Step 2, I/O: expands ${VAR} in the secret files' paths (e.g.
// ${CREDENTIALS_DIRECTORY} under systemd), resolves relative ones against the
// configuration's directory, reads every secret (a small, single-line
// regular file) and checks that CA files exist. Throws ConfigError naming
// the key that refers to the failing file; a registry course whose key
// cannot be read is dropped into registry_errors instead.
void resolve(Config& config, const ResolveOptions& options = {});

// parse_file() then resolve(): what `sync` and `run` need.
Config load_file(const std::string& path);

// parse() then resolve(), from text.
Config load_string(const std::string& yaml, const std::string& name, const std::string& base_dir);

// What an operator runs after fixing the secret `secret`, for hold and error
// messages: a file under ${CREDENTIALS_DIRECTORY} is the copy systemd made
// when the service started (LoadCredential=), so only a restart reads the
// fixed one; any other file is read again at a reload. Names the key (its
// where()) and, under the shipped unit, the file to edit.
std::string after_fixing(const Secret& secret);

// True for hosts plain http may reach without allow_insecure_http:
// localhost, 127.0.0.0/8 and ::1 (with or without brackets).
bool is_loopback_host(std::string_view host);

// Job names: letters, digits, '_', '-' and '.' (they appear in logs, journal
// fields and control requests).
bool is_valid_job_name(std::string_view name);

// "90s", "30m", "2h", "7d", "500ms" or a bare number of seconds. Returns false if malformed.
bool parse_duration(const std::string& text, Millis& out);

}  // namespace rostersync::config
