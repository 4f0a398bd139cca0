#include "daemon/metrics_exporter.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <boost/asio/steady_timer.hpp>

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>
#include <optional>

#include "daemon/process.hpp"

namespace rostersync::daemon {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

// host:port (validated by the configuration) as an endpoint; "localhost" is 127.0.0.1.
std::optional<tcp::endpoint> endpoint_of(const std::string& listen) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) return std::nullopt;
  return tcp::endpoint(address, static_cast<unsigned short>(std::stoi(listen.substr(colon + 1))));
}

// One request, one answer, then the connection closes. A client that sends
// nothing useful is dropped after a few seconds.
asio::awaitable<void> serve_scrape(tcp::socket socket, const std::function<std::string()>& render) {
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(10));
  beast::flat_buffer buffer(8192);
  http::request_parser<http::empty_body> parser;
  parser.header_limit(8192);
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, nothrow);
  (void)n;
  if (ec) co_return;
  const auto& req = parser.get();
  http::response<http::string_body> res;
  res.version(req.version());
  res.keep_alive(false);
  std::string_view target(req.target().data(), req.target().size());
  const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
  if (get && (target == "/metrics" || target.rfind("/metrics?", 0) == 0)) {
    res.result(http::status::ok);
    res.set(http::field::content_type, kContentType);
    res.body() = render();
  } else {
    res.result(get ? http::status::not_found : http::status::method_not_allowed);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = "rostersync serves its metrics at GET /metrics\n";
  }
  res.prepare_payload();
  if (req.method() == http::verb::head) res.body().clear();
  co_await http::async_write(stream, res, nothrow);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

}  // namespace

struct MetricsServer::Impl {
  std::optional<tcp::acceptor> acceptor;
  std::function<std::string()> render;
  unsigned short port = 0;
  int active = 0;  // scrapes being served
  std::optional<asio::steady_timer> slot_freed;  // woken when a scrape ends
  bool told_out_of_descriptors = false;
};

namespace {
// Scrapes served at once: the rest wait in the listen backlog, so idle
// clients cannot take every file descriptor of the daemon.
constexpr int kMaxScrapes = 32;
}  // namespace

MetricsServer::MetricsServer(asio::io_context& ioc, const std::string& listen, std::function<std::string()> render,
                             bool& crashed)
    : impl_(std::make_unique<Impl>()) {
  impl_->render = std::move(render);
  if (listen.empty()) return;
  std::optional<tcp::endpoint> endpoint = endpoint_of(listen);
  if (!endpoint) {
    spdlog::error("metrics: cannot listen on '{}': not host:port", listen);
    return;
  }
  tcp::acceptor acceptor(ioc);
  boost::system::error_code ec;
  acceptor.open(endpoint->protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(*endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    spdlog::error("metrics: cannot listen on {}: {}; syncing goes on without the metrics endpoint", listen, ec.message());
    return;
  }
  impl_->port = acceptor.local_endpoint().port();
  impl_->acceptor.emplace(std::move(acceptor));
  const tcp::endpoint bound = impl_->acceptor->local_endpoint();
  spdlog::info("metrics: serving http://{}/metrics",
               (bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string()) + ":" +
                   std::to_string(bound.port()));
  Impl* impl = impl_.get();
  asio::co_spawn(
      ioc,
      [impl, &ioc, &crashed]() -> asio::awaitable<void> {
        impl->slot_freed.emplace(ioc);
        asio::steady_timer backoff(ioc);
        while (impl->acceptor && impl->acceptor->is_open()) {
          while (impl->active >= kMaxScrapes && impl->acceptor && impl->acceptor->is_open()) {
            impl->slot_freed->expires_at(asio::steady_timer::time_point::max());
            co_await impl->slot_freed->async_wait(nothrow);
          }
          if (!impl->acceptor || !impl->acceptor->is_open()) co_return;
          auto [accept_ec, socket] = co_await impl->acceptor->async_accept(nothrow);
          if (accept_ec == asio::error::operation_aborted || !impl->acceptor || !impl->acceptor->is_open()) co_return;
          if (accept_ec == asio::error::no_descriptors ||
              accept_ec == boost::system::errc::too_many_files_open_in_system) {
            // Out of file descriptors: accepting again at once would spin; back off, say so once.
            if (!std::exchange(impl->told_out_of_descriptors, true)) {
              spdlog::warn("metrics: cannot accept a scrape: {}; pausing the endpoint 1 s at a time until "
                           "descriptors are free", accept_ec.message());
            }
            backoff.expires_after(std::chrono::seconds(1));
            co_await backoff.async_wait(nothrow);
            continue;
          }
          if (accept_ec) continue;
          impl->told_out_of_descriptors = false;
          ++impl->active;
          asio::co_spawn(ioc, serve_scrape(std::move(socket), impl->render),
                         [impl, handler = stop_on_exception(ioc, "a metrics scrape", crashed)](std::exception_ptr e) {
                           --impl->active;
                           if (impl->slot_freed) impl->slot_freed->cancel();
                           handler(e);
                         });
        }
      },
      stop_on_exception(ioc, "the metrics endpoint", crashed));
}

MetricsServer::~MetricsServer() = default;

unsigned short MetricsServer::port() const { return impl_->acceptor ? impl_->port : 0; }

void MetricsServer::close() {
  if (!impl_->acceptor) return;
  boost::system::error_code ignored;
  impl_->acceptor->close(ignored);
  if (impl_->slot_freed) impl_->slot_freed->cancel();
}

std::string write_textfile(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path temporary = target.parent_path() / ("." + target.filename().string() + ".tmp");
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot write " + temporary.string() + ": " + std::strerror(errno);
  ::fchmod(fd, 0644);  // the unit's UMask=0077 would keep node_exporter out
  std::size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string error = "cannot write " + temporary.string() + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(temporary.c_str());
      return error;
    }
    written += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) return "cannot write " + temporary.string() + ": " + std::strerror(errno);
  if (std::rename(temporary.c_str(), target.c_str()) != 0) {
    std::string error = "cannot replace " + path + ": " + std::strerror(errno);
    ::unlink(temporary.c_str());
    return error;
  }
  return "";
}

}  // namespace rostersync::daemon
