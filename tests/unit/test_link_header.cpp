// The Link header parser and the `next` it finds, in every style platforms
// page NRPS with (DOMAIN.md section 3): Canvas's bare-comma list, Moodle's
// single link, relative targets, several Link lines, unquoted and multi-value
// rel, quoted parameters holding commas and semicolons.
#include <gtest/gtest.h>

#include "sync/platform/link_header.hpp"

using namespace rostersync;
using namespace rostersync::sync;

namespace {

const std::string kPage = "https://school.instructure.com/api/lti/courses/7/names_and_roles?page=2&per_page=50";

std::optional<std::string> next_of(std::vector<std::string> lines, const std::string& base = kPage) {
  Result<std::optional<std::string>> next = find_next_link(lines, base);
  EXPECT_TRUE(next.ok()) << (next.ok() ? "" : next.failure().message);
  return next.ok() ? *next : std::nullopt;
}

}  // namespace

TEST(LinkHeader, CanvasJoinsFiveLinksWithBareCommas) {
  const std::string canvas =
      "<https://school.instructure.com/api/lti/courses/7/names_and_roles?page=2&per_page=50>; rel=\"current\","
      "<https://school.instructure.com/api/lti/courses/7/names_and_roles?page=3&per_page=50>; rel=\"next\","
      "<https://school.instructure.com/api/lti/courses/7/names_and_roles?page=1&per_page=50>; rel=\"prev\","
      "<https://school.instructure.com/api/lti/courses/7/names_and_roles?page=1&per_page=50>; rel=\"first\","
      "<https://school.instructure.com/api/lti/courses/7/names_and_roles?page=9&per_page=50>; rel=\"last\"";
  std::vector<WebLink> links = parse_link_header(canvas);
  ASSERT_EQ(links.size(), 5u);
  EXPECT_TRUE(links[1].has_rel("next"));
  EXPECT_TRUE(links[4].has_rel("LAST"));
  EXPECT_EQ(next_of({canvas}), "https://school.instructure.com/api/lti/courses/7/names_and_roles?page=3&per_page=50");
  Result<std::optional<std::string>> last = find_link({canvas}, kPage, "last");
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, "https://school.instructure.com/api/lti/courses/7/names_and_roles?page=9&per_page=50");
  EXPECT_FALSE(*find_link({"<https://x.example/a>; rel=\"next\""}, kPage, "last")) << "no last: nothing";
}

TEST(LinkHeader, MoodleSendsOneNextWithItsOffset) {
  EXPECT_EQ(next_of({"<https://moodle.school.edu/mod/lti/services.php/2/memberships?from=100&limit=100>; rel=\"next\""}),
            "https://moodle.school.edu/mod/lti/services.php/2/memberships?from=100&limit=100");
}

TEST(LinkHeader, NoNextMeansTheLastPage) {
  EXPECT_EQ(next_of({"<https://lms/x?page=1>; rel=\"first\", <https://lms/x?page=1>; rel=\"last\""}), std::nullopt);
  EXPECT_EQ(next_of({}), std::nullopt);
  EXPECT_EQ(next_of({""}), std::nullopt);
}

TEST(LinkHeader, UnquotedAndSeveralRelationTypesAndAnyCase) {
  EXPECT_EQ(next_of({"<https://lms/x?page=3>; rel=next"}), "https://lms/x?page=3");
  EXPECT_EQ(next_of({"<https://lms/x?page=3>;rel=\"last NEXT\""}), "https://lms/x?page=3");
  EXPECT_EQ(next_of({"<https://lms/x?page=3> ; REL = \"Next\""}), "https://lms/x?page=3");
  // "nextpage" is another relation, not next.
  EXPECT_EQ(next_of({"<https://lms/x?page=3>; rel=\"nextpage\""}), std::nullopt);
}

TEST(LinkHeader, OnlyTheFirstRelCounts) {
  EXPECT_EQ(next_of({"<https://lms/x?page=3>; rel=\"prev\"; rel=\"next\""}), std::nullopt);
}

