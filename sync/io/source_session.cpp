// The source session: a platform's bearer token (one fetch at a time for all
// its jobs, renewed when a page is refused with it) and one roster page
// fetched with retries, each driven through Engine::Impl::perform_attempts.
#include <spdlog/spdlog.h>

#include "domain/text.hpp"
#include "sync/io/engine_impl.hpp"
#include "sync/ltiaas/request.hpp"
#include "sync/machines/token_fetch.hpp"
#include "sync/platform/request.hpp"

namespace rostersync::sync {
namespace io {

asio::awaitable<Result<HttpResponse>> exchange(HttpClient& http, HttpRequest request, const RequestObserver& observer,
                                               std::string_view peer, std::string_view endpoint) {
  const auto started = Clock::now();
  Result<HttpResponse> response = co_await http.send(std::move(request));
  if (observer) {
    observer(peer, endpoint, response ? response->status : 0,
             std::chrono::duration<double>(Clock::now() - started).count());
  }
  co_return response;
}

}  // namespace io

using io::Clock;

asio::awaitable<std::variant<std::string, io::TokenTrouble>> Engine::Impl::bearer_token(SourceLink& source,
                                                                                        const std::string& refused,
                                                                                        spdlog::logger& log) {
  const config::Source& platform = *source.config;
  const TokenCache::Key key = TokenCache::key_of(platform);
  if (!refused.empty()) tokens.drop(key, refused);
  if (!source.key) co_return TokenTrouble{source.key_error, platform.retry.blocked_retry_interval};
  for (;;) {
    if (std::optional<std::string> token = tokens.find(key, Clock::now())) co_return *token;
    if (!source.fetching) break;
    const std::uint64_t before = source.fetches;  // another job is asking: its answer is ours
    while (source.fetching && !stopping) co_await source.fetched->wait();
    if (stopping) co_return TokenTrouble{"stopping", std::nullopt, true};
    if (source.fetches != before && source.last_trouble) co_return *source.last_trouble;
  }
  source.fetching = true;
  TokenFetchMachine machine(platform);
  struct Ops {
    Impl& impl;
    SourceLink& source;
    TokenFetchMachine& machine;
    spdlog::logger& log;
    asio::awaitable<Result<HttpResponse>> attempt(const TokenFetchAction&) {
      const config::Source& platform = *source.config;
      AssertionClaims claims;
      claims.client_id = platform.client_id;
      claims.audience = platform.audience.empty() ? platform.token_url : platform.audience;
      claims.deployment_id = platform.deployment_id;
      claims.key_id = platform.key_id;
      claims.issued_at = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
      claims.lifetime = std::chrono::duration_cast<std::chrono::seconds>(platform.assertion_lifetime);
      claims.jti = random_jti();  // a new one for every attempt: the platform refuses a replayed one
      Result<std::string> assertion = make_client_assertion(*source.key, claims);
      if (!assertion) co_return assertion.failure();
      co_return co_await io::exchange(*source.http, token_request(platform, *assertion), source.observer,
                                      platform.name, "token");
    }
    TokenFetchMachine::Responded responded(const Result<HttpResponse>& r) {
      return {r, impl.draw(), std::chrono::system_clock::now(), impl.stopping};
    }
    TokenFetchMachine::Waited waited() { return {impl.stopping}; }
    void retrying() {
      log.debug("source {}: token request attempt {}: {}", source.config->name, machine.attempts(), machine.error());
    }
  };
  TokenFetchAction action =
      co_await perform_attempts(machine, machine.resume(TokenFetchMachine::Start{}), Ops{*this, source, machine, log});
  source.fetching = false;
  ++source.fetches;
  source.fetched->notify_all();
  if (action.kind == TokenFetchAction::Kind::done) {
    source.last_trouble.reset();
    tokens.put(key, machine.token(), Clock::now());
    log.info("source {}: access token from {} (valid {} s)", platform.name, redact_url(platform.token_url),
             machine.token().expires_in.count());
    co_return machine.token().value;
  }
  source.last_trouble = TokenTrouble{machine.error(), machine.hold_for(), machine.stopped()};
  co_return *source.last_trouble;
}

asio::awaitable<void> Engine::Impl::fetch_page(SourceLink& source, const std::string& url, io::PageAuth& auth,
                                               PageFetchMachine& fetch, std::optional<TokenTrouble>& trouble,
                                               spdlog::logger& log) {
  struct Ops {
    Impl& impl;
    SourceLink& source;
    const std::string& url;
    io::PageAuth& auth;
    asio::awaitable<Result<HttpResponse>> attempt(const PageFetchAction&) {
      const bool platform = source.config->kind == config::SourceKind::lti_platform;
      HttpRequest request = platform ? nrps_page_request(url, auth.token) : roster_page_request(url, auth.header);
      co_return co_await io::exchange(*source.http, std::move(request), source.observer, source.config->name,
                                      platform ? "nrps" : "ltiaas_memberships");
    }
    PageFetchMachine::Responded responded(const Result<HttpResponse>& r) {
      return {r, impl.draw(), std::chrono::system_clock::now(), impl.stopping};
    }
    PageFetchMachine::Waited waited() { return {impl.stopping}; }
    void retrying() {}
  };
  PageFetchAction action = fetch.resume(PageFetchMachine::Start{});
  for (;;) {
    action = co_await perform_attempts(fetch, action, Ops{*this, source, url, auth});
    if (action.kind != PageFetchAction::Kind::renew_token) co_return;
    log.info("source {}: the platform refused the access token (401); getting a new one", source.config->name);
    auto renewed = co_await bearer_token(source, auth.token, log);
    if (auto* failed = std::get_if<TokenTrouble>(&renewed)) {
      trouble = std::move(*failed);
      co_return;
    }
    auth.token = std::get<std::string>(renewed);
    action = fetch.resume(PageFetchMachine::Renewed{});
  }
}

}  // namespace rostersync::sync
