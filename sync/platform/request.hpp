// The HTTP request of a platform's NRPS page: GET with the bearer token,
// asking for the membership container media type (platforms that answer
// plain application/json are accepted too). Pure; the header holds the
// token and is never logged.
#pragma once

#include <string>

#include "domain/http_message.hpp"

namespace rostersync::sync {

inline constexpr const char* kNrpsMediaType = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json";

inline HttpRequest nrps_page_request(const std::string& url, const std::string& access_token) {
  HttpRequest r;
  r.url = url;
  r.headers = {{"Authorization", "Bearer " + access_token},
               {"Accept", std::string(kNrpsMediaType) + ", application/json;q=0.5"}};
  return r;
}

}  // namespace rostersync::sync
