// OAuth2 client credentials: the token request, what every answer of the
// token endpoint means, the cache shared by a platform's jobs, and
// TokenFetchMachine's retries and holds driven with synthetic events.
#include <gtest/gtest.h>

#include "sync/machines/token_fetch.hpp"
#include "sync/platform/token.hpp"

using namespace rostersync;
using namespace rostersync::sync;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::hours;
using Kind = TokenFetchAction::Kind;

namespace {

config::Source platform() {
  config::Source s;
  s.name = "canvas";
  s.kind = config::SourceKind::lti_platform;
  s.token_url = "https://sso.canvaslms.com/login/oauth2/token";
  s.client_id = "10000000000042";
  s.retry.max_attempts = 3;
  s.retry.retry_delay = milliseconds(1000);
  s.retry.max_retry_delay = milliseconds(60'000);
  s.retry.blocked_retry_interval = milliseconds(3'600'000);
  return s;
}

HttpResponse answer(int status, std::string body, std::string retry_after = "") {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.retry_after = std::move(retry_after);
  return r;
}

const std::string kGranted = std::string(R"({"access_token":"tok-1","token_type":"Bearer","expires_in":3600,"scope":")") +
                             config::kNrpsReadScope + "\"}";

Result<AccessToken> read(const HttpResponse& r) { return read_token_response(r, platform().scopes, platform().token_url); }

}  // namespace

TEST(TokenRequest, IsAFormPostOfTheAssertionAndScopes) {
  config::Source s = platform();
  s.scopes.push_back("https://purl.imsglobal.org/spec/lti-ags/scope/score");
  HttpRequest r = token_request(s, "aaa.bbb.ccc");
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, s.token_url);
  EXPECT_EQ(r.body,
            "grant_type=client_credentials"
            "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
            "&client_assertion=aaa.bbb.ccc"
            "&scope=https%3A%2F%2Fpurl.imsglobal.org%2Fspec%2Flti-nrps%2Fscope%2Fcontextmembership.readonly%20"
            "https%3A%2F%2Fpurl.imsglobal.org%2Fspec%2Flti-ags%2Fscope%2Fscore");
  bool form = false;
  for (const auto& [name, value] : r.headers) form |= name == "Content-Type" && value == "application/x-www-form-urlencoded";
  EXPECT_TRUE(form);
}

TEST(TokenResponse, AGrantWithTheNrpsScopeIsAToken) {
  Result<AccessToken> t = read(answer(200, kGranted));
  ASSERT_TRUE(t.ok()) << t.failure().describe();
  EXPECT_EQ(t->value, "tok-1");
  EXPECT_EQ(t->expires_in, seconds(3600));
  // No scope in the answer means what was asked; no expires_in means 5 minutes.
  Result<AccessToken> bare = read(answer(200, R"({"access_token":"tok-2","token_type":"bearer"})"));
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->expires_in, seconds(300));
}

