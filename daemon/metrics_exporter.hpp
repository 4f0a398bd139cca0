// Where the daemon's metrics go (README "Metrics and alerting"): GET
// /metrics on a loopback address, and/or a *.prom file for node_exporter's
// textfile collector. Internal to daemon/: its Asio and Beast includes stay
// in metrics_exporter.cpp and run_command.cpp.
#pragma once

#include <boost/asio/io_context.hpp>

#include <functional>
#include <memory>
#include <string>

namespace rostersync::daemon {

class MetricsServer {
 public:
  // Listens on `listen` ("" = not at all; else host:port on loopback,
  // checked by the config) and
  // answers GET /metrics with render(). Failing to bind is logged at error
  // and leaves the server closed (port() == 0): syncing goes on. `render`
  // and `crashed` must outlive the server; an exception escaping a
  // connection's coroutine sets `crashed` and stops `ioc`.
  MetricsServer(boost::asio::io_context& ioc, const std::string& listen, std::function<std::string()> render,
                bool& crashed);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port listened on (the one picked, for port 0); 0 when not listening.
  unsigned short port() const;
  // Stops accepting.
  void close();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Replaces `path` with `text` atomically: a hidden temporary file in the
// same directory (node_exporter reads only *.prom), then rename(2), so a
// scrape never sees half a file. Returns "" or what went wrong.
std::string write_textfile(const std::string& path, const std::string& text);

}  // namespace rostersync::daemon
