// The control-socket protocol between `rostersync resync` and the daemon.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <thread>

#include "daemon/control.hpp"
#include "daemon/control_server.hpp"

using namespace rostersync::daemon;

TEST(ControlProtocol, RequestsRoundTrip) {
  auto all = parse_control_request(format_control_request(ControlRequest{}));
  ASSERT_TRUE(all);
  EXPECT_FALSE(all->job.has_value());
  auto one = parse_control_request(format_control_request(ControlRequest{"cps435.fall-2026"}));
  ASSERT_TRUE(one);
  EXPECT_EQ(one->job, "cps435.fall-2026");
  EXPECT_TRUE(parse_control_request("resync cps435\r\n"));  // a CRLF client (socat, nc) is fine
}

TEST(ControlProtocol, RefusesWhatIsNotARequestAndSaysWhy) {
  auto unknown = parse_control_request("stop\n");
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.failure().message.find("unknown request 'stop'"), std::string::npos);
  auto bad_job = parse_control_request("resync a b\n");
  ASSERT_FALSE(bad_job);
  EXPECT_NE(bad_job.failure().message.find("not a job name: 'a b'"), std::string::npos);
  EXPECT_FALSE(parse_control_request("resync \n"));
  EXPECT_FALSE(parse_control_request("resync x\x1b[2J\n"));  // terminal escapes never reach the log
  EXPECT_FALSE(parse_control_request("resync " + std::string(kMaxControlLine, 'a') + "\n"));
}

TEST(ControlProtocol, RepliesKeepToOneLine) {
  std::string line = format_control_reply({false, "no job named 'x'\nin /etc/rostersync/rostersync.yaml"});
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  ControlReply back = parse_control_reply(line);
  EXPECT_FALSE(back.ok);
  EXPECT_EQ(back.text, "no job named 'x' in /etc/rostersync/rostersync.yaml");
  EXPECT_TRUE(parse_control_reply(format_control_reply({true, "resync of every job queued"})).ok);
  ControlReply garbage = parse_control_reply("HTTP/1.1 400 Bad Request\n");
  EXPECT_FALSE(garbage.ok);
  EXPECT_NE(garbage.text.find("unexpected reply"), std::string::npos);
}

// A request whose handling keeps the event loop busy past the client's
// deadline: the deadline's handler is queued before the request ends and runs
// after the request's coroutine is gone. It must touch nothing of it (a
// use-after-free that crashed the daemon; the sanitizer build sees it).
TEST(ControlServer, ADeadlineThatFiresWhileTheLoopIsBusyTouchesNothingOfAFinishedRequest) {
  namespace fs = std::filesystem;
  boost::asio::io_context ioc;
  const fs::path socket_path = fs::temp_directory_path() / ("rs-control-" + std::to_string(::getpid()) + ".sock");
  bool crashed = false;
  int served = 0;
  ControlHandler busy = [&](const ControlRequest&) {
    // The loop is busy (a store call waiting on a lock): well past the 20 ms limit.
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(150);
    while (std::chrono::steady_clock::now() < until) {
    }
    ++served;
    return ControlReply{true, "queued"};
  };
  ControlServer server(ioc, socket_path.string(), busy, crashed, std::chrono::milliseconds(20));
  ASSERT_TRUE(server.listening());
  std::optional<rostersync::Result<ControlReply>> reply;
  std::atomic<bool> answered{false};
  std::thread client([&] {
    reply = send_control_request(socket_path.string(), ControlRequest{}, std::chrono::seconds(10));
    answered = true;
  });
  while (served == 0 || !answered) ioc.run_one_for(std::chrono::milliseconds(50));
  client.join();
  ioc.poll();  // whatever the request left queued runs now
  server.close();
  ioc.poll();
  EXPECT_FALSE(crashed);
  ASSERT_TRUE(reply && *reply);
  EXPECT_TRUE((*reply)->ok);
}
