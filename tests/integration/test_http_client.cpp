// The HTTP client against real sockets on 127.0.0.1: keep-alive reuse, the
// response size cap, timeouts, the plain-http rule, and TLS certificate AND
// host name verification against a local TLS server with a throwaway CA.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "harness.hpp"
#include "sync/io/http_client.hpp"

using namespace rostersync;
using namespace rostersync::sync;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;

TEST(HttpClient, ReusesOneKeepAliveConnectionPerOrigin) {
  rostersync::testing::Simulator sim({"--contexts", "1", "--members", "3"});
  asio::io_context ioc;
  HttpClient client(ioc.get_executor(), {});
  int ok = 0;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 5; ++i) {
          HttpRequest request;
          request.url = sim.base() + "/_sim/state";
          auto r = co_await client.send(std::move(request));
          if (r && r->status == 200) ++ok;
        }
      },
      asio::detached);
  ioc.run();
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(client.connections_opened(), 1);
}

TEST(HttpClient, RefusesResponsesOverTheSizeCap) {
  rostersync::testing::Simulator sim({"--contexts", "1", "--members", "200"});
  config::HttpSettings s;
  s.max_response_bytes = 4096;
  auto r = blocking_request({"GET", sim.base() + "/_sim/rosters", {}, ""}, s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, FailureKind::limit);
  EXPECT_NE(r.failure().message.find("larger than 4096 bytes"), std::string::npos) << r.failure().message;
}

TEST(HttpClient, TimesOutOnAPeerThatNeverAnswers) {
  asio::io_context server_ioc;
  tcp::acceptor acceptor(server_ioc, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::socket held(server_ioc);
  std::thread server([&] { acceptor.accept(held); });  // accepts, then says nothing
  config::HttpSettings s;
  s.request_timeout = std::chrono::milliseconds(300);
  std::string url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/api/memberships?x=1";
  auto r = blocking_request({"GET", url, {}, ""}, s);
  server.join();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, FailureKind::transport);
  EXPECT_NE(r.failure().message.find("timed out"), std::string::npos) << r.failure().message;
  EXPECT_NE(r.failure().message.find(url), std::string::npos) << r.failure().message;
}

TEST(HttpClient, ConnectionRefusedIsAValueNamingTheUrl) {
  tcp::endpoint free_port;
  {
    asio::io_context ioc;
    tcp::acceptor a(ioc, {asio::ip::make_address("127.0.0.1"), 0});
    free_port = a.local_endpoint();
  }  // closed again: nothing listens there now
  auto r = blocking_request({"GET", "http://127.0.0.1:" + std::to_string(free_port.port()) + "/x", {}, ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, FailureKind::transport);
  EXPECT_NE(r.failure().message.find("cannot connect to 127.0.0.1"), std::string::npos) << r.failure().message;
}

TEST(HttpClient, PlainHttpToANonLoopbackHostIsRefusedBeforeConnecting) {
  auto r = blocking_request({"GET", "http://lms.invalid/api", {}, ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, FailureKind::config);
  EXPECT_NE(r.failure().message.find("refusing plain http"), std::string::npos);
}

namespace {

// The build tree's throwaway CA and its certificate for "localhost" only (not
// 127.0.0.1), made once by tests/support/make-test-certs.sh.
struct Certificates {
  fs::path dir = ROSTERSYNC_TEST_TLS_DIR;
};

// Serves one TLS connection with a fixed 200 answer (if the handshake succeeds).
class OneShotTlsServer {
 public:
  explicit OneShotTlsServer(const Certificates& certs, const char* certificate = "server.pem")
      : ctx_(asio::ssl::context::tls_server), acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    ctx_.use_certificate_chain_file((certs.dir / certificate).string());
    ctx_.use_private_key_file((certs.dir / "server.key").string(), asio::ssl::context::pem);
    thread_ = std::thread([this] {
      tcp::socket socket(ioc_);
      acceptor_.accept(socket);
      asio::ssl::stream<tcp::socket> tls(std::move(socket), ctx_);
      boost::system::error_code ec;
      tls.handshake(asio::ssl::stream_base::server, ec);
      if (ec) return;
      beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(tls, buf, req, ec);
      if (ec) return;
      sni_ = SSL_get_servername(tls.native_handle(), TLSEXT_NAMETYPE_host_name)
                 ? SSL_get_servername(tls.native_handle(), TLSEXT_NAMETYPE_host_name) : "";
      http::response<http::string_body> res{http::status::ok, 11};
      res.body() = "secure hello";
      res.keep_alive(false);
      res.prepare_payload();
      http::write(tls, res, ec);
      tls.shutdown(ec);
    });
  }
  ~OneShotTlsServer() { thread_.join(); }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  std::string sni() {
    thread_.join();
    thread_ = std::thread([] {});
    return sni_;
  }

 private:
  asio::io_context ioc_;
  asio::ssl::context ctx_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::string sni_;
};

}  // namespace

TEST(HttpClientTls, TrustedCertificateForTheRightNameSucceedsAndSendsSni) {
  Certificates certs;
  OneShotTlsServer server(certs);
  config::HttpSettings s;
  s.ca_file = (certs.dir / "ca.pem").string();
  auto r = blocking_request({"GET", "https://localhost:" + std::to_string(server.port()) + "/", {}, ""}, s);
  ASSERT_TRUE(r.ok()) << r.failure().message;
  EXPECT_EQ(r->body, "secure hello");
  EXPECT_EQ(server.sni(), "localhost");
}

TEST(HttpClientTls, CertificateForAnotherHostNameIsRejected) {
  Certificates certs;
  OneShotTlsServer server(certs);
  config::HttpSettings s;
  s.ca_file = (certs.dir / "ca.pem").string();
  // Same server, same trusted chain, but the certificate names only "localhost".
  auto r = blocking_request({"GET", "https://127.0.0.1:" + std::to_string(server.port()) + "/", {}, ""}, s);
  ASSERT_FALSE(r.ok());
  // Said as OpenSSL's verification result names it, with the host; and a
  // certificate error is a configuration error, not a network one.
  EXPECT_EQ(r.failure().kind, FailureKind::certificate);
  EXPECT_NE(r.failure().message.find("TLS certificate of 127.0.0.1:"), std::string::npos) << r.failure().message;
  EXPECT_NE(r.failure().message.find(": IP address mismatch"), std::string::npos) << r.failure().message;
}

TEST(HttpClientTls, ExpiredCertificateIsRejectedAndSaysSo) {
  Certificates certs;
  OneShotTlsServer server(certs, "expired.pem");
  config::HttpSettings s;
  s.ca_file = (certs.dir / "ca.pem").string();
  auto r = blocking_request({"GET", "https://localhost:" + std::to_string(server.port()) + "/", {}, ""}, s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, FailureKind::certificate);
  EXPECT_NE(r.failure().message.find("certificate has expired"), std::string::npos) << r.failure().message;
}

TEST(HttpClientTls, UntrustedCertificateIsRejected) {
  Certificates certs;
  OneShotTlsServer server(certs);
  auto r = blocking_request({"GET", "https://localhost:" + std::to_string(server.port()) + "/", {}, ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().kind, FailureKind::certificate);
  EXPECT_NE(r.failure().message.find("TLS certificate of localhost:"), std::string::npos) << r.failure().message;
  // Our CA is not in the system store: the chain ends at an unknown issuer.
  EXPECT_NE(r.failure().message.find("unable to get local issuer certificate"), std::string::npos) << r.failure().message;
}
