// One job's keys, wherever it is written: the configuration's `jobs`,
// `job_defaults`, and the registry's course files (config/reader.hpp's
// read_job), with their hierarchy templates and role maps; and what makes
// two definitions the same job.
#include "config/config.hpp"

#include "config/reader.hpp"

#include <boost/url/parse.hpp>

#include <set>
#include <string>

namespace rostersync::config {
namespace {

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

}  // namespace

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

}  // namespace rostersync::config
