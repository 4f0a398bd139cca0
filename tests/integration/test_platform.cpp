// Rosters read straight from an LMS (a source of kind lti_platform), with
// the real binary and the simulator's platform side over loopback: the
// token endpoint checks every client assertion with the registered public
// key, and NRPS pages by Link headers. The decisions (Link parsing, token
// answers, the cache, the renew-once rule) are unit-tested; these show they
// are wired to the wire.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <tuple>

#include "harness.hpp"
#include "sync/platform/client_assertion.hpp"

using namespace rostersync::testing;
using namespace std::chrono_literals;

namespace {

boost::json::object platform_state(const Simulator& sim) {
  boost::json::object state = sim.state();
  return state.at("platform").as_object();
}

long long platform_count(const Simulator& sim, const char* what) {
  return platform_state(sim).at(what).to_number<long long>();
}

}  // namespace

class PlatformLinkStyle : public ::testing::TestWithParam<std::string> {};

// Three courses of 120, paged 50 at a time (Canvas's cap when the job asks
// for 100): exactly the expected memberships, one token for all three jobs.
TEST_P(PlatformLinkStyle, ASyncCreatesExactlyTheExpectedMemberships) {
  Simulator sim({"--contexts", "3", "--members", "120", "--mix", "--link-style", GetParam()});
  Workspace ws;
  ws.configure_platform(sim, course_jobs(3, "    page_limit: " + std::string(GetParam() == "canvas" ? "100" : "50") + "\n"));
  auto [rc, out] = ws.rostersync_output({"sync"}, true);
  ASSERT_EQ(rc, 0) << out;
  expect_exact_state(sim, ws, 3);
  EXPECT_EQ(platform_count(sim, "tokens_issued"), 1) << "the token is shared by every job of the platform";
  EXPECT_EQ(platform_count(sim, "nrps_unauthorized"), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE outcome='ok' AND pages=3"), 3) << out;
  // A second sync changes nothing.
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  expect_exact_state(sim, ws, 3);
}

INSTANTIATE_TEST_SUITE_P(Styles, PlatformLinkStyle, ::testing::Values("canvas", "moodle", "relative", "split"),
                         [](const auto& info) { return info.param; });

// Moodle drops `role` from its next links: the later pages list everyone,
// and only the local filter keeps the instructors out.
TEST(PlatformSource, ARoleFilterHoldsOnEveryPageEvenWhenTheNextLinkDropsIt) {
  Simulator sim({"--contexts", "1", "--members", "40", "--link-style", "moodle"});
  Workspace ws;
  ws.configure_platform(sim, course_jobs(1, "    page_limit: 10\n    role_filter: Instructor\n"));
  auto [rc, out] = ws.rostersync_output({"sync"}, true);
  ASSERT_EQ(rc, 0) << out;
  // The generated roster has two instructors (one also a TA), the rest learners.
  std::set<std::tuple<std::string, std::string, std::string>> got = sim_memberships(sim);
  ASSERT_EQ(got.size(), 2u) << out;
  for (const auto& [group, person, role] : got) EXPECT_NE(role, "Learner") << person;
}

// A walk longer than the token's life: the token is renewed shortly before
// it expires, between two pages, not after the platform refused a page.
TEST(PlatformSource, ATokenIsRenewedBeforeItExpires) {
  Simulator sim({"--contexts", "1", "--members", "300", "--token-lifetime", "2", "--ltiaas-latency-ms", "100"});
  Workspace ws;
  ws.configure_platform(sim, course_jobs(1, "    page_limit: 10\n"));
  auto [rc, out] = ws.rostersync_output({"sync"}, true);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE outcome='ok' AND pages=30"), 1) << out;
  EXPECT_GE(platform_count(sim, "tokens_issued"), 2) << "30 pages of 100 ms outlive a 2 s token";
  EXPECT_EQ(platform_count(sim, "nrps_unauthorized"), 0) << "a page was refused with an expired token: " << out;
}

// The daemon keeps its token across runs; when the platform stops taking it
// (expired early, revoked) the page is refused once, a new token is fetched
// once, and the run goes on.
TEST(PlatformSource, AnExpiredTokenIsReplacedOnce) {
  Simulator sim({"--contexts", "1", "--members", "30"});
  Workspace ws;
  ws.configure_platform(sim, course_jobs(1, "    page_limit: 10\n    interval: 1h\n"));
  rostersync::daemon::ChildProcess daemon({ROSTERSYNC_BIN, "--config", ws.config_path(), "run"}, false);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", 1, 30s));
  EXPECT_EQ(platform_count(sim, "tokens_issued"), 1);
  sim.post("/_sim/platform", R"({"expire_tokens": true})");
  sim.post("/_sim/rosters/course-1-key/members",
           R"([{"user_id":"late-1","roles":["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"],"lis_person_sourcedid":"sis-late-1"}])");
  ASSERT_EQ(ws.rostersync({"resync"}), 0);
  ASSERT_TRUE(wait_for_count(ws, "SELECT count(*) FROM run WHERE outcome='ok'", 2, 30s));
  EXPECT_EQ(platform_count(sim, "nrps_unauthorized"), 1);
  EXPECT_EQ(platform_count(sim, "tokens_issued"), 2);
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE person_key='sis-late-1' AND state='created'"), 1);
  daemon.signal(SIGTERM);
  EXPECT_EQ(daemon.wait(30s), 0);
}

// The platform has another public key for the tool: the token endpoint says
// invalid_client. One request, no retry loop, the source held with the
// platform's own words, and no roster page asked for without a token.
TEST(PlatformSource, AWrongKeyIsAReadableHeldError) {
  Simulator sim({"--contexts", "2", "--members", "10"});
  Workspace ws;
  ws.configure_platform(sim, course_jobs(2));
  rostersync::sync::GeneratedKey other = rostersync::sync::generate_rsa_key(2048);
  sim.post("/_sim/platform", boost::json::serialize(boost::json::object{{"public_key_pem", other.public_pem}}));
  auto [rc, out] = ws.rostersync_output({"sync"}, true);
  EXPECT_NE(rc, 0) << out;
  EXPECT_TRUE(has(out, "invalid_client: client assertion signature does not verify with the registered public key")) << out;
  EXPECT_TRUE(has(out, "blocked: source lms")) << out;
  EXPECT_EQ(platform_count(sim, "token_requests"), 1) << "a refused client is never asked again in a loop";
  EXPECT_EQ(platform_count(sim, "nrps_requests"), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM hold WHERE scope='source' AND name='lms'"), 1);
  auto [status_rc, status] = ws.rostersync_output({"status", "--wide"});
  EXPECT_TRUE(has(status, "invalid_client")) << status;
  // The other job was held by the same answer, not sent to ask again.
  EXPECT_EQ(ws.count("SELECT count(*) FROM run WHERE outcome='failed'"), 2);
}

// A Link next to another origin is data from the network: the walk stops
// there, and nothing (least of all the token) is sent to it.
TEST(PlatformSource, AForeignOriginNextGetsNoToken) {
  Simulator sim({"--contexts", "1", "--members", "30"});
  Workspace ws;
  ws.configure_platform(sim, course_jobs(1, "    page_limit: 10\n"));
  sim.post("/_sim/faults", R"({"rules":[{"endpoint":"roster","kinds":["next_other_origin"],"on_request":1}]})");
  auto [rc, out] = ws.rostersync_output({"sync"}, true);
  EXPECT_NE(rc, 0) << out;
  EXPECT_TRUE(has(out, "refusing to follow it")) << out;
  EXPECT_TRUE(has(out, "http://localhost:")) << out;
  EXPECT_EQ(platform_count(sim, "foreign_origin_requests"), 0);
  EXPECT_EQ(platform_count(sim, "nrps_requests"), 1);
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE op='delete'"), 0);
}

// Tokens and assertions are secrets: not in the output at the most verbose
// level, not in the state database.
TEST(PlatformSource, NeitherTokenNorAssertionIsEverLoggedOrStored) {
  Simulator sim({"--contexts", "1", "--members", "30"});
  Workspace ws;
  ws.configure_platform(sim, course_jobs(1, "    page_limit: 10\n"));
  auto [rc, out] = ws.rostersync_output({"--log-level", "trace", "sync"}, true);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_FALSE(has(out, "sim-token-")) << out;
  EXPECT_FALSE(has(out, "eyJ")) << out;  // the start of every base64url JSON header
  std::ifstream db(ws.db(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(db)), {});
  EXPECT_FALSE(has(bytes, "sim-token-"));
  EXPECT_FALSE(has(bytes, "eyJ"));
}

// Offset paging is no snapshot: a student who joins mid-walk shifts the
// roster, and the next page starts with the previous page's last member.
// That member counts once; the newcomer is seen by the next walk.
TEST(PlatformSource, AMemberRepeatedByOffsetPagingCountsOnce) {
  Simulator sim({"--contexts", "1", "--members", "30", "--link-style", "moodle"});
  Workspace ws;
  ws.configure_platform(sim, course_jobs(1, "    page_limit: 10\n"));
  sim.post("/_sim/faults", R"({"rules":[{"endpoint":"roster","kinds":["shift_roster"],"on_request":2}]})");
  auto [rc, out] = ws.rostersync_output({"sync"}, true);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_TRUE(has(out, "1 member(s) came twice in this walk")) << out;
  EXPECT_EQ(ws.count("SELECT members_seen FROM run"), 30) << out;
  EXPECT_EQ(ws.count("SELECT count(*) FROM roster_member"), 30);
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership"), 30);
  EXPECT_EQ(ws.count("SELECT count(*) FROM roster_member WHERE user_id='joined-mid-walk'"), 0);
  ASSERT_EQ(ws.rostersync({"sync"}), 0);
  EXPECT_EQ(ws.count("SELECT count(*) FROM membership WHERE person_key='sis-joined-mid-walk' AND state='created'"), 1);
}
