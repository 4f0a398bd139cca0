// The simulator's LTI platform: an OAuth2 token endpoint that checks client
// assertions as a platform does, and NRPS paged by Link headers. Its own
// JWT verification (OpenSSL directly), independent of rostersync's signing.
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <random>

#include "sim/simulator.hpp"

namespace rostersync::sim {
namespace json = boost::json;

namespace {

constexpr const char* kNrpsScope = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly";
constexpr const char* kDeploymentClaim = "https://purl.imsglobal.org/spec/lti/claim/deployment_id";

Reply oauth_error(int status, const std::string& code, const std::string& description) {
  return {status, "application/json", json::serialize(json::object{{"error", code}, {"error_description", description}})};
}

std::string percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> out;
  std::size_t at = 0;
  while (at <= body.size()) {
    std::size_t end = body.find('&', at);
    if (end == std::string::npos) end = body.size();
    std::string pair = body.substr(at, end - at);
    auto eq = pair.find('=');
    if (!pair.empty()) out[percent_decode(pair.substr(0, eq))] = eq == std::string::npos ? "" : percent_decode(pair.substr(eq + 1));
    at = end + 1;
  }
  return out;
}

bool b64url_decode(std::string text, std::string& out) {
  for (char& c : text) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
  }
  std::size_t pad = (4 - text.size() % 4) % 4;
  if (pad == 3) return false;
  text.append(pad, '=');
  out.assign(text.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return false;
  out.resize(static_cast<std::size_t>(n) - pad);
  return true;
}

bool rs256_verifies(const std::string& public_pem, const std::string& input, const std::string& signature) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  return EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

std::string text_of(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : "";
}

std::int64_t number_of(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : v && v->is_uint64() ? static_cast<std::int64_t>(v->as_uint64()) : -1;
}

std::vector<std::string> split_spaces(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find(' ', at);
    if (end == std::string::npos) end = text.size();
    if (end > at) out.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : " ") + i;
  return out;
}

bool has_role(const json::value& member, const std::string& role) {
  const json::object* o = member.if_object();
  const json::value* roles = o ? o->if_contains("roles") : nullptr;
  if (!roles || !roles->is_array()) return false;
  for (const auto& r : roles->as_array()) {
    if (!r.is_string()) continue;
    std::string text(r.as_string());
    if (text == role || (text.size() > role.size() && text.compare(text.size() - role.size() - 1, std::string::npos, "#" + role) == 0)) {
      return true;
    }
  }
  return false;
}

}  // namespace

