// PageFetchMachine with synthetic events: every retry, wait, give-up and hold
// decision of one roster page fetch, without sockets.
#include <gtest/gtest.h>

#include "sync/machines/page_fetch.hpp"

using namespace rostersync;
using namespace rostersync::sync;
using Kind = PageFetchAction::Kind;
using std::chrono::milliseconds;

namespace {

const std::string kPage = R"({"id":"https://lms/ctx/1","context":{"id":"c1"},"members":[{"user_id":"u1","roles":["Learner"]}]})";

config::RetrySettings retry(int attempts = 3) {
  config::RetrySettings r;
  r.max_attempts = attempts;
  r.retry_delay = milliseconds(1000);
  r.max_retry_delay = milliseconds(60'000);
  r.blocked_retry_interval = milliseconds(3'600'000);
  return r;
}

Result<HttpResponse> reply(int status, std::string body = kPage, std::string retry_after = "") {
  return HttpResponse{status, std::move(body), "application/json", std::move(retry_after), ""};
}

Result<HttpResponse> network_error() { return fail(FailureKind::transport, "GET https://ltiaas/x: connection reset"); }

PageFetchAction respond(PageFetchMachine& m, const Result<HttpResponse>& r, double draw = 0.5, bool stopping = false) {
  return m.resume(PageFetchMachine::Responded{r, draw, std::chrono::system_clock::now(), stopping});
}

}  // namespace

TEST(PageFetch, AGoodPageIsDoneAfterOneSend) {
  PageFetchMachine m(retry(), "https://ltiaas/x");
  EXPECT_EQ(m.resume(PageFetchMachine::Start{}).kind, Kind::send);
  EXPECT_EQ(respond(m, reply(200)).kind, Kind::done);
  ASSERT_TRUE(m.page_ready());
  EXPECT_EQ(m.page().members.size(), 1u);
  EXPECT_EQ(m.attempts(), 1);
}

// A transient failure at attempt n (1..max) is followed by a jittered wait and
// a resend; after max_attempts failures the fetch fails with the last error.
class PageFetchTransient : public ::testing::TestWithParam<int> {};

TEST_P(PageFetchTransient, NetworkErrorAtEveryAttemptThenSuccessOrGiveUp) {
  const int failures = GetParam();
  PageFetchMachine m(retry(3), "https://ltiaas/x");
  ASSERT_EQ(m.resume(PageFetchMachine::Start{}).kind, Kind::send);
  for (int attempt = 1; attempt <= failures; ++attempt) {
    PageFetchAction a = respond(m, network_error(), 0.5);
    if (attempt == 3) {
      EXPECT_EQ(a.kind, Kind::failed);
      EXPECT_FALSE(m.hold_for()) << "a network error is not a configuration error";
      EXPECT_FALSE(m.stopped());
      EXPECT_NE(m.error().find("connection reset"), std::string::npos) << m.error();
      return;
    }
    ASSERT_EQ(a.kind, Kind::wait);
    // Full jitter: half of retry_delay x 2^(attempt-1) for a draw of 0.5.
    EXPECT_EQ(a.delay, milliseconds(500 << (attempt - 1)));
    ASSERT_EQ(m.resume(PageFetchMachine::Waited{false}).kind, Kind::send);
  }
  EXPECT_EQ(respond(m, reply(200)).kind, Kind::done);
  EXPECT_EQ(m.attempts(), failures + 1);
}

INSTANTIATE_TEST_SUITE_P(Attempts, PageFetchTransient, ::testing::Values(1, 2, 3),
                         [](const auto& info) { return "fails_" + std::to_string(info.param) + "_times"; });

TEST(PageFetch, ServerErrorsAndGarbledBodiesAreRetried) {
  for (auto bad : {reply(503, "busy"), reply(429, "{}", "2"), reply(200, "{\"members\": [tru"), reply(200, "")}) {
    PageFetchMachine m(retry(), "https://ltiaas/x");
    m.resume(PageFetchMachine::Start{});
    PageFetchAction a = respond(m, bad, 0.0);
    EXPECT_EQ(a.kind, Kind::wait);
  }
}

TEST(PageFetch, RetryAfterIsAFloorAndTooLongARetryAfterGivesUp) {
  PageFetchMachine m(retry(), "https://ltiaas/x");
  m.resume(PageFetchMachine::Start{});
  PageFetchAction a = respond(m, reply(429, "{}", "7"), 0.0);
  ASSERT_EQ(a.kind, Kind::wait);
  EXPECT_EQ(a.delay, milliseconds(7000));

  PageFetchMachine far(retry(), "https://ltiaas/x");
  far.resume(PageFetchMachine::Start{});
  EXPECT_EQ(respond(far, reply(503, "{}", "3600"), 0.0).kind, Kind::failed);
  EXPECT_NE(far.error().find("Retry-After is longer than max_retry_delay"), std::string::npos) << far.error();
  EXPECT_FALSE(far.hold_for());
}

TEST(PageFetch, AClientErrorIsAConfigurationErrorThatHoldsTheJob) {
  PageFetchMachine m(retry(), "https://ltiaas/x");
  m.resume(PageFetchMachine::Start{});
  PageFetchAction a = respond(m, reply(401, R"({"status":401,"error":"INVALID_SERVICE_KEY"})"));
  EXPECT_EQ(a.kind, Kind::failed);
  ASSERT_TRUE(m.hold_for());
  EXPECT_EQ(*m.hold_for(), milliseconds(3'600'000));
  EXPECT_EQ(m.error(), "GET https://ltiaas/x: HTTP 401: INVALID_SERVICE_KEY");
}

TEST(PageFetch, AThrottling403IsRetriedNotHeld) {
  // Canvas: "403 Forbidden (Rate Limit Exceeded)", or X-Rate-Limit-Remaining: 0.
  Result<HttpResponse> by_body = reply(403, "403 Forbidden (Rate Limit Exceeded)");
  Result<HttpResponse> by_header = HttpResponse{403, "{}", "application/json", "", "0"};
  for (const auto* throttled : {&by_body, &by_header}) {
    PageFetchMachine m(retry(), "https://ltiaas/x");
    m.resume(PageFetchMachine::Start{});
    EXPECT_EQ(respond(m, *throttled).kind, Kind::wait);
    EXPECT_FALSE(m.hold_for());
  }
  // A plain 403 is still a configuration error.
  PageFetchMachine denied(retry(), "https://ltiaas/x");
  denied.resume(PageFetchMachine::Start{});
  EXPECT_EQ(respond(denied, HttpResponse{403, "{\"error\":\"Forbidden\"}", "application/json", "", "12"}).kind,
            Kind::failed);
  EXPECT_TRUE(denied.hold_for());
}

TEST(PageFetch, ARefusedCertificateHoldsTheJobAtOnce) {
  PageFetchMachine m(retry(), "https://ltiaas/x");
  m.resume(PageFetchMachine::Start{});
  auto bad = fail(FailureKind::certificate, "TLS certificate of ltiaas:443 not accepted for https://ltiaas/x: certificate has expired");
  EXPECT_EQ(respond(m, bad).kind, Kind::failed);
  EXPECT_EQ(m.attempts(), 1) << "not retried";
  EXPECT_TRUE(m.hold_for());
  EXPECT_NE(m.error().find("certificate has expired"), std::string::npos);
}

TEST(PageFetch, LocalLimitsAreNotRetriedNorHeld) {
  for (auto kind : {FailureKind::limit, FailureKind::config}) {
    PageFetchMachine m(retry(), "https://ltiaas/x");
    m.resume(PageFetchMachine::Start{});
    EXPECT_EQ(respond(m, fail(kind, "response larger than 16777216 bytes")).kind, Kind::failed);
    EXPECT_FALSE(m.hold_for());
    EXPECT_EQ(m.attempts(), 1);
  }
}

TEST(PageFetch, AStopDuringAWaitOrARequestEndsTheFetchAsStopped) {
  PageFetchMachine waiting(retry(), "https://ltiaas/x");
  waiting.resume(PageFetchMachine::Start{});
  ASSERT_EQ(respond(waiting, network_error()).kind, Kind::wait);
  EXPECT_EQ(waiting.resume(PageFetchMachine::Waited{true}).kind, Kind::failed);
  EXPECT_TRUE(waiting.stopped());

  PageFetchMachine cut(retry(), "https://ltiaas/x");
  cut.resume(PageFetchMachine::Start{});
  EXPECT_EQ(respond(cut, fail(FailureKind::transport, "aborted"), 0.5, true).kind, Kind::failed);
  EXPECT_TRUE(cut.stopped());
  EXPECT_FALSE(cut.hold_for());

  // A page that did arrive still counts, stop or not.
  PageFetchMachine arrived(retry(), "https://ltiaas/x");
  arrived.resume(PageFetchMachine::Start{});
  EXPECT_EQ(respond(arrived, reply(200), 0.5, true).kind, Kind::done);
}

namespace {

PagePaging platform_paging() { return {true, true, "https://lms.example.edu/api/lti/courses/7/names_and_roles?limit=2"}; }

Result<HttpResponse> with_links(std::vector<std::string> links, std::string body = kPage) {
  HttpResponse r{200, std::move(body), "application/vnd.ims.lti-nrps.v2.membershipcontainer+json", "", ""};
  r.links = std::move(links);
  return r;
}

}  // namespace

TEST(PageFetch, APlatform401RenewsTheTokenOnceThenHoldsTheJob) {
  PageFetchMachine m(retry(), "https://lms/x", platform_paging());
  m.resume(PageFetchMachine::Start{});
  EXPECT_EQ(respond(m, reply(401, R"({"errors":[{"message":"Invalid access token."}]})")).kind, Kind::renew_token);
  ASSERT_EQ(m.resume(PageFetchMachine::Renewed{}).kind, Kind::send);
  // The new token is refused as well: that is the platform's answer, not an expiry.
  EXPECT_EQ(respond(m, reply(401, R"({"errors":[{"message":"Invalid access token."}]})")).kind, Kind::failed);
  EXPECT_TRUE(m.hold_for().has_value());
  EXPECT_NE(m.error().find("Invalid access token."), std::string::npos);

  PageFetchMachine renewed(retry(), "https://lms/x", platform_paging());
  renewed.resume(PageFetchMachine::Start{});
  ASSERT_EQ(respond(renewed, reply(401, "")).kind, Kind::renew_token);
  ASSERT_EQ(renewed.resume(PageFetchMachine::Renewed{}).kind, Kind::send);
  EXPECT_EQ(respond(renewed, with_links({})).kind, Kind::done);
}

TEST(PageFetch, AnLtiaas401IsAConfigurationErrorAtOnce) {
  PageFetchMachine m(retry(), "https://ltiaas/x");
  m.resume(PageFetchMachine::Start{});
  EXPECT_EQ(respond(m, reply(401, R"({"status":401,"error":"Unauthorized"})")).kind, Kind::failed);
  EXPECT_TRUE(m.hold_for().has_value());
}

TEST(PageFetch, LinkPagingTakesNextFromTheHeaderResolvedAndIgnoresTheBody) {
  const std::string body_with_next =
      R"({"id":"https://lms/ctx/1","context":{"id":"c1"},"members":[],"next":"https://elsewhere/x"})";
  PageFetchMachine m(retry(), "https://lms/x", platform_paging());
  m.resume(PageFetchMachine::Start{});
  ASSERT_EQ(respond(m, with_links({"<?limit=2&page=2>; rel=next"}, body_with_next)).kind, Kind::done);
  EXPECT_EQ(m.page().next, "https://lms.example.edu/api/lti/courses/7/names_and_roles?limit=2&page=2");

  PageFetchMachine last(retry(), "https://lms/x", platform_paging());
  last.resume(PageFetchMachine::Start{});
  ASSERT_EQ(respond(last, with_links({"<https://lms.example.edu/x?page=1>; rel=first"}, body_with_next)).kind, Kind::done);
  EXPECT_EQ(last.page().next, std::nullopt);
}

TEST(PageFetch, ConflictingNextLinksFailThePageWithoutARetry) {
  PageFetchMachine m(retry(), "https://lms/x", platform_paging());
  m.resume(PageFetchMachine::Start{});
  EXPECT_EQ(respond(m, with_links({"<https://lms.example.edu/a>; rel=next", "<https://lms.example.edu/b>; rel=next"})).kind,
            Kind::failed);
  EXPECT_EQ(m.attempts(), 1);
  EXPECT_FALSE(m.hold_for().has_value());
  EXPECT_NE(m.error().find("two different"), std::string::npos);
}
