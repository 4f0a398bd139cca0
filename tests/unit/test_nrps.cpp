// NRPS/LTIAAS page parsing: every shared fixture, both key spellings,
// numeric user ids, missing status, and bodies that must be errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sync/ltiaas/error_body.hpp"
#include "sync/ltiaas/request.hpp"
#include "sync/nrps/container.hpp"
#include "roster_page_oracle.hpp"

using namespace rostersync;
using namespace rostersync::sync;
namespace fs = std::filesystem;

namespace {
std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}
const fs::path kFixtures = fs::path(ROSTERSYNC_SHARED_DIR) / "fixtures" / "nrps";
}  // namespace

TEST(Nrps, EveryMembershipFixtureParses) {
  int parsed = 0;
  for (const auto& entry : fs::directory_iterator(kFixtures)) {
    if (entry.path().extension() != ".json" || entry.path().filename().string().find("error") != std::string::npos) continue;
    SCOPED_TRACE(entry.path().filename().string());
    auto page = parse_roster_page(read(entry.path()));
    ASSERT_TRUE(page.ok()) << page.failure().message;
    EXPECT_FALSE(page->context_id.empty());
    ASSERT_FALSE(page->members.empty());
    EXPECT_EQ(page->malformed_members, 0);
    for (const auto& m : page->members) {
      EXPECT_FALSE(m.user_id.empty());
      EXPECT_FALSE(m.roles.empty());
    }
    ++parsed;
  }
  EXPECT_GE(parsed, 5);
}

TEST(Nrps, LtiaasCamelCaseFixtureKeepsNextAndUserId) {
  auto page = parse_roster_page(read(kFixtures / "ltiaas-api-reference-example.json"));
  ASSERT_TRUE(page.ok());
  ASSERT_TRUE(page->next.has_value());
  EXPECT_EQ(*page->next, "https://lms.example.com/course/1/memberships?page=2");
  EXPECT_EQ(page->members[0].user_id, "2");
  EXPECT_EQ(page->members[0].email, "john@lms.example.com");
  EXPECT_TRUE(page->members[0].lis_person_sourcedid.empty());
}

TEST(Nrps, SnakeCaseFixtureCarriesSourcedId) {
  auto page = parse_roster_page(read(kFixtures / "canvas-api-docs-example.json"));
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->members.size(), 2u);
  EXPECT_EQ(page->members[0].lis_person_sourcedid, "1238.8763.00");
  EXPECT_EQ(page->members[1].lis_person_sourcedid, "5790.3390.11");
  EXPECT_FALSE(page->next.has_value());
}

TEST(Nrps, BothKeySpellingsGiveTheSameMember) {
  auto snake = parse_roster_page(R"({"context":{"id":"c"},"members":[{"user_id":"u1","roles":["Learner"],
      "lis_person_sourcedid":"sis-1","email":"a@b"}]})");
  auto camel = parse_roster_page(R"({"context":{"id":"c"},"members":[{"userId":"u1","roles":["Learner"],
      "lisPersonSourcedid":"sis-1","email":"a@b"}]})");
  ASSERT_TRUE(snake.ok());
  ASSERT_TRUE(camel.ok());
  EXPECT_EQ(snake->members[0].user_id, camel->members[0].user_id);
  EXPECT_EQ(snake->members[0].lis_person_sourcedid, "sis-1");
  EXPECT_EQ(camel->members[0].lis_person_sourcedid, "sis-1");
}

TEST(Nrps, NumericUserIdBecomesItsDecimalText) {
  auto page = parse_roster_page(R"({"members":[{"user_id":12345,"roles":["Learner"]},
      {"user_id":9007199254740993,"roles":["Learner"]},{"user_id":7.0,"roles":["Learner"]},
      {"user_id":1.5,"roles":["Learner"]}]})");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->members.size(), 3u);
  EXPECT_EQ(page->members[0].user_id, "12345");
  EXPECT_EQ(page->members[1].user_id, "9007199254740993");
  EXPECT_EQ(page->members[2].user_id, "7");
  EXPECT_EQ(page->malformed_members, 1);  // 1.5 is no id
}

TEST(Nrps, MissingStatusIsActiveAndInactiveIsNot) {
  auto page = parse_roster_page(R"({"members":[{"user_id":"a","roles":[]},{"user_id":"b","roles":[],"status":"Inactive"},
      {"user_id":"c","roles":[],"status":"Deleted"}]})");
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->members[0].active);
  EXPECT_FALSE(page->members[1].active);
  EXPECT_FALSE(page->members[2].active);
}

TEST(Nrps, MembersWithoutUserIdOrRolesAreCountedAsMalformed) {
  auto page = parse_roster_page(R"({"members":[{"roles":["Learner"]},{"user_id":"x"},"nonsense",{"user_id":"ok","roles":[]}]})");
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->members.size(), 1u);
  EXPECT_EQ(page->malformed_members, 3);
}

