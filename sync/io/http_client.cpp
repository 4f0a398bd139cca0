#include "sync/io/http_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>

#include <map>
#include <optional>
#include <set>

#include "domain/text.hpp"
#include "domain/version.hpp"

namespace rostersync::sync {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

// Makes OpenSSL verify that the certificate names `host` (a DNS name or an
// IP literal, with or without IPv6 brackets).
bool expect_peer_name(SSL* ssl, const std::string& host) {
  std::string bare = host.size() > 2 && host.front() == '[' && host.back() == ']' ? host.substr(1, host.size() - 2) : host;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (X509_VERIFY_PARAM_set1_ip_asc(param, bare.c_str()) == 1) return true;
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return SSL_set1_host(ssl, bare.c_str()) == 1;
}

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxIdlePerOrigin = 4;

struct Endpoint {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;  // path and query, as given
  std::string origin() const { return (tls ? "https://" : "http://") + host + ":" + port; }
};

struct Connection {
  std::string origin;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;

  beast::tcp_stream& lowest() { return plain ? *plain : beast::get_lowest_layer(*secure); }
};

}  // namespace

struct HttpClient::Impl {
  asio::any_io_executor executor;
  config::HttpSettings settings;
  // Made on first use: loading the system trust store costs about 0.1 s of
  // CPU, which a client that only speaks plain http to loopback never needs.
  std::optional<ssl::context> tls;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
  std::set<Connection*> busy;  // connecting or exchanging; abort_all() cancels their I/O
  bool aborted = false;
  int opened = 0;

  // Keeps a connection in `busy` for as long as a request uses it.
  struct BusyMark {
    std::set<Connection*>& set;
    Connection* conn;
    BusyMark(std::set<Connection*>& s, Connection* c) : set(s), conn(c) { set.insert(conn); }
    ~BusyMark() { set.erase(conn); }
    BusyMark(const BusyMark&) = delete;
    BusyMark& operator=(const BusyMark&) = delete;
  };

  void abort_all() {
    aborted = true;
    for (Connection* c : busy) c->lowest().cancel();
    for (auto& [origin, pool] : idle) pool.clear();  // keep the entries: send() holds references to them
  }

  Impl(asio::any_io_executor ex, config::HttpSettings s) : executor(std::move(ex)), settings(std::move(s)) {
    if (!settings.ca_file.empty()) tls_context();  // a bad CA file fails at start-up, not at the first request
  }

  // Throws (boost::system::system_error) only for an unreadable CA file, which
  // the constructor has already tried.
  ssl::context& tls_context() {
    if (!tls) {
      tls.emplace(ssl::context::tls_client);
      tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      tls->set_default_verify_paths();
      if (!settings.ca_file.empty()) tls->load_verify_file(settings.ca_file);
      tls->set_verify_mode(ssl::verify_peer);
    }
    return *tls;
  }

  Result<Endpoint> parse(const std::string& url) {
    // Nothing is sent to a URL whose host or port the parser reads otherwise than written.
    if (std::string problem = url_problem(url); !problem.empty()) {
      return fail(FailureKind::config, "refusing " + redact_url(url) + ": it " + problem);
    }
    auto u = boost::urls::parse_uri(url);
    if (!u) return fail(FailureKind::config, "invalid URL " + redact_url(url));
    Endpoint e;
    std::string scheme(u->scheme());
    if (scheme != "http" && scheme != "https") return fail(FailureKind::config, "unsupported scheme in " + redact_url(url));
    e.tls = scheme == "https";
    e.host = std::string(u->host_address());
    e.port = u->has_port() ? std::string(u->port()) : (e.tls ? "443" : "80");
    e.target = u->encoded_path().empty() ? "/" : std::string(u->encoded_path());
    if (u->has_query()) e.target += "?" + std::string(u->encoded_query());
    if (!e.tls && !config::is_loopback_host(e.host) && !settings.allow_insecure_http) {
      return fail(FailureKind::config, "refusing plain http to non-loopback host in " + redact_url(url));
    }
    return e;
  }