TEST(TokenResponse, ExpiresInIsBoundedOnEveryBranch) {
  auto lifetime = [](const std::string& value) {
    Result<AccessToken> t = read(answer(200, R"({"access_token":"t","token_type":"Bearer","expires_in":)" + value + "}"));
    EXPECT_TRUE(t.ok()) << value;
    return t.ok() ? t->expires_in : seconds(-1);
  };
  EXPECT_EQ(lifetime("86400"), seconds(86'400));
  EXPECT_EQ(lifetime("9223372036854775807"), kMaxTokenLifetime);   // int64 max: would overflow the clock
  EXPECT_EQ(lifetime("18446744073709551615"), kMaxTokenLifetime);  // beyond int64
  EXPECT_EQ(lifetime("0"), seconds(300));
  EXPECT_EQ(lifetime("-5"), seconds(300));
  EXPECT_EQ(lifetime("\"3600\""), seconds(300));
  // The longest grant is cached without overflowing and renewed before it ends.
  TokenCache cache;
  const auto now = TokenCache::Clock::now();
  TokenCache::Key key{"u", "c", "s"};
  cache.put(key, AccessToken{"t", kMaxTokenLifetime, {}}, now);
  EXPECT_TRUE(cache.find(key, now + hours(23)).has_value());
  EXPECT_FALSE(cache.find(key, now + kMaxTokenLifetime).has_value());
}

TEST(TokenResponse, AGrantWithoutTheNrpsScopeIsAConfigurationError) {
  Result<AccessToken> t =
      read(answer(200, R"({"access_token":"tok-1","token_type":"Bearer","expires_in":3600,"scope":"https://purl.imsglobal.org/spec/lti-ags/scope/score"})"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.failure().kind, FailureKind::config);
  EXPECT_NE(t.failure().message.find("lti-ags/scope/score"), std::string::npos);
  EXPECT_EQ(t.failure().describe().find("tok-1"), std::string::npos);  // the token is never in a message
}

TEST(TokenResponse, OAuthErrorsAreConfigurationErrorsWithThePlatformsDescription) {
  for (const char* code : {"invalid_client", "invalid_scope", "unauthorized_client", "invalid_grant"}) {
    Result<AccessToken> t = read(answer(400, std::string(R"({"error":")") + code +
                                                 R"(","error_description":"Client assertion signature is invalid"})"));
    ASSERT_FALSE(t.ok()) << code;
    EXPECT_EQ(t.failure().kind, FailureKind::config) << code;
    EXPECT_EQ(t.failure().http_status, 400);
    EXPECT_EQ(t.failure().peer_text, std::string(code) + ": Client assertion signature is invalid");
    EXPECT_NE(t.failure().message.find("POST https://sso.canvaslms.com/login/oauth2/token: HTTP 400"), std::string::npos);
  }
  EXPECT_EQ(read(answer(401, R"({"error":"invalid_client"})")).failure().kind, FailureKind::config);
}

TEST(TokenResponse, ServerTroubleAndThrottlingAreWorthAnotherTry) {
  for (int status : {429, 500, 502, 503, 408}) {
    Result<AccessToken> t = read(answer(status, "<html>busy</html>"));
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.failure().kind, FailureKind::http_status) << status;
    EXPECT_EQ(t.failure().peer_text, "<html>busy</html>");
  }
  EXPECT_EQ(read(answer(200, "not json")).failure().kind, FailureKind::bad_response);
  EXPECT_EQ(read(answer(200, R"({"token_type":"Bearer"})")).failure().kind, FailureKind::bad_response);
  EXPECT_EQ(read(answer(200, R"({"access_token":"a b","token_type":"Bearer"})")).failure().kind, FailureKind::bad_response);
  EXPECT_EQ(read(answer(200, R"({"access_token":"t","token_type":"mac"})")).failure().kind, FailureKind::config);
}

TEST(TokenCache, HandsOutATokenUntilShortlyBeforeItExpires) {
  TokenCache cache;
  TokenCache::Key key = TokenCache::key_of(platform());
  auto t0 = TokenCache::Clock::time_point{} + std::chrono::hours(1);
  EXPECT_EQ(cache.find(key, t0), std::nullopt);
  cache.put(key, {"tok-1", seconds(3600), {}}, t0);
  EXPECT_EQ(cache.find(key, t0 + seconds(3539)), "tok-1");
  EXPECT_EQ(cache.find(key, t0 + seconds(3540)), std::nullopt);  // a minute before expiry: renew
  cache.put(key, {"tok-short", seconds(100), {}}, t0);
  EXPECT_EQ(cache.find(key, t0 + seconds(89)), "tok-short");
  EXPECT_EQ(cache.find(key, t0 + seconds(90)), std::nullopt);  // a tenth of a short lifetime
}

TEST(TokenCache, KeysSeparateEndpointsClientsAndScopes) {
  TokenCache cache;
  config::Source a = platform(), b = platform(), c = platform();
  b.client_id = "other";
  c.scopes.push_back("https://purl.imsglobal.org/spec/lti-ags/scope/score");
  auto now = TokenCache::Clock::now();
  cache.put(TokenCache::key_of(a), {"tok-a", seconds(3600), {}}, now);
  EXPECT_EQ(cache.find(TokenCache::key_of(a), now), "tok-a");
  EXPECT_EQ(cache.find(TokenCache::key_of(b), now), std::nullopt);
  EXPECT_EQ(cache.find(TokenCache::key_of(c), now), std::nullopt);
  config::Source same = platform();
  same.name = "canvas-again";  // another source of the same platform and client shares it
  EXPECT_EQ(cache.find(TokenCache::key_of(same), now), "tok-a");
}

TEST(TokenCache, DroppingARefusedTokenKeepsANewerOne) {
  TokenCache cache;
  TokenCache::Key key = TokenCache::key_of(platform());
  auto now = TokenCache::Clock::now();
  cache.put(key, {"tok-1", seconds(3600), {}}, now);
  cache.put(key, {"tok-2", seconds(3600), {}}, now);  // another job renewed already
  cache.drop(key, "tok-1");
  EXPECT_EQ(cache.find(key, now), "tok-2");
  cache.drop(key, "tok-2");
  EXPECT_EQ(cache.find(key, now), std::nullopt);
}

namespace {

TokenFetchAction respond(TokenFetchMachine& m, const Result<HttpResponse>& r, bool stopping = false) {
  return m.resume(TokenFetchMachine::Responded{r, 0.5, std::chrono::system_clock::now(), stopping});
}

}  // namespace

TEST(TokenFetch, AGrantIsDoneAfterOneSend) {
  config::Source s = platform();
  TokenFetchMachine m(s);
  EXPECT_EQ(m.resume(TokenFetchMachine::Start{}).kind, Kind::send);
  EXPECT_EQ(respond(m, answer(200, kGranted)).kind, Kind::done);
  EXPECT_EQ(m.token().value, "tok-1");
  EXPECT_EQ(m.attempts(), 1);
}

TEST(TokenFetch, ANetworkErrorOrServerErrorAtEveryStepIsRetriedThenGivenUpWithoutHold) {
  config::Source s = platform();
  TokenFetchMachine m(s);
  m.resume(TokenFetchMachine::Start{});
  Result<HttpResponse> reset = fail(FailureKind::transport, "POST https://sso/token: connection reset");
  TokenFetchAction a = respond(m, reset);
  ASSERT_EQ(a.kind, Kind::wait);
  EXPECT_LE(a.delay, milliseconds(1000));
  ASSERT_EQ(m.resume(TokenFetchMachine::Waited{}).kind, Kind::send);
  a = respond(m, answer(503, "down", "7"));
  ASSERT_EQ(a.kind, Kind::wait);
  EXPECT_GE(a.delay, milliseconds(7000));  // Retry-After is honoured
  ASSERT_EQ(m.resume(TokenFetchMachine::Waited{}).kind, Kind::send);
  EXPECT_EQ(respond(m, reset).kind, Kind::failed);
  EXPECT_EQ(m.attempts(), 3);
  EXPECT_FALSE(m.hold_for().has_value());
  EXPECT_NE(m.error().find("connection reset"), std::string::npos);
}

TEST(TokenFetch, ARefusedClientIsHeldAtOnceNeverRetried) {
  config::Source s = platform();
  TokenFetchMachine m(s);
  m.resume(TokenFetchMachine::Start{});
  EXPECT_EQ(respond(m, answer(401, R"({"error":"invalid_client","error_description":"unknown kid"})")).kind, Kind::failed);
  EXPECT_EQ(m.attempts(), 1);
  ASSERT_TRUE(m.hold_for().has_value());
  EXPECT_EQ(*m.hold_for(), milliseconds(3'600'000));
  EXPECT_NE(m.error().find("invalid_client: unknown kid"), std::string::npos);
}

TEST(TokenFetch, AKeyThatCannotSignOrARefusedCertificateHolds) {
  for (FailureKind kind : {FailureKind::config, FailureKind::certificate}) {
    config::Source s = platform();
    TokenFetchMachine m(s);
    m.resume(TokenFetchMachine::Start{});
    EXPECT_EQ(respond(m, fail(kind, "cannot sign")).kind, Kind::failed);
    EXPECT_TRUE(m.hold_for().has_value());
  }
}

TEST(TokenFetch, AStopEndsItWithoutAHold) {
  config::Source s = platform();
  TokenFetchMachine m(s);
  m.resume(TokenFetchMachine::Start{});
  EXPECT_EQ(respond(m, answer(401, R"({"error":"invalid_client"})"), true).kind, Kind::failed);
  EXPECT_TRUE(m.stopped());
  EXPECT_FALSE(m.hold_for().has_value());
  TokenFetchMachine w(s);
  w.resume(TokenFetchMachine::Start{});
  ASSERT_EQ(respond(w, answer(500, "")).kind, Kind::wait);
  EXPECT_EQ(w.resume(TokenFetchMachine::Waited{true}).kind, Kind::failed);
  EXPECT_TRUE(w.stopped());
}
