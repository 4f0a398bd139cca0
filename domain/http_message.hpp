// An HTTP request and response as plain data: what the I/O shell sends and
// receives, and what the sans-I/O machines judge. Header values may hold
// secrets (Authorization): nothing here is ever logged whole.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace rostersync {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;  // never logged
  std::string body;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string retry_after;  // raw Retry-After header, "" when absent
  std::string rate_limit_remaining;  // raw X-Rate-Limit-Remaining (Canvas), "" when absent
  std::vector<std::string> links;    // every Link header line's value, in order (NRPS paging)
};

}  // namespace rostersync