  asio::awaitable<Result<std::unique_ptr<Connection>>> connect(const Endpoint& e, const std::string& shown_url) {
    auto conn = std::make_unique<Connection>();
    conn->origin = e.origin();
    tcp::resolver resolver(executor);
    auto [rec, results] = co_await resolver.async_resolve(e.host, e.port, nothrow);
    if (rec) co_return fail(FailureKind::transport, "cannot resolve " + e.host + " for " + shown_url + ": " + rec.message());
    if (aborted) co_return fail(FailureKind::transport, "request to " + shown_url + " aborted at shutdown");

    conn->plain.emplace(executor);
    BusyMark mark(busy, conn.get());
    conn->plain->expires_after(settings.connect_timeout);
    auto [cec, ep] = co_await conn->plain->async_connect(results, nothrow);
    (void)ep;
    if (cec) {
      std::string what = cec == beast::error::timeout ? "timed out" : aborted ? "aborted at shutdown" : cec.message();
      co_return fail(FailureKind::transport, "cannot connect to " + e.host + ":" + e.port + " for " + shown_url + ": " + what);
    }
    ++opened;
    if (!e.tls) co_return std::move(conn);
    beast::tcp_stream stream(std::move(*conn->plain));
    conn->plain.reset();
    conn->secure.emplace(std::move(stream), tls_context());
    auto& s = *conn->secure;
    if (!SSL_set_tlsext_host_name(s.native_handle(), e.host.c_str())) {
      co_return fail(FailureKind::transport, "cannot set SNI for " + e.host);
    }
    // OpenSSL's own host check (not a verify callback), so that a mismatch
    // is reported as such by the verification result below.
    if (!expect_peer_name(s.native_handle(), e.host)) {
      co_return fail(FailureKind::config, "cannot set the expected TLS host name " + e.host);
    }
    beast::get_lowest_layer(s).expires_after(settings.connect_timeout);
    auto [hec] = co_await s.async_handshake(ssl::stream_base::client, nothrow);
    if (hec) {
      long verdict = SSL_get_verify_result(s.native_handle());
      if (verdict != X509_V_OK) {
        // The peer's certificate was refused: a configuration matter (wrong
        // host, expired or untrusted certificate, missing ca_file), which no
        // resend fixes. Say exactly why.
        co_return fail(FailureKind::certificate, "TLS certificate of " + e.host + ":" + e.port + " not accepted for " +
                                                     shown_url + ": " + X509_verify_cert_error_string(verdict));
      }
      co_return fail(FailureKind::transport, "TLS handshake with " + e.host + ":" + e.port + " failed for " + shown_url +
                                                 ": " + hec.message());
    }
    co_return std::move(conn);
  }

  template <typename Stream>
  asio::awaitable<Result<HttpResponse>> exchange(Stream& stream, Connection& conn, http::request<http::string_body>& req,
                                                 const std::string& shown, bool& keep_alive, bool& got_bytes) {
    conn.lowest().expires_after(settings.request_timeout);
    auto [wec, wn] = co_await http::async_write(stream, req, nothrow);
    (void)wn;
    if (wec) {
      co_return fail(FailureKind::transport, std::string(req.method_string()) + " " + shown +
                                                 ": write failed: " + (aborted ? "aborted at shutdown" : wec.message()));
    }

    http::response_parser<http::string_body> parser;
    parser.body_limit(settings.max_response_bytes);
    auto [rec, rn] = co_await http::async_read(stream, conn.buffer, parser, nothrow);
    got_bytes = rn > 0 || parser.got_some();
    std::string where = std::string(req.method_string()) + " " + shown;
    if (rec == http::error::body_limit) {
      co_return fail(FailureKind::limit, where + ": response larger than " + std::to_string(settings.max_response_bytes) + " bytes");
    }
    if (rec == beast::error::timeout) co_return fail(FailureKind::transport, where + ": timed out after " +
                                                                                  std::to_string(settings.request_timeout.count()) + " ms");
    if (rec) co_return fail(FailureKind::transport, where + ": read failed: " + (aborted ? "aborted at shutdown" : rec.message()));
    auto& res = parser.get();
    keep_alive = res.keep_alive();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    if (auto it = res.find(http::field::content_type); it != res.end()) out.content_type = std::string(it->value());
    if (auto it = res.find(http::field::retry_after); it != res.end()) out.retry_after = std::string(it->value());
    if (auto it = res.find("X-Rate-Limit-Remaining"); it != res.end()) out.rate_limit_remaining = std::string(it->value());
    for (auto [it, end] = res.equal_range(http::field::link); it != end; ++it) out.links.emplace_back(it->value());
    co_return out;
  }

