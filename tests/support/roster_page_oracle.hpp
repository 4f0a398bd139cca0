// A second, tree-based parser of NRPS pages: the oracle for the streaming one.
#pragma once

#include <string_view>

#include "domain/result.hpp"
#include "domain/roster.hpp"

namespace rostersync::testing {

Result<RosterPage> parse_roster_page_as_tree(std::string_view body);

}  // namespace rostersync::testing
