// PlatformPager and the shared walk rules (RosterWalk) as a platform's NRPS
// walk uses them: the first URL built from the job, Link-given nexts taken as
// they are, and the origin rule that keeps the bearer token on the platform.
#include <gtest/gtest.h>

#include "domain/text.hpp"
#include "sync/platform/pager.hpp"

using namespace rostersync;
using namespace rostersync::sync;

namespace {

PlatformPagerSettings settings() {
  PlatformPagerSettings s;
  s.memberships_url = "https://school.instructure.com/api/lti/courses/7/names_and_roles";
  s.platform_origin = url_origin("https://school.instructure.com");
  s.page_limit = 50;
  s.max_pages = 5;
  s.max_members = 1000;
  return s;
}

RosterPage page(int members, std::optional<std::string> next) {
  RosterPage p;
  p.container_id = "https://school.instructure.com/api/lti/courses/7/names_and_roles";
  for (int i = 0; i < members; ++i) p.members.push_back({"u" + std::to_string(i), {"Learner"}});
  p.next = std::move(next);
  return p;
}

}  // namespace

TEST(PlatformPager, TheFirstUrlIsTheMembershipsUrlWithLimitRoleAndRlid) {
  EXPECT_EQ(PlatformPager(settings()).next_url(),
            "https://school.instructure.com/api/lti/courses/7/names_and_roles?limit=50");
  PlatformPagerSettings s = settings();
  s.memberships_url = "https://moodle.school.edu/mod/lti/services.php/2/memberships?type=LtiLinkMemberships&limit=10";
  s.platform_origin = url_origin("https://moodle.school.edu");
  s.role_filter = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";
  s.resource_link_id = "rl 1";
  // The URL's own parameters stay; its limit is replaced, not repeated.
  EXPECT_EQ(PlatformPager(s).next_url(),
            "https://moodle.school.edu/mod/lti/services.php/2/memberships?type=LtiLinkMemberships&limit=50"
            "&role=http://purl.imsglobal.org/vocab/lis/v2/membership%23Learner&rlid=rl%201");
}

TEST(PlatformPager, FollowsNextAsGivenUntilThereIsNone) {
  PlatformPager pager(settings());
  const std::string next = "https://school.instructure.com/api/lti/courses/7/names_and_roles?page=2&per_page=50";
  ASSERT_EQ(*pager.on_page(page(50, next)), WalkStep::more);
  EXPECT_EQ(pager.next_url(), next);
  ASSERT_EQ(*pager.on_page(page(3, std::nullopt)), WalkStep::done);
  EXPECT_EQ(pager.pages(), 2);
}

TEST(PlatformPager, ANextOnAnotherOriginIsRefusedEvenIfTheBodySaysOtherwise) {
  PlatformPager pager(settings());
  RosterPage p = page(50, "https://collector.example/steal?page=2");
  p.container_id = "https://collector.example/x";  // the body cannot widen the allowed origin
  Result<WalkStep> step = pager.on_page(p);
  ASSERT_FALSE(step.ok());
  EXPECT_EQ(step.failure().kind, FailureKind::protocol);
  EXPECT_NE(step.failure().message.find("https://collector.example:443"), std::string::npos);
  // Another port or scheme is another origin too.
  for (const char* other : {"https://school.instructure.com:8443/x?page=2", "http://school.instructure.com/x?page=2"}) {
    PlatformPager again(settings());
    EXPECT_FALSE(again.on_page(page(50, std::string(other))).ok()) << other;
  }
}

TEST(PlatformPager, ARepeatedNextAndTheCapsFailTheWalk) {
  PlatformPager loop(settings());
  const std::string next = "https://school.instructure.com/x?page=2";
  ASSERT_TRUE(loop.on_page(page(50, next)).ok());
  Result<WalkStep> again = loop.on_page(page(50, next));
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.failure().message.find("repeats"), std::string::npos);

  PlatformPager capped(settings());
  for (int i = 1; i < 5; ++i) ASSERT_TRUE(capped.on_page(page(1, next + std::to_string(i))).ok());
  Result<WalkStep> fifth = capped.on_page(page(1, next + "x"));
  ASSERT_FALSE(fifth.ok());
  EXPECT_EQ(fifth.failure().kind, FailureKind::limit);

  PlatformPagerSettings s = settings();
  s.max_members = 60;
  PlatformPager members(s);
  ASSERT_TRUE(members.on_page(page(50, next)).ok());
  EXPECT_EQ(members.on_page(page(11, std::nullopt)).failure().kind, FailureKind::limit);
}