  asio::awaitable<Result<HttpResponse>> send(HttpRequest request) {
    std::string shown = redact_url(request.url);
    auto endpoint = parse(request.url);
    if (!endpoint) co_return endpoint.failure();

    http::request<http::string_body> req;
    req.method_string(request.method);
    req.target(endpoint->target);
    req.version(11);
    bool default_port = endpoint->port == (endpoint->tls ? "443" : "80");
    req.set(http::field::host, default_port ? endpoint->host : endpoint->host + ":" + endpoint->port);
    req.set(http::field::user_agent, kUserAgent);
    req.keep_alive(true);
    for (const auto& [name, value] : request.headers) req.set(name, value);
    req.body() = std::move(request.body);
    req.prepare_payload();

    // A pooled connection may have been closed by the peer while idle; if it
    // fails before any response byte, try once more on a fresh connection.
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (aborted) co_return fail(FailureKind::transport, request.method + " " + shown + ": aborted at shutdown");
      std::unique_ptr<Connection> conn;
      bool reused = false;
      auto& pool = idle[endpoint->origin()];
      if (!pool.empty() && attempt == 0) {
        conn = std::move(pool.back());
        pool.pop_back();
        reused = true;
      } else {
        auto fresh = co_await connect(*endpoint, shown);
        if (!fresh) co_return fresh.failure();
        conn = std::move(fresh.value());
      }
      BusyMark mark(busy, conn.get());
      bool keep_alive = false;
      bool got_bytes = false;
      // No co_await inside ?: here: GCC 12 destroys such temporaries twice.
      std::optional<Result<HttpResponse>> outcome;
      if (conn->secure) {
        outcome.emplace(co_await exchange(*conn->secure, *conn, req, shown, keep_alive, got_bytes));
      } else {
        outcome.emplace(co_await exchange(*conn->plain, *conn, req, shown, keep_alive, got_bytes));
      }
      Result<HttpResponse>& result = *outcome;
      if (!result && reused && !got_bytes && result.failure().kind == FailureKind::transport) continue;
      if (result && keep_alive && !aborted && pool.size() < kMaxIdlePerOrigin) {
        conn->buffer.clear();
        pool.push_back(std::move(conn));
      }
      co_return std::move(result);
    }
    co_return fail(FailureKind::transport, request.method + " " + shown + ": connection failed");
  }
};

HttpClient::HttpClient(asio::any_io_executor executor, config::HttpSettings settings)
    : impl_(std::make_unique<Impl>(std::move(executor), std::move(settings))) {}

HttpClient::~HttpClient() = default;

asio::awaitable<Result<HttpResponse>> HttpClient::send(HttpRequest request) {
  co_return co_await impl_->send(std::move(request));
}

void HttpClient::abort_all() { impl_->abort_all(); }

int HttpClient::connections_opened() const { return impl_->opened; }

Result<HttpResponse> blocking_request(HttpRequest request, config::HttpSettings settings) {
  asio::io_context ioc;
  HttpClient client(ioc.get_executor(), std::move(settings));
  std::optional<Result<HttpResponse>> out;
  asio::co_spawn(
      ioc, [&]() -> asio::awaitable<void> { out.emplace(co_await client.send(std::move(request))); }, asio::detached);
  ioc.run();
  if (!out) return fail(FailureKind::transport, "request did not complete");
  return std::move(*out);
}

}  // namespace rostersync::sync
