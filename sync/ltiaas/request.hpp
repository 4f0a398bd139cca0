// The HTTP requests of the LTIAAS source: GET /api/memberships pages with the
// job's Authorization header. Pure; the header holds secrets and is never logged.
#pragma once

#include <string>

#include "config/config.hpp"
#include "domain/http_message.hpp"

namespace rostersync::sync {

// The Authorization header of the job's scheme (see config::AuthScheme).
std::string ltiaas_authorization(const config::Source& source, const config::Job& job);

// GET `url` (from LtiaasPager::next_url) asking for JSON.
HttpRequest roster_page_request(const std::string& url, const std::string& authorization);

}  // namespace rostersync::sync
