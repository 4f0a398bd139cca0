#include "domain/result.hpp"

namespace rostersync {

const char* to_string(FailureKind kind) {
  switch (kind) {
    case FailureKind::transport: return "transport";
    case FailureKind::http_status: return "http_status";
    case FailureKind::bad_response: return "bad_response";
    case FailureKind::soap_fault: return "soap_fault";
    case FailureKind::limit: return "limit";
    case FailureKind::protocol: return "protocol";
    case FailureKind::config: return "config";
    case FailureKind::certificate: return "certificate";
    case FailureKind::store: return "store";
    case FailureKind::store_busy: return "store_busy";
  }
  return "unknown";
}

}  // namespace rostersync
