// The HTTP request of one IMS-ES call: a SOAP 1.1 POST with its SOAPAction.
// Pure; the body holds the WS-Security password and is never logged.
#pragma once

#include <string>
#include <string_view>

#include "domain/http_message.hpp"

namespace rostersync::sync {

HttpRequest soap_request(const std::string& endpoint, std::string_view soap_action, std::string body);

}  // namespace rostersync::sync
