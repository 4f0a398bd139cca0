// The daemon's side of the control socket: one request line, one reply line
// per connection (the protocol itself is daemon/control.hpp, pure). Internal
// to daemon/: its Asio includes stay in run_command.cpp and control_server.cpp.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "daemon/control.hpp"

namespace rostersync::daemon {

using ControlHandler = std::function<ControlReply(const ControlRequest&)>;

class ControlServer {
 public:
  // Binds `path` ("" = no socket), replacing a stale file left by a dead
  // process but never one a live daemon still listens on. Failing to bind is
  // a warning, not an error: SIGUSR1 still works. `handle` and `crashed`
  // must outlive the server; an exception escaping a client's coroutine sets
  // `crashed` and stops `ioc` (see stop_on_exception).
  // A client gets `client_limit` to send its request and read the reply.
  ControlServer(boost::asio::io_context& ioc, const std::string& path, const ControlHandler& handle, bool& crashed,
                std::chrono::milliseconds client_limit = std::chrono::seconds(5));
  bool listening() const { return acceptor_.has_value(); }
  // Stops accepting and removes the socket file.
  void close();

 private:
  std::optional<boost::asio::local::stream_protocol::acceptor> acceptor_;
  std::string path_;
};

}  // namespace rostersync::daemon