Reply Simulator::platform_token(const Request& request, std::chrono::system_clock::time_point now) {
  ++token_requests_;
  auto refuse = [&](int status, const std::string& code, const std::string& description) {
    ++token_refusals_[code];
    return oauth_error(status, code, description);
  };
  if (options_.platform_public_key_pem.empty()) return refuse(400, "invalid_client", "no tool is registered at this platform");
  std::map<std::string, std::string> form = parse_form(request.body);
  if (form["grant_type"] != "client_credentials") return refuse(400, "unsupported_grant_type", "grant_type must be client_credentials");
  if (form["client_assertion_type"] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
    return refuse(400, "invalid_request", "client_assertion_type must be jwt-bearer");
  }
  const std::string& jwt = form["client_assertion"];
  auto a = jwt.find('.'), b = jwt.rfind('.');
  std::string header_text, claims_text, signature;
  if (a == std::string::npos || a == b || !b64url_decode(jwt.substr(0, a), header_text) ||
      !b64url_decode(jwt.substr(a + 1, b - a - 1), claims_text) || !b64url_decode(jwt.substr(b + 1), signature)) {
    return refuse(400, "invalid_request", "client_assertion is not a JWT");
  }
  boost::system::error_code ec;
  json::value header = json::parse(header_text, ec);
  json::value claims = ec ? json::value() : json::parse(claims_text, ec);
  if (ec || !header.is_object() || !claims.is_object()) return refuse(400, "invalid_request", "client_assertion is not a JWT");
  const json::object& h = header.as_object();
  const json::object& c = claims.as_object();
  if (text_of(h, "alg") != "RS256") return refuse(401, "invalid_client", "alg must be RS256");
  if (text_of(h, "kid") != options_.platform_key_id) return refuse(401, "invalid_client", "unknown kid '" + text_of(h, "kid") + "'");
  if (!rs256_verifies(options_.platform_public_key_pem, jwt.substr(0, b), signature)) {
    return refuse(401, "invalid_client", "client assertion signature does not verify with the registered public key");
  }
  if (text_of(c, "iss") != options_.platform_client_id || text_of(c, "sub") != options_.platform_client_id) {
    return refuse(401, "invalid_client", "iss and sub must be the client id");
  }
  const std::string audience =
      options_.platform_audience.empty() ? "http://" + request.host + "/platform/token" : options_.platform_audience;
  bool aud_ok = text_of(c, "aud") == audience;
  if (const json::value* aud = c.if_contains("aud"); aud && aud->is_array()) {
    for (const auto& v : aud->as_array()) aud_ok |= v.is_string() && v.as_string() == audience;
  }
  if (!aud_ok) return refuse(401, "invalid_client", "aud must be " + audience);
  if (text_of(c, kDeploymentClaim) != options_.platform_deployment_id) {
    return refuse(401, "invalid_client", "unknown deployment id");
  }
  const std::int64_t unix_now = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const std::int64_t iat = number_of(c, "iat"), exp = number_of(c, "exp");
  if (iat < 0 || exp < 0 || exp <= unix_now || iat > unix_now + 60 || exp - iat > 3600) {
    return refuse(400, "invalid_grant", "the client assertion is expired, not yet valid or lives too long");
  }
  const std::string jti = text_of(c, "jti");
  if (jti.empty() || !seen_jti_.insert(jti).second) return refuse(400, "invalid_grant", "jti is missing or was used before");
  std::vector<std::string> asked = split_spaces(form["scope"]), granted;
  for (const auto& scope : asked) {
    if (!grant_scopes_set_ || std::find(grant_scopes_.begin(), grant_scopes_.end(), scope) != grant_scopes_.end()) {
      granted.push_back(scope);
    }
  }
  if (granted.empty()) return refuse(400, "invalid_scope", "none of the requested scopes is granted to this tool");
  std::string token = "sim-token-" + std::to_string(++token_counter_) + "-" +
                      std::to_string(std::random_device{}() % 1000000);
  tokens_[token] = {now + std::chrono::seconds(options_.token_lifetime_s)};
  ++tokens_issued_;
  return {200, "application/json",
          json::serialize(json::object{{"access_token", token},
                                       {"token_type", "Bearer"},
                                       {"expires_in", options_.token_lifetime_s},
                                       {"scope", join(granted)}})};
}

