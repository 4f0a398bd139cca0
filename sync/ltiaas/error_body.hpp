// LTIAAS error bodies turned into one readable, log-safe line.
//
// LTIAAS answers `{ "status", "error", "details" }` where `details` varies
// (message, description, errors[]); a non-JSON body came from the LMS
// behind it. Pure function, never throws.
#pragma once

#include <string>
#include <string_view>

#include "domain/result.hpp"

namespace rostersync::sync {

// Our text is the HTTP status; the peer's is LTIAAS's `error` and `details`
// (message/description/errors, at most 5), or the start of a non-JSON body.
Failure ltiaas_error(int http_status, std::string_view body);

// ltiaas_error(...).describe(): "HTTP 401: Unauthorized: INVALID_...: ...".
std::string describe_error_body(int http_status, std::string_view body);

}  // namespace rostersync::sync
