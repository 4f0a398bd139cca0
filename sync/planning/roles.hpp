// LTI role handling: normalising role URIs and mapping them to IMS-ES roleTypes.
//
// Pure functions. Roles arrive as full LIS v2 URIs, sub-role URIs, deprecated
// short names or LTI 1.1 URNs; all are normalised to "Principal" or
// "Principal#SubRole" so that one rule covers every spelling.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "domain/roster.hpp"

namespace rostersync::sync {

inline constexpr std::string_view kTestUserRole = "http://purl.imsglobal.org/vocab/lti/system/person#TestUser";

// ".../lis/v2/membership#Instructor" -> "Instructor";
// ".../lis/v2/membership/Instructor#TeachingAssistant" -> "Instructor#TeachingAssistant";
// "urn:lti:role:ims/lis/Instructor/TeachingAssistant" -> "Instructor#TeachingAssistant";
// "Learner" -> "Learner"; any other URI (institution, system roles) unchanged.
std::string normalize_role(std::string_view role);

// Does a rule pattern match one role? Both sides are normalised. A pattern
// ending in '*' is a prefix; a bare principal ("Instructor") also matches its
// sub-roles ("Instructor#Lecturer").
bool role_matches(std::string_view pattern, std::string_view role);

// The roleType of the first rule (in priority order) that any role matches.
std::optional<std::string> map_roles(const std::vector<std::string>& roles, const std::vector<config::RoleRule>& rules);

bool has_test_user_role(const std::vector<std::string>& roles);

// Keeps the page's members holding a role that matches `filter` (as
// role_matches reads it); "" keeps all. For platforms, whose next links may
// drop the `role` parameter (Moodle does). Returns how many were dropped.
int apply_role_filter(RosterPage& page, std::string_view filter);

}  // namespace rostersync::sync