TEST(LinkHeader, QuotedParametersMayHoldCommasSemicolonsAndEscapes) {
  const std::string line =
      "<https://lms/x?page=1>; title=\"Page 1, \\\"first\\\"; of many\"; rel=\"first\", "
      "<https://lms/x?page=2>; rel=\"next\"; title=\"a,b\"";
  std::vector<WebLink> links = parse_link_header(line);
  ASSERT_EQ(links.size(), 2u);
  ASSERT_EQ(links[0].params.size(), 1u);
  EXPECT_EQ(links[0].params[0].first, "title");
  EXPECT_EQ(links[0].params[0].second, "Page 1, \"first\"; of many");
  EXPECT_EQ(next_of({line}), "https://lms/x?page=2");
}

TEST(LinkHeader, ATargetMayHoldCommasAndSemicolons) {
  EXPECT_EQ(next_of({"<https://lms/x?ids=1,2;3&page=2>; rel=\"next\""}), "https://lms/x?ids=1,2;3&page=2");
}

TEST(LinkHeader, RelativeTargetsResolveAgainstTheRequestUrl) {
  EXPECT_EQ(next_of({"</api/lti/courses/7/names_and_roles?page=3>; rel=\"next\""}),
            "https://school.instructure.com/api/lti/courses/7/names_and_roles?page=3");
  EXPECT_EQ(next_of({"<?page=3&per_page=50>; rel=next"}),
            "https://school.instructure.com/api/lti/courses/7/names_and_roles?page=3&per_page=50");
  EXPECT_EQ(next_of({"<names_and_roles?page=3>; rel=next"}),
            "https://school.instructure.com/api/lti/courses/7/names_and_roles?page=3");
  // A network-path reference keeps the scheme but may change the host: the
  // walk's origin rule, not the parser, refuses it.
  EXPECT_EQ(next_of({"<//elsewhere.example/x>; rel=next"}), "https://elsewhere.example/x");
}

TEST(LinkHeader, SeveralLinkLinesAreOneList) {
  EXPECT_EQ(next_of({"<https://lms/x?page=1>; rel=\"first\"", "<https://lms/x?page=4>; rel=\"next\"",
                     "<https://lms/x?page=9>; rel=\"last\""}),
            "https://lms/x?page=4");
}

TEST(LinkHeader, TheSameNextTwiceIsFineTwoDifferentOnesFail) {
  EXPECT_EQ(next_of({"<https://lms/x?page=2>; rel=next", "<https://lms/x?page=2>; rel=\"next\""}), "https://lms/x?page=2");
  Result<std::optional<std::string>> two = find_next_link({"<https://lms/x?page=2>; rel=next, <https://lms/x?page=5>; rel=next"}, kPage);
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.failure().kind, FailureKind::protocol);
  EXPECT_NE(two.failure().message.find("page=5"), std::string::npos);
}

TEST(LinkHeader, DifferencesIsNotFollowed) {
  EXPECT_EQ(next_of({"<https://lms/x?since=abc>; rel=\"differences\""}), std::nullopt);
}

TEST(LinkHeader, JunkEntriesAreSkippedAndTheRestStillRead) {
  std::vector<WebLink> links = parse_link_header("garbage; rel=next, <https://lms/x?page=2>; rel=\"next\" trailing, "
                                                 "<https://lms/x?page=7>; rel=last");
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(links[0].target, "https://lms/x?page=2");
  EXPECT_TRUE(links[0].has_rel("next"));
  EXPECT_TRUE(links[1].has_rel("last"));
  EXPECT_TRUE(parse_link_header("<https://lms/x?page=2; rel=next").empty());  // never closed
}

TEST(LinkHeader, AbsoluteTargetsAreKeptByteForByte) {
  // Percent-escapes in either case and '+' survive: the link is opaque.
  EXPECT_EQ(next_of({"<https://lms/x?tlid=a%2Fb%2fc+d&page=2>; rel=next"}), "https://lms/x?tlid=a%2Fb%2fc+d&page=2");
}

TEST(LinkHeader, ACredentialInARefusedTargetIsNotRepeated) {
  Result<std::optional<std::string>> two = find_next_link(
      {"<https://lms/x?access_token=SECRET1&page=2>; rel=next, <https://lms/x?access_token=SECRET2&page=3>; rel=next"},
      kPage);
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.failure().message.find("SECRET"), std::string::npos);
}
