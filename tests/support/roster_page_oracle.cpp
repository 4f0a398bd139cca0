// The reference parser the tests compare sync::parse_roster_page with: the
// same rules over a boost::json tree, written the plain way (it was the
// product's parser before the streaming one replaced it for speed).
#include "roster_page_oracle.hpp"

#include "domain/text.hpp"

#include <boost/json.hpp>

#include <cmath>

namespace rostersync::testing {
namespace json = boost::json;
namespace {

// The first of the given keys present with a string value.
std::string string_field(const json::object& obj, std::initializer_list<std::string_view> keys) {
  for (auto key : keys) {
    if (auto* v = obj.if_contains(key); v && v->is_string()) return std::string(v->as_string());
  }
  return {};
}

std::optional<std::string> user_id_of(const json::object& obj) {
  for (std::string_view key : {"user_id", "userId"}) {
    const json::value* v = obj.if_contains(key);
    if (!v) continue;
    if (v->is_string() && !v->as_string().empty()) return std::string(v->as_string());
    if (v->is_int64()) return std::to_string(v->as_int64());
    if (v->is_uint64()) return std::to_string(v->as_uint64());
    if (v->is_double()) {
      double d = v->as_double();
      if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.007199254740992e15) {
        return std::to_string(static_cast<long long>(d));
      }
    }
    return std::nullopt;
  }
  return std::nullopt;
}


}  // namespace

Result<RosterPage> parse_roster_page_as_tree(std::string_view body) {
  if (body.empty()) return fail(FailureKind::bad_response, "empty response body (expected a membership container)");
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec) return fail(FailureKind::bad_response, "response is not JSON (" + ec.message() + "): " + clip_for_message(body, 120));
  if (!doc.is_object()) return fail(FailureKind::bad_response, "response is not a JSON object");
  const json::object& root = doc.as_object();

  RosterPage page;
  if (auto* ctx = root.if_contains("context"); ctx && ctx->is_object()) {
    const json::object& context = ctx->as_object();
    if (auto* id = context.if_contains("id"); id && id->is_string()) page.context_id = std::string(id->as_string());
    if (auto* v = context.if_contains("label"); v && v->is_string()) page.context_label = std::string(v->as_string());
    if (auto* v = context.if_contains("title"); v && v->is_string()) page.context_title = std::string(v->as_string());
  }
  const json::value* members = root.if_contains("members");
  if (!members || !members->is_array()) {
    return fail(FailureKind::bad_response, "response has no `members` array (not a membership container)");
  }
  if (auto* id = root.if_contains("id"); id && id->is_string()) page.container_id = std::string(id->as_string());
  if (auto* next = root.if_contains("next"); next && !next->is_null()) {
    if (!next->is_string()) return fail(FailureKind::bad_response, "`next` is not a string");
    if (!next->as_string().empty()) page.next = std::string(next->as_string());
  }

  page.members.reserve(members->as_array().size());
  for (const json::value& entry : members->as_array()) {
    if (!entry.is_object()) {
      ++page.malformed_members;
      continue;
    }
    const json::object& m = entry.as_object();
    Member member;
    auto uid = user_id_of(m);
    const json::value* roles = m.if_contains("roles");
    if (!uid || !roles || !roles->is_array()) {
      ++page.malformed_members;
      continue;
    }
    member.user_id = std::move(*uid);
    for (const json::value& r : roles->as_array()) {
      if (r.is_string()) member.roles.emplace_back(r.as_string());
    }
    member.status = string_field(m, {"status"});
    member.active = member.status.empty() || member.status == "Active";
    member.lis_person_sourcedid = string_field(m, {"lis_person_sourcedid", "lisPersonSourcedid"});
    member.email = string_field(m, {"email"});
    member.name = string_field(m, {"name"});
    page.members.push_back(std::move(member));
  }
  return page;
}

}  // namespace rostersync::testing
