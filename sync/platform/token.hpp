// OAuth2 client credentials at an LTI platform's token endpoint (RFC 6749
// section 4.4 with a JWT client assertion, RFC 7523): the request, what the
// answer means, and the cache that keeps a token for every job of the
// platform until shortly before it expires.
//
// Tokens and assertions are secrets: nothing here logs them, and no Failure
// message or peer text holds one. Pure: no I/O, no clock reads (callers pass
// "now").
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "config/config.hpp"
#include "domain/http_message.hpp"
#include "domain/result.hpp"

namespace rostersync::sync {

// POST to the source's token_url, form-encoded: grant_type=client_credentials,
// the jwt-bearer assertion type, `assertion`, and the scopes space-separated.
HttpRequest token_request(const config::Source& source, const std::string& assertion);

struct AccessToken {
  std::string value;                 // the bearer token: never logged
  std::chrono::seconds expires_in;   // as granted (300 s when the platform did not say)
  std::vector<std::string> scopes;   // as granted (those asked for when the platform did not say)
};

// What the token endpoint's answer means. A 200 with a bearer token whose
// grant includes the NRPS scope is a token. Otherwise a Failure whose kind
// tells the caller what to do:
//   config         resending cannot help: invalid_client, invalid_scope,
//                  unauthorized_client, invalid_grant, unsupported_grant_type,
//                  invalid_request, any other 4xx but 408/429, or a grant
//                  without the NRPS scope. The source is held; the platform's
//                  error_description is the peer text.
//   http_status    408, 429, 5xx: worth another try (Retry-After applies).
//   bad_response   a 200 that is not a bearer token: worth another try.
// `requested`: the scopes asked for. `url` names the endpoint in messages.
Result<AccessToken> read_token_response(const HttpResponse& response, const std::vector<std::string>& requested,
                                        const std::string& url);

// Bearer tokens by (token URL, client id, scopes), shared by every job of a
// platform. A token is handed out until `margin` before it expires: a tenth
// of its lifetime, at most a minute.
inline constexpr std::chrono::seconds kMaxTokenLifetime{86'400};  // expires_in is capped at this

class TokenCache {
 public:
  using Clock = std::chrono::steady_clock;
  struct Key {
    std::string token_url;
    std::string client_id;
    std::string scopes;  // space-separated, as requested
    auto operator<=>(const Key&) const = default;
  };
  static Key key_of(const config::Source& source);

  // The cached token, if it is still good at `now`.
  std::optional<std::string> find(const Key& key, Clock::time_point now) const;
  void put(const Key& key, const AccessToken& token, Clock::time_point now);
  // The platform refused `token` (401): forget it, unless another job has
  // already put a newer one in its place.
  void drop(const Key& key, const std::string& token);

 private:
  struct Entry {
    std::string token;
    Clock::time_point renew_at;
  };
  std::map<Key, Entry> entries_;
};

}  // namespace rostersync::sync
