#include "sync/imses/request.hpp"

namespace rostersync::sync {

HttpRequest soap_request(const std::string& endpoint, std::string_view soap_action, std::string body) {
  HttpRequest r;
  r.method = "POST";
  r.url = endpoint;
  r.headers = {{"Content-Type", "text/xml; charset=utf-8"}, {"SOAPAction", "\"" + std::string(soap_action) + "\""}};
  r.body = std::move(body);
  return r;
}

}  // namespace rostersync::sync
