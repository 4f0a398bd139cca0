// systemd's notification protocol (sd_notify) for the daemon: readiness,
// status text, reload and stop announcements, and watchdog pings. Without
// NOTIFY_SOCKET (not under systemd) every call does nothing.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace rostersync::daemon {

class Notifier {
 public:
  void ready() const { send("READY=1"); }
  void status(const std::string& text) const { send("STATUS=" + text); }
  // RELOADING=1 with the CLOCK_MONOTONIC time, as systemd 253+ expects (252 ignores it).
  void reloading() const;
  void stopping() const { send("STOPPING=1"); }
  void watchdog() const { send("WATCHDOG=1"); }

  // Half of WATCHDOG_USEC when systemd asks for pings for this process.
  static std::optional<std::chrono::microseconds> watchdog_interval();

 private:
  void send(const std::string& message) const;
};

}  // namespace rostersync::daemon
