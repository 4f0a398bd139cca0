// HTTP/1.1 client for the sources and targets, on Boost.Beast coroutines.
//
// HTTPS verifies the certificate chain (system trust store plus an optional
// CA file) AND the host name, and sends SNI. Plain http is refused unless the
// host is loopback or the peer's settings allow it. Idle connections are kept
// per origin and reused. Connect and request timeouts and a response size cap
// come from config::HttpSettings. Failures are values (Result), never
// exceptions, and their messages name the method and the (redacted) URL.
// Asio/Beast/OpenSSL headers stay in the .cpp file.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "domain/http_message.hpp"
#include "domain/result.hpp"

namespace rostersync::sync {

using rostersync::HttpRequest;
using rostersync::HttpResponse;


class HttpClient {
 public:
  HttpClient(boost::asio::any_io_executor executor, config::HttpSettings settings);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  boost::asio::awaitable<Result<HttpResponse>> send(HttpRequest request);

  // Cuts off every request in progress (they fail with "aborted") and every
  // later one: for the end of the shutdown grace period.
  void abort_all();

  // Connections opened so far (for tests of keep-alive reuse).
  int connections_opened() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs one request on a private event loop and waits for it: for tests, tools
// and the demo, never for the daemon's own work.
Result<HttpResponse> blocking_request(HttpRequest request, config::HttpSettings settings = {});

}  // namespace rostersync::sync
