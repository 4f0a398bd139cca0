#include "sync/ltiaas/request.hpp"

namespace rostersync::sync {

std::string ltiaas_authorization(const config::Source& source, const config::Job& job) {
  const std::string& api_key = source.api_key.reveal();
  const std::string& key = job.service_key.reveal();
  switch (job.auth) {
    case config::AuthScheme::ltik: return "LTIK-AUTH-V2 " + api_key + ":" + key;
    case config::AuthScheme::ltik_v1: return "LTIK-AUTH-V1 Token=" + key + ", Additional=Bearer " + api_key;
    default: return "SERVICE-AUTH-V1 " + api_key + ":" + key;
  }
}

HttpRequest roster_page_request(const std::string& url, const std::string& authorization) {
  HttpRequest r;
  r.url = url;
  r.headers = {{"Authorization", authorization}, {"Accept", "application/json"}};
  return r;
}

}  // namespace rostersync::sync
