// Getting a bearer token from an LTI platform's token endpoint, with
// retries, as a sans-I/O state machine (the same shape as page_fetch.hpp).
//
// `send` means: sign a fresh client assertion (a new jti every time: the
// platform refuses a replayed one) and POST it; the driver reports the
// answer, or a Failure of kind `config` when it could not sign. Transient
// failures (transport errors, 408/429/5xx, a 200 that is not a token) are
// retried with the source's back-off; configuration errors (the platform's
// invalid_client and the like, a grant without the NRPS scope, a key that
// cannot sign, a refused certificate) are never retried in a loop: the
// machine fails with hold_for() set, and the driver holds the source.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "domain/http_message.hpp"
#include "domain/result.hpp"
#include "sync/platform/token.hpp"

namespace rostersync::sync {

struct TokenFetchAction {
  enum class Kind {
    send,    // sign a new assertion and POST it
    wait,    // sleep `delay`, then resume(Waited)
    done,    // token() holds the token
    failed,  // error() says why; hold_for() is set for a configuration error
  };
  Kind kind = Kind::send;
  std::chrono::milliseconds delay{0};
};

class TokenFetchMachine {
 public:
  struct Start {};
  struct Responded {
    const Result<HttpResponse>& response;
    double unit_random = 0;
    std::chrono::system_clock::time_point now{};
    bool stopping = false;
  };
  struct Waited {
    bool stopping = false;
  };

  // `source`: the platform source (token_url, scopes, retry settings).
  explicit TokenFetchMachine(const config::Source& source) : source_(source) {}

  TokenFetchAction resume(Start);
  TokenFetchAction resume(const Responded& event);
  TokenFetchAction resume(Waited event);

  int attempts() const { return attempt_; }
  const AccessToken& token() const { return *token_; }
  const std::string& error() const { return error_; }
  std::optional<std::chrono::milliseconds> hold_for() const { return hold_for_; }
  bool stopped() const { return stopped_; }

 private:
  TokenFetchAction judge(const Responded& event);
  TokenFetchAction retry_or_fail(double unit_random, std::optional<std::chrono::milliseconds> retry_after);
  TokenFetchAction fail(bool configuration);

  const config::Source& source_;
  int attempt_ = 0;
  std::optional<AccessToken> token_;
  std::string error_;
  std::optional<std::chrono::milliseconds> hold_for_;
  bool stopped_ = false;
};

}  // namespace rostersync::sync
