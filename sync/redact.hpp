// Redaction of secrets from text that goes to logs or the database.
//
// URLs from the network may carry credentials in their query (some platforms
// put access_token there); redact_url masks the values of such parameters.
#pragma once

#include <string>
#include <string_view>

namespace rostersync::sync {

// Masks values of query parameters that look like credentials (access_token,
// token, ltik, key, secret, password, signature, sig) and userinfo, also
// inside a nested, percent-encoded `url=` parameter.
std::string redact_url(std::string_view url);

// At most `max` bytes of `text` for an error message, control characters
// blanked so a peer's body cannot forge log lines; "..." marks a cut.
std::string clip_for_message(std::string_view text, std::size_t max = 300);

}  // namespace rostersync::sync
