// LTIAAS error bodies turned into one readable, log-safe line.
//
// LTIAAS answers `{ "status", "error", "details" }` where `details` varies
// (message, description, errors[]); a non-JSON body came from the LMS
// behind it. Pure function, never throws.
#pragma once

#include <string>
#include <string_view>

namespace rostersync::sync {

// The HTTP status, LTIAAS's `error` and `details` (message/description/errors,
// at most 5), or the start of a non-JSON body.
std::string describe_error_body(int http_status, std::string_view body);

}  // namespace rostersync::sync