TEST(Nrps, BodiesThatAreNotContainersAreErrors) {
  for (std::string body : {"", "{}", R"({"members":null})", R"({"members":{}})", "[1,2]", "<html>502</html>", R"({"members":[],"next":5})"}) {
    SCOPED_TRACE(body);
    auto page = parse_roster_page(body);
    ASSERT_FALSE(page.ok());
    EXPECT_EQ(page.failure().kind, FailureKind::bad_response);
  }
  EXPECT_TRUE(parse_roster_page(R"({"members":[]})").ok());  // an empty roster is a valid answer
}

TEST(Nrps, LtiaasErrorEnvelopeBecomesOneReadableLine) {
  std::string text = describe_error_body(401, read(kFixtures / "ltiaas-error-401-example.json"));
  EXPECT_EQ(text, "HTTP 401: Unauthorized: INVALID_LTIK_AUTH_AUTHORIZATION_HEADER: Invalid or expired ltik.");
  EXPECT_EQ(describe_error_body(502, "<html>Bad gateway</html>"), "HTTP 502: <html>Bad gateway</html>");
  EXPECT_EQ(describe_error_body(400, R"({"status":400,"error":"Bad Request","details":{"errors":["limit must be >= 1"]}})"),
            R"(HTTP 400: Bad Request: "limit must be >= 1")");
  // Our text and LTIAAS's stay apart.
  Failure f = ltiaas_error(401, read(kFixtures / "ltiaas-error-401-example.json"));
  EXPECT_EQ(f.message, "HTTP 401");
  EXPECT_EQ(f.http_status, 401);
  EXPECT_EQ(f.peer_text, "Unauthorized: INVALID_LTIK_AUTH_AUTHORIZATION_HEADER: Invalid or expired ltik.");
  EXPECT_EQ(ltiaas_error(503, "").describe(), "HTTP 503");
}

TEST(Nrps, ErrorEnvelopeFromAHostilePeerStaysOneCleanBoundedLine) {
  // Found by fuzz_roster_page: `error` went into the line raw.
  EXPECT_EQ(describe_error_body(400, "{\"error\":\"Bad\\nforged line\\u001b[31m\x7f\"}"),
            "HTTP 400: Bad forged line [31m ");
  std::string many = R"({"error":"Bad Request","details":{"errors":[)";
  for (int i = 0; i < 1000; ++i) many += (i ? ",\"" : "\"") + std::to_string(i) + "\"";
  many += "]}}";
  std::string text = describe_error_body(400, many);
  EXPECT_EQ(text, R"(HTTP 400: Bad Request: "0": "1": "2": "3": "4" (and 995 more))");
}

TEST(LtiaasRequest, EveryAuthSchemeAsLtiaasDocumentsIt) {
  config::Source source;
  source.api_key = config::Secret("API", "/k");
  config::Job job;
  job.service_key = config::Secret("KEY", "/s");
  EXPECT_EQ(ltiaas_authorization(source, job), "SERVICE-AUTH-V1 API:KEY");
  job.auth = config::AuthScheme::ltik;
  EXPECT_EQ(ltiaas_authorization(source, job), "LTIK-AUTH-V2 API:KEY");
  job.auth = config::AuthScheme::ltik_v1;
  EXPECT_EQ(ltiaas_authorization(source, job), "LTIK-AUTH-V1 Token=KEY, Additional=Bearer API");
  HttpRequest r = roster_page_request("https://ltiaas/api/memberships?limit=5", "SERVICE-AUTH-V1 API:KEY");
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.headers, (std::vector<std::pair<std::string, std::string>>{{"Authorization", "SERVICE-AUTH-V1 API:KEY"},
                                                                         {"Accept", "application/json"}}));
}

