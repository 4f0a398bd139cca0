// libFuzzer target: itslearning's answer to a createMemberships call.
//
// The first two bytes choose the HTTP status and the number of items sent;
// the rest is the body. interpret_response must classify anything without
// crashing; a per-item outcome must always cover exactly the items sent, and
// every diagnostic must be safe to log (no control characters, valid UTF-8).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sync/imses/soap.hpp"
#include "message_safety.hpp"

using namespace rostersync::sync::soap;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  static constexpr int kStatuses[] = {200, 200, 200, 200, 400, 401, 403, 408, 429, 500, 502, 503};
  int status = kStatuses[data[0] % (sizeof kStatuses / sizeof kStatuses[0])];
  std::size_t sent = 1 + data[1] % 8;
  std::string_view body(reinterpret_cast<const char*>(data + 2), size - 2);

  BatchOutcome out = interpret_response(status, body, sent);
  if (out.kind == BatchOutcome::Kind::per_item) {
    if (out.items.size() != sent || out.item_errors.size() != sent) std::abort();
    for (const auto& e : out.item_errors) {
      if (!rostersync::fuzz::message_safe(e)) std::abort();
    }
  } else if (out.error().empty() || !rostersync::fuzz::message_safe(out.error())) {
    std::abort();  // every other kind carries a diagnostic, safe to log
  }
  return 0;
}
