// The LTIAAS pager: request URLs, exact `next` round trip, and failed walks.
#include <gtest/gtest.h>

#include <boost/url/parse.hpp>

#include "sync/ltiaas/pager.hpp"

using namespace rostersync;
using namespace rostersync::sync;

namespace {
RosterPage page_with(int members, std::optional<std::string> next) {
  RosterPage p;
  for (int i = 0; i < members; ++i) {
    Member m;
    m.user_id = "u" + std::to_string(i);
    m.roles = {"Learner"};
    p.members.push_back(std::move(m));
  }
  p.next = std::move(next);
  return p;
}
PagerSettings settings() { return {"https://school.ltiaas.com", "", "", 50, 10, 1000}; }
}  // namespace

TEST(Pager, FirstUrlCarriesLimitAndEncodedFilters) {
  LtiaasPager plain(settings());
  EXPECT_EQ(plain.next_url(), "https://school.ltiaas.com/api/memberships?limit=50");
  auto s = settings();
  s.role_filter = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";
  s.resource_link_id = "rl 1&2";
  LtiaasPager filtered(s);
  EXPECT_EQ(filtered.next_url(),
            "https://school.ltiaas.com/api/memberships?limit=50&role=http%3A%2F%2Fpurl.imsglobal.org%2Fvocab%2Flis%2Fv2%"
            "2Fmembership%23Learner&resourceLinkId=rl%201%262");
}

TEST(Pager, NextIsSentBackByteForByteAsUrlParameter) {
  LtiaasPager pager(settings());
  const std::string next = "https://lms.example.com/api/lti/courses/1/names_and_roles?tlid=a%2Fb%2fc+d&page=2&per_page=50";
  auto step = pager.on_page(page_with(50, next));
  ASSERT_TRUE(step.ok());
  EXPECT_EQ(*step, LtiaasPager::Step::more);
  auto url = boost::urls::parse_uri(pager.next_url());
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->encoded_path(), "/api/memberships");
  auto params = url->params();
  auto it = params.find("url");
  ASSERT_NE(it, params.end());
  EXPECT_EQ(std::string((*it).value), next);  // decoding gives back the exact bytes
  EXPECT_EQ(params.size(), 1u);               // nothing else is sent with url=
}

TEST(Pager, WalkEndsWhenNextIsAbsent) {
  LtiaasPager pager(settings());
  ASSERT_EQ(*pager.on_page(page_with(50, "https://lms/x?p=2")), LtiaasPager::Step::more);
  ASSERT_EQ(*pager.on_page(page_with(10, std::nullopt)), LtiaasPager::Step::done);
  EXPECT_EQ(pager.pages(), 2);
  EXPECT_EQ(pager.members(), 60);
}

TEST(Pager, RepeatedNextIsAFailedWalk) {
  LtiaasPager pager(settings());
  ASSERT_TRUE(pager.on_page(page_with(5, "https://lms/x?p=2")).ok());
  ASSERT_TRUE(pager.on_page(page_with(5, "https://lms/x?p=3")).ok());
  auto step = pager.on_page(page_with(5, "https://lms/x?p=2"));
  ASSERT_FALSE(step.ok());
  EXPECT_EQ(step.failure().kind, FailureKind::protocol);
  EXPECT_NE(step.failure().message.find("already visited"), std::string::npos);
}

TEST(Pager, PageCapIsAFailedWalk) {
  auto s = settings();
  s.max_pages = 3;
  LtiaasPager pager(s);
  ASSERT_TRUE(pager.on_page(page_with(1, "https://lms/?p=2")).ok());
  ASSERT_TRUE(pager.on_page(page_with(1, "https://lms/?p=3")).ok());
  auto step = pager.on_page(page_with(1, "https://lms/?p=4"));
  ASSERT_FALSE(step.ok());
  EXPECT_EQ(step.failure().kind, FailureKind::limit);
  // A walk that ends exactly at the cap is complete.
  LtiaasPager exact(s);
  ASSERT_TRUE(exact.on_page(page_with(1, "https://lms/?p=2")).ok());
  ASSERT_TRUE(exact.on_page(page_with(1, "https://lms/?p=3")).ok());
  EXPECT_EQ(*exact.on_page(page_with(1, std::nullopt)), LtiaasPager::Step::done);
}

TEST(Pager, MemberCapIsAFailedWalk) {
  auto s = settings();
  s.max_members = 100;
  LtiaasPager pager(s);
  ASSERT_TRUE(pager.on_page(page_with(60, "https://lms/?p=2")).ok());
  auto step = pager.on_page(page_with(41, std::nullopt));
  ASSERT_FALSE(step.ok());
  EXPECT_EQ(step.failure().kind, FailureKind::limit);
}

TEST(Pager, NextToAnotherOriginIsAFailedWalk) {
  LtiaasPager pager({"https://school.ltiaas.com", "", "", 10, 100, 1000});
  RosterPage first = page_with(10, "https://lms.example.edu/api/lti/courses/1/names_and_roles?page=2");
  first.container_id = "https://LMS.example.edu:443/api/lti/courses/1/names_and_roles";  // same origin, spelled otherwise
  ASSERT_EQ(pager.on_page(first).value(), LtiaasPager::Step::more);
  RosterPage second = page_with(10, "https://collector.attacker.example/api/lti/courses/1/names_and_roles?page=3");
  auto step = pager.on_page(second);
  ASSERT_FALSE(step);
  EXPECT_EQ(step.failure().kind, rostersync::FailureKind::protocol);
  EXPECT_NE(step.failure().message.find("`next` points to https://collector.attacker.example:443, not to the roster's "
                                        "origin https://lms.example.edu:443"),
            std::string::npos)
      << step.failure().message;
  EXPECT_EQ(pager.next_url().find("attacker"), std::string::npos);  // never passed on to LTIAAS
}
