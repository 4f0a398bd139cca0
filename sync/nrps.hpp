// Parsing of NRPS membership containers as LTIAAS (or an LMS) serves them.
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

#include "sync/result.hpp"

namespace rostersync::sync {

struct Member {
  std::string user_id;
  std::vector<std::string> roles;
  bool active = true;                 // status Active or absent
  std::string status;                 // as sent ("" when absent)
  std::string lis_person_sourcedid;   // "" when absent
  std::string email;                  // "" when absent
  std::string name;                   // display name, "" when absent
};

struct RosterPage {
  std::string container_id;  // top-level `id`: the LMS's NRPS URL for this roster ("" if absent)
  std::string context_id;
  std::vector<Member> members;
  std::optional<std::string> next;  // LTIAAS's `next`, exactly as received
  int malformed_members = 0;        // entries without a usable user_id or a roles array
};

Result<RosterPage> parse_roster_page(std::string_view body);

// Turns an error response into one readable line: the HTTP status, LTIAAS's
// `error` and `details` (message/description/errors), or the start of a
// non-JSON body (which came from the LMS behind LTIAAS).
std::string describe_error_body(int http_status, std::string_view body);

}  // namespace rostersync::sync
