#include "sync/redact.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace rostersync::sync {
namespace {

constexpr std::array<std::string_view, 9> kSecretNames = {"access_token", "token", "ltik", "key", "api_key",
                                                          "secret", "password", "signature", "sig"};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool is_secret_name(std::string_view name) {
  std::string n = lower(name);
  return std::find(kSecretNames.begin(), kSecretNames.end(), n) != kSecretNames.end();
}

// Redacts "name=value" pairs separated by `amp` (either "&" or "%26") and
// name/value separated by `eq` ("=" or "%3D").
std::string redact_pairs(std::string_view query, std::string_view amp, std::string_view eq) {
  std::string out;
  std::size_t pos = 0;
  while (pos <= query.size()) {
    std::size_t end = query.find(amp, pos);
    if (end == std::string_view::npos) end = query.size();
    std::string_view pair = query.substr(pos, end - pos);
    std::size_t split = pair.find(eq);
    if (split != std::string_view::npos && is_secret_name(pair.substr(0, split))) {
      out.append(pair.substr(0, split + eq.size()));
      out += "REDACTED";
    } else {
      out.append(pair);
    }
    if (end == query.size()) break;
    out.append(amp);
    pos = end + amp.size();
  }
  return out;
}

}  // namespace

std::string redact_url(std::string_view url) {
  std::string out(url);
  // userinfo: scheme://user:pass@host
  if (auto scheme = out.find("://"); scheme != std::string::npos) {
    auto host_end = out.find_first_of("/?#", scheme + 3);
    auto at = out.find('@', scheme + 3);
    if (at != std::string::npos && (host_end == std::string::npos || at < host_end)) {
      out.replace(scheme + 3, at - (scheme + 3), "REDACTED");
    }
  }
  auto q = out.find('?');
  if (q == std::string::npos) return out;
  std::string query = redact_pairs(std::string_view(out).substr(q + 1), "&", "=");
  // A nested URL passed percent-encoded (LTIAAS's url=<next>) has its own
  // query after an encoded '?': redact its %26-separated pairs as well.
  std::string nested;
  std::size_t pos = 0;
  while (pos < query.size()) {
    auto enc_q = lower(query.substr(pos)).find("%3f");
    if (enc_q == std::string::npos) break;
    nested += query.substr(pos, enc_q + 3);
    pos += enc_q + 3;
    std::size_t stop = query.find('&', pos);
    if (stop == std::string::npos) stop = query.size();
    std::string inner = query.substr(pos, stop - pos);
    for (std::size_t i = 0; i + 2 < inner.size(); ++i) {  // %26/%3d -> %26/%3D
      if (inner[i] == '%') {
        inner[i + 1] = static_cast<char>(std::toupper(static_cast<unsigned char>(inner[i + 1])));
        inner[i + 2] = static_cast<char>(std::toupper(static_cast<unsigned char>(inner[i + 2])));
      }
    }
    nested += redact_pairs(inner, "%26", "%3D");
    pos = stop;
  }
  nested += query.substr(pos);
  return out.substr(0, q + 1) + nested;
}

std::string clip_for_message(std::string_view text, std::size_t max) {
  std::string out;
  for (char c : text.substr(0, max)) out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  if (text.size() > max) out += "...";
  return out;
}

}  // namespace rostersync::sync
