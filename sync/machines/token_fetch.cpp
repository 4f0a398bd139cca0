#include "sync/machines/token_fetch.hpp"

#include "sync/policy/retry_policy.hpp"

namespace rostersync::sync {

TokenFetchAction TokenFetchMachine::resume(Start) {
  attempt_ = 1;
  return {TokenFetchAction::Kind::send};
}

TokenFetchAction TokenFetchMachine::judge(const Responded& event) {
  if (!event.response) {
    const Failure& f = event.response.failure();
    error_ = f.describe();
    if (f.kind == FailureKind::certificate || f.kind == FailureKind::config) return fail(true);
    if (f.kind == FailureKind::limit) return fail(false);
    return retry_or_fail(event.unit_random, std::nullopt);
  }
  Result<AccessToken> token = read_token_response(*event.response, source_.scopes, source_.token_url);
  if (token) {
    token_ = std::move(token.value());
    error_.clear();
    return {TokenFetchAction::Kind::done};
  }
  error_ = "cannot get an access token: " + token.failure().describe();
  if (token.failure().kind == FailureKind::config) return fail(true);
  return retry_or_fail(event.unit_random, parse_retry_after(event.response->retry_after, event.now));
}

TokenFetchAction TokenFetchMachine::resume(const Responded& event) {
  TokenFetchAction action = judge(event);
  if (action.kind != TokenFetchAction::Kind::done && event.stopping) {
    stopped_ = true;
    hold_for_.reset();  // a stop is not the platform's verdict
    return {TokenFetchAction::Kind::failed};
  }
  return action;
}

TokenFetchAction TokenFetchMachine::resume(Waited event) {
  if (event.stopping) {
    stopped_ = true;
    return {TokenFetchAction::Kind::failed};
  }
  ++attempt_;
  return {TokenFetchAction::Kind::send};
}

TokenFetchAction TokenFetchMachine::retry_or_fail(double unit_random, std::optional<std::chrono::milliseconds> retry_after) {
  if (attempt_ >= source_.retry.max_attempts) return fail(false);
  std::optional<std::chrono::milliseconds> wait = retry_wait(source_.retry, attempt_ + 1, unit_random, retry_after);
  if (!wait) {
    error_ += " (Retry-After is longer than max_retry_delay)";
    return fail(false);
  }
  return {TokenFetchAction::Kind::wait, *wait};
}

TokenFetchAction TokenFetchMachine::fail(bool configuration) {
  if (configuration) hold_for_ = source_.retry.blocked_retry_interval;
  return {TokenFetchAction::Kind::failed};
}

}  // namespace rostersync::sync
