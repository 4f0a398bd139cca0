// The control-socket protocol between `rostersync resync` and the daemon.
#include <gtest/gtest.h>

#include "daemon/control.hpp"

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
