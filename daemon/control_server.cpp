#include "daemon/control_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffers_iterator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>

#include "daemon/process.hpp"

namespace rostersync::daemon {
namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

// Binds the control socket, replacing a stale file left by a dead process but
// never one a live daemon still listens on. Without it the daemon still runs
// (SIGUSR1 works), so failure is a warning, not an exit.
std::optional<local::acceptor> open_control_socket(asio::io_context& ioc, const std::string& path) {
  if (path.empty()) return std::nullopt;
  boost::system::error_code ec;
  local::socket probe(ioc);
  probe.connect(local::endpoint(path), ec);
  if (!ec) {
    spdlog::warn("control socket {}: another process listens on it; `rostersync resync` will not reach this daemon", path);
    return std::nullopt;
  }
  if (std::filesystem::is_socket(std::filesystem::symlink_status(path, ec))) std::filesystem::remove(path, ec);
  local::acceptor acceptor(ioc);
  acceptor.open(local::endpoint(path).protocol(), ec);
  if (!ec) acceptor.bind(local::endpoint(path), ec);
  if (!ec) acceptor.listen(8, ec);
  if (ec) {
    spdlog::warn("control socket {}: {}; `rostersync resync` will not reach this daemon (SIGUSR1 still works)", path,
                 ec.message());
    return std::nullopt;
  }
  return acceptor;
}

// One request line, one reply line. A client that sends nothing is dropped
// after a few seconds so it cannot hold the daemon's attention.
asio::awaitable<void> serve_control_client(local::socket client, const ControlHandler& handle,
                                           std::chrono::milliseconds limit) {
  // The deadline's handler may already be queued when the request ends (the
  // loop was busy when it expired: cancel() cannot recall it), and then runs
  // after this frame is gone: it holds the socket weakly, never by reference.
  auto socket_ptr = std::make_shared<local::socket>(std::move(client));
  local::socket& socket = *socket_ptr;
  asio::steady_timer deadline(socket.get_executor(), limit);
  deadline.async_wait([weak = std::weak_ptr<local::socket>(socket_ptr)](boost::system::error_code ec) {
    if (ec) return;
    if (auto alive = weak.lock()) alive->cancel();
  });
  asio::streambuf buffer(kMaxControlLine + 2);
  auto [ec, n] = co_await asio::async_read_until(socket, buffer, '\n', nothrow);
  ControlReply reply;
  if (ec) {
    reply = {false, ec == asio::error::not_found ? "request line too long" : "request not received: " + ec.message()};
  } else {
    std::string line(asio::buffers_begin(buffer.data()), asio::buffers_begin(buffer.data()) + static_cast<long>(n));
    Result<ControlRequest> request = parse_control_request(line);
    reply = request ? handle(*request) : ControlReply{false, request.failure().message};
  }
  std::string out = format_control_reply(reply);
  co_await asio::async_write(socket, asio::buffer(out), nothrow);
  deadline.cancel();
}

asio::awaitable<void> accept_control_clients(local::acceptor& acceptor, const ControlHandler& handle, bool& crashed,
                                             std::chrono::milliseconds limit) {
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(nothrow);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) continue;
    auto& ioc = static_cast<asio::io_context&>(acceptor.get_executor().context());
    asio::co_spawn(ioc, serve_control_client(std::move(socket), handle, limit),
                   stop_on_exception(ioc, "a control request", crashed));
  }
}

}  // namespace

ControlServer::ControlServer(asio::io_context& ioc, const std::string& path, const ControlHandler& handle, bool& crashed,
                             std::chrono::milliseconds client_limit)
    : acceptor_(open_control_socket(ioc, path)), path_(path) {
  if (acceptor_) {
    asio::co_spawn(ioc, accept_control_clients(*acceptor_, handle, crashed, client_limit),
                   stop_on_exception(ioc, "the control socket", crashed));
  }
}

void ControlServer::close() {
  if (!acceptor_) return;
  boost::system::error_code ignored;
  acceptor_->close(ignored);
  std::filesystem::remove(path_, ignored);
  acceptor_.reset();
}

}  // namespace rostersync::daemon
