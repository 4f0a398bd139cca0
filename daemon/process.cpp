#include "daemon/process.hpp"

#include <spdlog/spdlog.h>

namespace rostersync::daemon {

WriterSession::WriterSession(const std::string& path) : lock(path), db(path) {
  if (int n = db.close_abandoned_runs()) spdlog::warn("marked {} run(s) left running by an earlier process as interrupted", n);
}

void begin_shutdown(int signo, sync::Engine& engine, boost::asio::steady_timer& grace_timer, config::Millis grace) {
  spdlog::info("signal {} received: stopping; requests in flight get {} ms to finish", signo, grace.count());
  engine.request_stop();
  grace_timer.expires_after(grace);
  grace_timer.async_wait([&engine](boost::system::error_code ec) {
    if (ec) return;
    spdlog::warn("shutdown grace period over: cutting off requests still in flight");
    engine.abort_in_flight();
  });
}

std::function<void(std::exception_ptr)> stop_on_exception(boost::asio::io_context& ioc, const char* what, bool& failed) {
  return [&ioc, what, &failed](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::critical("{} failed: {}; stopping", what, ex.what());
    } catch (...) {
      spdlog::critical("{} failed with an unknown exception; stopping", what);
    }
    failed = true;
    ioc.stop();
  };
}

}  // namespace rostersync::daemon