Reply Simulator::platform_page(const Request& request, const std::string& fault, std::chrono::system_clock::time_point now) {
  ++nrps_requests_;
  const std::string bearer = "Bearer ";
  auto token = request.authorization.rfind(bearer, 0) == 0 ? tokens_.find(request.authorization.substr(bearer.size()))
                                                           : tokens_.end();
  if (token == tokens_.end() || token->second.expires <= now) {
    ++nrps_unauthorized_;
    return {401, "application/json", R"({"errors":[{"message":"Invalid access token."}]})"};
  }
  auto url = boost::urls::parse_origin_form(request.target);
  if (!url) return {400, "text/plain", "unparseable target"};
  std::string path(url->path());
  const std::string prefix = "/platform/contexts/", suffix = "/memberships";
  if (path.size() <= prefix.size() + suffix.size() || path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return {404, "text/plain", "no such context"};
  }
  std::string context = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
  Roster* roster = nullptr;
  for (auto& [key, r] : rosters_) {
    if (const json::value* id = r.context.if_contains("id"); id && id->is_string() && id->as_string() == context) roster = &r;
  }
  if (!roster) return {404, "application/json", R"({"errors":[{"message":"The specified resource does not exist."}]})"};
  // "shift_roster": a student joins at the front just before this page is
  // served, as when a course changes during a walk: offset paging then
  // lists the previous page's last member again.
  if (fault == "shift_roster") {
    roster->members.insert(roster->members.begin(),
                           json::object{{"user_id", "joined-mid-walk"},
                                        {"roles", json::array{"http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"}},
                                        {"lis_person_sourcedid", "sis-joined-mid-walk"}});
  }

  auto param = [&](const char* name) -> std::string {
    auto params = url->params();
    auto it = params.find(name);
    return it == params.end() ? "" : std::string((*it).value);
  };
  const std::string style = options_.link_style;
  // The tool asks with `limit`; Canvas's own links carry `per_page` instead.
  const std::string asked = param("per_page").empty() ? param("limit") : param("per_page");
  std::size_t limit = asked.empty() ? 10 : static_cast<std::size_t>(std::max(1, std::atoi(asked.c_str())));
  if (style == "canvas") limit = std::min<std::size_t>(limit, 50);  // Canvas caps per_page at 50
  const std::string role = param("role");
  std::vector<const json::value*> listed;
  for (const auto& m : roster->members) {
    if (role.empty() || has_role(m, role)) listed.push_back(&m);
  }
  std::size_t offset = 0;
  int page = 1;
  if (style == "moodle") {
    offset = static_cast<std::size_t>(std::max(0, std::atoi(param("from").c_str())));
  } else {
    page = std::max(1, std::atoi(param("page").empty() ? "1" : param("page").c_str()));
    offset = static_cast<std::size_t>(page - 1) * limit;
  }
  json::array members;
  for (std::size_t i = offset; i < std::min(listed.size(), offset + limit); ++i) members.push_back(*listed[i]);

  const std::string self = "http://" + request.host + path;
  std::string port = request.host.substr(request.host.find(':') == std::string::npos ? request.host.size() : request.host.find(':'));
  const std::string foreign = "http://localhost" + port + path;
  const bool more = offset + limit < listed.size();
  const std::string role_part = role.empty() ? "" : "&role=" + role;
  Reply r{200, "application/vnd.ims.lti-nrps.v2.membershipcontainer+json",
          json::serialize(json::object{{"id", self}, {"context", roster->context}, {"members", std::move(members)}})};
  auto page_url = [&](int n) { return self + "?page=" + std::to_string(n) + "&per_page=" + std::to_string(limit) + role_part; };
  const int last = static_cast<int>((listed.size() + limit - 1) / std::max<std::size_t>(limit, 1));
  if (fault == "next_other_origin") {
    r.links.push_back("<" + foreign + "?page=" + std::to_string(page + 1) + ">; rel=\"next\"");
  } else if (fault == "next_loop") {
    r.links.push_back("<" + page_url(page) + ">; rel=\"next\"");
  } else if (style == "canvas") {
    std::string line = "<" + page_url(page) + ">; rel=\"current\"";
    if (more) line += ",<" + page_url(page + 1) + ">; rel=\"next\"";
    if (page > 1) line += ",<" + page_url(page - 1) + ">; rel=\"prev\"";
    line += ",<" + page_url(1) + ">; rel=\"first\",<" + page_url(std::max(last, 1)) + ">; rel=\"last\"";
    r.links.push_back(line);
  } else if (style == "moodle") {
    // Moodle's next link keeps limit but drops the role filter.
    if (more) r.links.push_back("<" + self + "?from=" + std::to_string(offset + limit) + "&limit=" + std::to_string(limit) + ">; rel=\"next\"");
  } else if (style == "relative") {
    std::string line = "<?page=1&per_page=" + std::to_string(limit) + role_part + ">; title=\"first, page\"; rel=first";
    if (more) line += ", <?page=" + std::to_string(page + 1) + "&per_page=" + std::to_string(limit) + role_part + ">; rel=next";
    r.links.push_back(line);
  } else {  // split: two Link lines, and a rel with several types
    r.links.push_back("<" + page_url(1) + ">; rel=\"first\"");
    if (more) r.links.push_back("<" + page_url(page + 1) + ">; rel=\"next alternate\"");
  }
  if (fault == "no_members") r.body = json::serialize(json::object{{"id", self}, {"context", roster->context}});
  return r;
}

Reply Simulator::platform_control(const std::string& body) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) return {400, "text/plain", "expected a JSON object"};
  const json::object& o = doc.as_object();
  if (auto* v = o.if_contains("public_key_pem")) options_.platform_public_key_pem = std::string(v->as_string());
  if (auto* v = o.if_contains("link_style")) options_.link_style = std::string(v->as_string());
  if (auto* v = o.if_contains("token_lifetime_s")) options_.token_lifetime_s = static_cast<int>(v->to_number<std::int64_t>());
  if (auto* v = o.if_contains("audience")) options_.platform_audience = std::string(v->as_string());
  if (auto* v = o.if_contains("grant_scopes")) {
    grant_scopes_.clear();
    grant_scopes_set_ = true;
    for (const auto& s : v->as_array()) grant_scopes_.emplace_back(s.as_string());
  }
  // Every token issued so far stops working (as if it had expired).
  if (auto* v = o.if_contains("expire_tokens"); v && v->as_bool()) tokens_.clear();
  return {200, "application/json", "{}"};
}

void Simulator::platform_state(json::object& out) const {
  json::object refusals;
  for (const auto& [code, n] : token_refusals_) refusals[code] = n;
  out["platform"] = json::object{{"token_requests", token_requests_},
                                 {"tokens_issued", tokens_issued_},
                                 {"token_refusals", std::move(refusals)},
                                 {"nrps_requests", nrps_requests_},
                                 {"nrps_unauthorized", nrps_unauthorized_},
                                 {"foreign_origin_requests", foreign_origin_requests_}};
}

}  // namespace rostersync::sim
