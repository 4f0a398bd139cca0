// Text hygiene shared by every room: secrets out of URLs, peer text made safe
// for logs and terminals, and the one UTF-8 / XML character check.
//
// URLs from the network may carry credentials in their query (some platforms
// put access_token there); redact_url masks the values of such parameters.
// Pure functions; nothing here throws.
#pragma once

#include <string>
#include <string_view>

namespace rostersync {

// Masks values of query parameters that look like credentials (access_token,
// token, ltik, key, secret, password, signature, sig) and userinfo, also
// inside a nested, percent-encoded `url=` parameter.
std::string redact_url(std::string_view url);

// Why `url` is no URL rostersync may send a credential to ("" when it is
// one): an http or https URL whose authority is exactly as written (a host
// of letters, digits, '.', '-', '_' or an [IPv6] literal, no user
// information, no percent-encoding, a port of 1 to 65535) and whose path is
// empty or starts with '/'. Checked by hand and against Boost.URL, which
// (1.81) reads http://127.0.0.1.nip.io:8099 as host 127.0.0.1.
std::string url_problem(std::string_view url);

// "https://lms.example.edu:443" for any URL on that origin (scheme and host
// lower-cased, the port made explicit); "" if it is not an absolute URL with
// a host, or one url_problem() refuses. Origins decide where credentials may be sent.
std::string url_origin(std::string_view url);

// Percent-encodes everything but RFC 3986 unreserved characters (query
// values, form fields).
std::string url_encode_component(std::string_view text);

// At most `max` bytes of `text` for an error message, control characters
// blanked so a peer's body cannot forge log lines; "..." marks a cut.
std::string clip_for_message(std::string_view text, std::size_t max = 300);

// Length of the well-formed UTF-8 sequence that starts `text` (1 to 4), or 0
// when it does not start with one (invalid, overlong, surrogate, truncated).
std::size_t utf8_sequence_length(std::string_view text);

// True when text is valid UTF-8 and holds only characters XML 1.0 allows
// (no C0 controls but tab, CR and LF; no U+FFFE/U+FFFF).
bool is_xml_safe(std::string_view text);

// Levenshtein distance: how many one-character edits turn `a` into `b`
// (did-you-mean suggestions for keys and commands).
std::size_t edit_distance(const std::string& a, const std::string& b);

}  // namespace rostersync
