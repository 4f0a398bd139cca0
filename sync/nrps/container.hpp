// Parsing of NRPS membership containers, the body every NRPS source serves
// (LTIAAS, or an LMS directly).
//
// Pure functions over the response body: no I/O. Accepts both member key
// spellings (snake_case and LTIAAS's camelCase), user ids as strings or JSON
// numbers, and a missing status as Active. A body that is not a container
// (no `members` array, empty body, not JSON) is an error, never an empty roster.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/result.hpp"
#include "domain/roster.hpp"

namespace rostersync::sync {

Result<RosterPage> parse_roster_page(std::string_view body);

}  // namespace rostersync::sync