// The streaming parser against the tree-based oracle, on every fixture and
// on bodies built to hit each rule: key spellings and their precedence,
// repeated keys, numbers and nulls where strings belong, nested values to
// skip, malformed entries, and bodies that are not containers.
TEST(Nrps, StreamingParserAgreesWithTheTreeParser) {
  std::vector<std::string> bodies;
  for (const auto& entry : fs::directory_iterator(kFixtures)) {
    if (entry.path().extension() == ".json") bodies.push_back(read(entry.path()));
  }
  const std::string m = R"("roles":["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"])";
  for (std::string member : std::vector<std::string>{
           R"({"user_id":"u1",)" + m + R"(,"status":"Active","lis_person_sourcedid":"s1","email":"a@b","name":"A"})",
           R"({"userId":"u2",)" + m + R"(,"lisPersonSourcedid":"s2"})",
           R"({"user_id":"u3","userId":"other",)" + m + "}",
           R"({"user_id":7,)" + m + "}",
           R"({"user_id":7.0,)" + m + "}",
           R"({"user_id":7.5,)" + m + "}",
           R"({"user_id":1e300,)" + m + "}",
           R"({"user_id":18446744073709551615,)" + m + "}",
           R"({"user_id":-3,)" + m + "}",
           R"({"user_id":"",)" + m + "}",
           R"({"user_id":null,"userId":"u4",)" + m + "}",
           R"({"user_id":true,)" + m + "}",
           R"({"userId":"u5",)" + m + R"(,"user_id":{"x":1}})",
           R"({"user_id":"u6","roles":"Learner"})",
           R"({"user_id":"u7","roles":[1,null,{"a":"b"},["c"],"Instructor"]})",
           R"({"user_id":"u8"})",
           R"({"user_id":"u9",)" + m + R"(,"status":"Inactive"})",
           R"({"user_id":"u10",)" + m + R"(,"status":5,"email":["x"],"name":{"n":"m"}})",
           R"({"user_id":"u11",)" + m + R"(,"lis_person_sourcedid":5,"lisPersonSourcedid":"s11"})",
           R"({"user_id":"u12",)" + m + R"(,"lis_person_sourcedid":"a","lis_person_sourcedid":"b"})",
           R"({"user_id":"u13",)" + m + R"(,"roles":[]})",
           R"({"user_id":"u14","message":[{"roles":["x"],"user_id":"no"}],)" + m + "}",
           R"({"user_id":"u\u00e9\"15",)" + m + R"(,"name":"\ud83d\ude00"})",
           R"("just a string")", "42", "null", "[]", "[{\"user_id\":\"x\"}]", "{}"}) {
    bodies.push_back(R"({"id":"https://lms/c/1","context":{"id":"c1","label":"L","title":"T"},"members":[)" + member +
                     R"(],"next":"https://lms/c/1?p=2"})");
  }
  for (std::string body : {
           std::string(R"({"members":[]})"), std::string(R"({"members":[],"next":null})"),
           std::string(R"({"members":[],"next":""})"), std::string(R"({"members":[],"next":5})"),
           std::string(R"({"members":[],"next":{"u":1}})"), std::string(R"({"members":{}})"),
           std::string(R"({"members":"none"})"), std::string(R"({"context":"c","members":[]})"),
           std::string(R"({"context":{"id":5,"label":["x"]},"members":[]})"),
           std::string(R"({"context":{"id":"a","id":"b","sub":{"id":"c"}},"members":[]})"),
           std::string(R"({"context":{"id":"a","label":"L"},"members":[],"context":{"title":"T"}})"),  // found by fuzzing
           std::string(R"({"context":{"id":"a"},"members":[],"context":"gone"})"),
           std::string(R"({"members":[{"user_id":"a","roles":[]}],"members":[]})"),
           std::string(R"({"id":"x","id":5,"members":[]})"), std::string(R"({"members":[]} trailing)"),
           std::string(R"({"members":[})"), std::string("[1,2]"), std::string("\"s\""), std::string("{\"a\":1}"),
           std::string(R"({"extra":{"members":[{"user_id":"no"}]},"members":[]})"), std::string("{\"members\":[] }  \n")}) {
    bodies.push_back(body);
  }
  for (const auto& body : bodies) {
    SCOPED_TRACE(body.substr(0, 200));
    Result<RosterPage> fast = parse_roster_page(body);
    Result<RosterPage> tree = rostersync::testing::parse_roster_page_as_tree(body);
    ASSERT_EQ(fast.ok(), tree.ok()) << (fast.ok() ? tree.failure().message : fast.failure().message);
    if (!fast.ok()) {
      EXPECT_EQ(fast.failure().message, tree.failure().message);
      continue;
    }
    EXPECT_EQ(fast->container_id, tree->container_id);
    EXPECT_EQ(fast->context_id, tree->context_id);
    EXPECT_EQ(fast->context_label, tree->context_label);
    EXPECT_EQ(fast->context_title, tree->context_title);
    EXPECT_EQ(fast->next, tree->next);
    EXPECT_EQ(fast->malformed_members, tree->malformed_members);
    ASSERT_EQ(fast->members.size(), tree->members.size());
    for (std::size_t i = 0; i < fast->members.size(); ++i) {
      const Member &a = fast->members[i], &b = tree->members[i];
      EXPECT_EQ(a.user_id, b.user_id);
      EXPECT_EQ(a.roles, b.roles);
      EXPECT_EQ(a.status, b.status);
      EXPECT_EQ(a.active, b.active);
      EXPECT_EQ(a.lis_person_sourcedid, b.lis_person_sourcedid);
      EXPECT_EQ(a.email, b.email);
      EXPECT_EQ(a.name, b.name);
    }
  }
}
