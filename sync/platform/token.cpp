#include "sync/platform/token.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <set>

#include "domain/text.hpp"
#include "sync/policy/retry_policy.hpp"

namespace rostersync::sync {

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : " ") + item;
  return out;
}

std::vector<std::string> split_spaces(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    std::size_t start = i;
    while (i < text.size() && text[i] != ' ') ++i;
    if (i > start) out.emplace_back(text.substr(start, i - start));
  }
  return out;
}

std::string string_field(const boost::json::object& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}

// The OAuth2 error codes that mean the tool's registration or request is wrong.
bool is_configuration_error(const std::string& code) {
  static const std::set<std::string> kCodes = {"invalid_client", "invalid_scope",        "unauthorized_client",
                                               "invalid_grant",  "unsupported_grant_type", "invalid_request"};
  return kCodes.count(code) > 0;
}

}  // namespace

HttpRequest token_request(const config::Source& source, const std::string& assertion) {
  HttpRequest r;
  r.method = "POST";
  r.url = source.token_url;
  r.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  r.body = "grant_type=client_credentials"
           "&client_assertion_type=" +
           url_encode_component("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") +
           "&client_assertion=" + url_encode_component(assertion) + "&scope=" + url_encode_component(join(source.scopes));
  return r;
}

Result<AccessToken> read_token_response(const HttpResponse& response, const std::vector<std::string>& requested,
                                        const std::string& url) {
  const std::string where = "POST " + redact_url(url);
  boost::system::error_code ec;
  boost::json::value json = boost::json::parse(response.body, ec);
  const boost::json::object* body = !ec && json.is_object() ? &json.as_object() : nullptr;
  if (response.status != 200) {
    std::string code = body ? string_field(*body, "error") : "";
    std::string description = body ? string_field(*body, "error_description") : "";
    std::string peer = code.empty() ? clip_for_message(response.body, 300)
                                    : clip_for_message(description.empty() ? code : code + ": " + description, 500);
    std::string message = where + ": HTTP " + std::to_string(response.status);
    FailureKind kind = FailureKind::http_status;
    if (is_configuration_error(code) ||
        classify_http_response(response.status, response.body, response.rate_limit_remaining) == FailureClass::configuration) {
      kind = FailureKind::config;
      message += " (the platform refused the tool's credentials or request; check client_id, key_id, the key "
                 "the platform has for the tool, audience and scopes)";
    }
    return fail(kind, message, response.status, peer);
  }
  // Never quote a 200's body: it may hold a token.
  if (!body) return fail(FailureKind::bad_response, where + ": HTTP 200 but the body is not a JSON object", 200);
  AccessToken token;
  token.value = string_field(*body, "access_token");
  std::string type = string_field(*body, "token_type");
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (token.value.empty()) return fail(FailureKind::bad_response, where + ": HTTP 200 without an access_token", 200);
  if (!type.empty() && type != "bearer") {
    return fail(FailureKind::config, where + ": token_type is '" + clip_for_message(type, 40) + "', not Bearer", 200);
  }
  if (std::any_of(token.value.begin(), token.value.end(), [](unsigned char c) { return c <= 0x20 || c >= 0x7F; })) {
    return fail(FailureKind::bad_response, where + ": the access_token holds characters a header cannot carry", 200);
  }
  // Bounded on every branch: a day at most (no platform grants longer; a
  // larger number must not overflow the cache's clock), 300 s when absent or
  // not a positive whole number.
  token.expires_in = std::chrono::seconds(300);
  if (auto it = body->find("expires_in"); it != body->end()) {
    const boost::json::value& v = it->value();
    if (v.is_int64() && v.as_int64() > 0) token.expires_in = std::chrono::seconds(std::min<std::int64_t>(v.as_int64(), kMaxTokenLifetime.count()));
    else if (v.is_uint64()) token.expires_in = kMaxTokenLifetime;  // beyond int64: certainly over a day
  }
  std::string granted = string_field(*body, "scope");
  token.scopes = granted.empty() ? requested : split_spaces(granted);
  if (std::find(token.scopes.begin(), token.scopes.end(), config::kNrpsReadScope) == token.scopes.end()) {
    return fail(FailureKind::config,
                where + ": the platform granted '" + clip_for_message(granted, 300) + "', without " + config::kNrpsReadScope +
                    " (enable Names and Role Provisioning Services for the tool at the platform)",
                200);
  }
  return token;
}

TokenCache::Key TokenCache::key_of(const config::Source& source) {
  return {source.token_url, source.client_id, join(source.scopes)};
}

std::optional<std::string> TokenCache::find(const Key& key, Clock::time_point now) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || now >= it->second.renew_at) return std::nullopt;
  return it->second.token;
}

void TokenCache::put(const Key& key, const AccessToken& token, Clock::time_point now) {
  // In milliseconds: a token of a few seconds still gets a margin.
  const auto margin = std::min<std::chrono::milliseconds>(
      std::chrono::seconds(60), std::chrono::duration_cast<std::chrono::milliseconds>(token.expires_in) / 10);
  entries_[key] = {token.value, now + token.expires_in - margin};
}

void TokenCache::drop(const Key& key, const std::string& token) {
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.token == token) entries_.erase(it);
}

}  // namespace rostersync::sync
