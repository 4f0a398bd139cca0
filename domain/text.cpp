#include "domain/text.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <algorithm>
#include <array>
#include <cctype>

namespace rostersync {
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

std::size_t utf8_sequence_length(std::string_view s) {
  if (s.empty()) return 0;
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F)) return 0;  // overlong, surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) > 0x8F)) return 0;  // overlong, above U+10FFFF
    return 4;
  }
  return 0;
}

bool is_xml_safe(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = utf8_sequence_length(text.substr(i));
    if (n == 0) return false;
    auto c = static_cast<unsigned char>(text[i]);
    if (n == 1 && c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
    // U+FFFE and U+FFFF (EF BF BE / EF BF BF) are not XML characters.
    if (n == 3 && c == 0xEF && static_cast<unsigned char>(text[i + 1]) == 0xBF &&
        static_cast<unsigned char>(text[i + 2]) >= 0xBE) {
      return false;
    }
    i += n;
  }
  return true;
}

std::string clip_for_message(std::string_view text, std::size_t max) {
  // Peer text reaches logs and the database: control characters become
  // spaces and invalid UTF-8 becomes '?', so neither a terminal nor a journal
  // field ever gets raw bytes from the network.
  std::string out;
  std::string_view head = text.substr(0, max);
  for (std::size_t i = 0; i < head.size();) {
    unsigned char c = static_cast<unsigned char>(head[i]);
    std::size_t n = utf8_sequence_length(head.substr(i));
    if (n == 0) {
      out += '?';
      ++i;
    } else if (n == 1) {
      out += (c < 0x20 || c == 0x7F) ? ' ' : static_cast<char>(c);
      ++i;
    } else {
      out.append(head.substr(i, n));
      i += n;
    }
  }
  if (text.size() > max) out += "...";
  return out;
}

std::string url_encode_component(std::string_view text) {
  return boost::urls::encode(text, boost::urls::unreserved_chars);
}

std::string url_problem(std::string_view url) {
  auto lower = [](std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  const std::size_t sep = url.find("://");
  if (sep == std::string_view::npos) return "is not an absolute http(s) URL";
  const std::string scheme = lower(url.substr(0, sep));
  if (scheme != "http" && scheme != "https") return "scheme must be https (or http), got '" + scheme + "'";
  std::string_view rest = url.substr(sep + 3);
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) return "must not hold user information (user@host)";
  if (authority.find('%') != std::string_view::npos) return "has a percent-encoded character in its host";
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return "has an unclosed [IPv6] host";
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return "has characters after its [IPv6] host";
    if (!after.empty()) port = after.substr(1);
    for (char c : host.substr(1, host.size() - 2)) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return "has an invalid [IPv6] host";
    }
  } else {
    const std::size_t colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
    }
    for (char c : host) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
        return "has an invalid character '" + std::string(1, c) + "' in its host";
      }
    }
  }
  if (host.empty()) return "has no host";
  if (authority.find(':') != std::string_view::npos && (host.front() != '[' || authority.size() > host.size())) {
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return "has an invalid port '" + std::string(port) + "'";
    }
    const long n = std::stol(std::string(port));
    if (n < 1 || n > 65535) return "has port " + std::string(port) + ", outside 1..65535";
  }
  const std::string_view after_authority = rest.substr(authority.size());
  if (!after_authority.empty() && after_authority.front() != '/' && after_authority.front() != '?' &&
      after_authority.front() != '#') {
    return "has a path that does not start with '/'";
  }
  // The parser every request goes through must read the same host and port.
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u || !u->has_authority()) return "is not an absolute URL";
  if (lower(u->encoded_host()) != lower(host) || std::string_view(u->port()) != port) {
    return "is read with host '" + std::string(u->encoded_host()) + "' and port '" + std::string(u->port()) +
           "', not as written";
  }
  return "";
}

std::string url_origin(std::string_view url) {
  if (!url_problem(url).empty()) return "";
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u || !u->has_authority() || u->encoded_host().empty()) return "";
  auto lower = [](std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  };
  std::string scheme = lower(std::string(u->scheme()));
  std::string port = u->has_port() ? std::string(u->port()) : scheme == "https" ? "443" : scheme == "http" ? "80" : "";
  return scheme + "://" + lower(std::string(u->encoded_host())) + ":" + port;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace rostersync
