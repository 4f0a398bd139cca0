#include "daemon/control.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <istream>

#include "config/config.hpp"
#include "domain/text.hpp"

namespace rostersync::daemon {
namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

std::string_view trim_line_end(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  return line;
}

}  // namespace

std::string format_control_request(const ControlRequest& request) {
  return request.job ? "resync " + *request.job + "\n" : "resync\n";
}

Result<ControlRequest> parse_control_request(std::string_view line) {
  line = trim_line_end(line);
  if (line.size() > kMaxControlLine) return fail(FailureKind::protocol, "request longer than " + std::to_string(kMaxControlLine) + " bytes");
  if (line == "resync") return ControlRequest{};
  constexpr std::string_view prefix = "resync ";
  if (line.substr(0, prefix.size()) == prefix) {
    std::string_view job = line.substr(prefix.size());
    if (!config::is_valid_job_name(job)) return fail(FailureKind::protocol, "not a job name: '" + clip_for_message(std::string(job)) + "'");
    return ControlRequest{std::string(job)};
  }
  return fail(FailureKind::protocol, "unknown request '" + clip_for_message(std::string(line)) +
                                         "' (expected 'resync' or 'resync <job>')");
}

std::string format_control_reply(const ControlReply& reply) {
  std::string text = reply.text;
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return (reply.ok ? "ok " : "error ") + text + "\n";
}

ControlReply parse_control_reply(std::string_view line) {
  line = trim_line_end(line);
  if (line.substr(0, 3) == "ok ") return {true, std::string(line.substr(3))};
  if (line.substr(0, 6) == "error ") return {false, std::string(line.substr(6))};
  return {false, "unexpected reply from the daemon: '" + clip_for_message(std::string(line)) + "'"};
}

Result<ControlReply> send_control_request(const std::string& socket_path, const ControlRequest& request,
                                          std::chrono::milliseconds timeout) {
  asio::io_context ioc;
  local::socket socket(ioc);
  boost::system::error_code ec;
  socket.connect(local::endpoint(socket_path), ec);
  if (ec) {
    return fail(FailureKind::transport, "cannot reach the daemon at " + socket_path + ": " + ec.message() +
                                            " (is `rostersync run` running with this configuration?)");
  }
  std::string out = format_control_request(request);
  asio::streambuf in(kMaxControlLine * 4);
  std::optional<Result<ControlReply>> result;
  asio::async_write(socket, asio::buffer(out), [&](boost::system::error_code wec, std::size_t) {
    if (wec) {
      result.emplace(fail(FailureKind::transport, "sending to " + socket_path + " failed: " + wec.message()));
      return;
    }
    asio::async_read_until(socket, in, '\n', [&](boost::system::error_code rec, std::size_t) {
      if (rec) {
        result.emplace(fail(FailureKind::transport, "no reply from the daemon at " + socket_path + ": " + rec.message()));
        return;
      }
      std::istream stream(&in);
      std::string line;
      std::getline(stream, line);
      result.emplace(parse_control_reply(line));
    });
  });
  ioc.run_for(timeout);
  if (!result) return fail(FailureKind::transport, "no reply from the daemon at " + socket_path + " within " +
                                                       std::to_string(timeout.count()) + " ms");
  return std::move(*result);
}

}  // namespace rostersync::daemon
