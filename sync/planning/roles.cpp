#include "sync/planning/roles.hpp"

#include <algorithm>

namespace rostersync::sync {
namespace {
constexpr std::string_view kMembershipPrefix = "http://purl.imsglobal.org/vocab/lis/v2/membership";
constexpr std::string_view kLti11Prefix = "urn:lti:role:ims/lis/";

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
}  // namespace

std::string normalize_role(std::string_view role) {
  if (starts_with(role, kMembershipPrefix)) {
    std::string_view rest = role.substr(kMembershipPrefix.size());
    if (starts_with(rest, "#")) return std::string(rest.substr(1));         // #Instructor
    if (starts_with(rest, "/")) return std::string(rest.substr(1));         // /Instructor#TA
  }
  if (starts_with(role, kLti11Prefix)) {
    std::string out(role.substr(kLti11Prefix.size()));
    if (auto slash = out.find('/'); slash != std::string::npos) out[slash] = '#';
    return out;
  }
  return std::string(role);
}

bool role_matches(std::string_view pattern_raw, std::string_view role_raw) {
  bool prefix = !pattern_raw.empty() && pattern_raw.back() == '*';
  if (prefix) pattern_raw.remove_suffix(1);
  std::string pattern = normalize_role(pattern_raw);
  std::string role = normalize_role(role_raw);
  if (prefix) return starts_with(role, pattern);
  if (role == pattern) return true;
  bool principal = pattern.find_first_of("#:/") == std::string::npos;
  return principal && starts_with(role, pattern + "#");
}

std::optional<std::string> map_roles(const std::vector<std::string>& roles, const std::vector<config::RoleRule>& rules) {
  for (const auto& rule : rules) {
    for (const auto& role : roles) {
      if (role_matches(rule.lti, role)) return rule.role_type;
    }
  }
  return std::nullopt;
}

bool has_test_user_role(const std::vector<std::string>& roles) {
  for (const auto& r : roles) {
    if (r == kTestUserRole) return true;
  }
  return false;
}

int apply_role_filter(RosterPage& page, std::string_view filter) {
  if (filter.empty()) return 0;
  auto before = page.members.size();
  std::erase_if(page.members, [&](const Member& m) {
    return std::none_of(m.roles.begin(), m.roles.end(), [&](const std::string& role) { return role_matches(filter, role); });
  });
  return static_cast<int>(before - page.members.size());
}

}  // namespace rostersync::sync
