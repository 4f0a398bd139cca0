#include "sync/ltiaas/request.hpp"

namespace rostersync::sync {

std::string ltiaas_authorization(const config::Source& source, const config::Job& job) {
  const char* scheme = job.auth == config::AuthScheme::ltik ? "LTIK-AUTH-V2 " : "SERVICE-AUTH-V1 ";
  return scheme + source.api_key.reveal() + ":" + job.service_key.reveal();
}

HttpRequest roster_page_request(const std::string& url, const std::string& authorization) {
  HttpRequest r;
  r.url = url;
  r.headers = {{"Authorization", authorization}, {"Accept", "application/json"}};
  return r;
}

}  // namespace rostersync::sync
