// The diff planner: skip reasons, and create / resend / nothing decisions.
#include <gtest/gtest.h>

#include <map>

#include "sync/imses/membership_id.hpp"
#include "sync/planning/planner.hpp"

using namespace rostersync;
using namespace rostersync::sync;

namespace {
const std::string kM = "http://purl.imsglobal.org/vocab/lis/v2/membership#";

config::Job job() {
  config::Job j;
  j.name = "cps435";
  j.hierarchy_id = "course-435";
  return j;
}

Member member(std::string uid, std::string sourcedid, std::vector<std::string> roles, bool active = true) {
  Member m;
  m.user_id = std::move(uid);
  m.lis_person_sourcedid = std::move(sourcedid);
  m.roles = std::move(roles);
  m.active = active;
  m.status = active ? "Active" : "Inactive";
  m.email = m.user_id + "@school.example";
  return m;
}

std::size_t idx(SkipReason r) { return static_cast<std::size_t>(r); }
}  // namespace

TEST(Planner, ClassifiesEverySkipReason) {
  auto j = job();
  EXPECT_TRUE(classify(member("u", "sis-1", {kM + "Learner"}), plan_options(j)).eligible);
  EXPECT_EQ(classify(member("u", "sis-1", {kM + "Learner"}, false), plan_options(j)).reason, SkipReason::inactive);
  EXPECT_EQ(classify(member("u", "sis-1", {kM + "Learner", "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"}), plan_options(j)).reason,
            SkipReason::test_user);
  EXPECT_EQ(classify(member("u", "", {kM + "Learner"}), plan_options(j)).reason, SkipReason::no_person_key);
  EXPECT_EQ(classify(member("u", "bad\x01key", {kM + "Learner"}), plan_options(j)).reason, SkipReason::invalid_person_key);
  EXPECT_EQ(classify(member("u", "bad\xff", {kM + "Learner"}), plan_options(j)).reason, SkipReason::invalid_person_key);
  EXPECT_EQ(classify(member("u", "sis-1", {"http://purl.imsglobal.org/vocab/lis/v2/institution/person#Student"}), plan_options(j)).reason,
            SkipReason::unmapped_role);
}

TEST(Planner, TestUsersAreProvisionedWhenSkippingIsOff) {
  auto j = job();
  j.skip_test_users = false;
  auto c = classify(member("u", "sis-1", {kM + "Learner", "http://purl.imsglobal.org/vocab/lti/system/person#TestUser"}), plan_options(j));
  EXPECT_TRUE(c.eligible);
}

TEST(Planner, PersonKeyFieldAndPrefixAreConfigurable) {
  auto j = job();
  auto m = member("u7", "sis-7", {kM + "Learner"});
  EXPECT_EQ(classify(m, plan_options(j)).person_key, "sis-7");
  j.person_key = config::PersonKeyField::user_id;
  j.person_key_prefix = "lms:";
  EXPECT_EQ(classify(m, plan_options(j)).person_key, "lms:u7");
  j.person_key = config::PersonKeyField::email;
  j.person_key_prefix.clear();
  EXPECT_EQ(classify(m, plan_options(j)).person_key, "u7@school.example");
}

TEST(Planner, ARoleFilterIsReappliedClientSide) {
  auto j = job();
  j.role_filter = "Instructor";
  // Moodle drops `role` from its next links: learners arrive anyway.
  EXPECT_EQ(classify(member("u", "sis-1", {kM + "Learner"}), plan_options(j)).reason, SkipReason::role_filter);
  EXPECT_TRUE(classify(member("t", "sis-2", {kM + "Instructor"}), plan_options(j)).eligible);
  EXPECT_TRUE(classify(member("ta", "sis-3", {kM + "Instructor", kM.substr(0, kM.size() - 1) + "/Instructor#TeachingAssistant"}),
                       plan_options(j)).eligible);
  j.role_filter = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner";  // the full URI form
  EXPECT_TRUE(classify(member("u", "sis-1", {"Learner"}), plan_options(j)).eligible);
  EXPECT_EQ(to_string(SkipReason::role_filter), std::string("role_filter"));
}

TEST(Planner, DecidesCreateResendOrNothing) {
  auto j = job();
  RosterPage page;
  page.members = {member("a", "sis-a", {kM + "Learner"}),      // unknown: new create
                  member("b", "sis-b", {kM + "Instructor"}),   // created before: nothing
                  member("c", "sis-c", {kM + "Learner"}),      // pending from an earlier run: resend stored id
                  member("d", "sis-d", {kM + "Learner"}),      // refused earlier, due again: resend stored id
                  member("e", "sis-e", {kM + "Learner"}),      // already queued in this run: nothing
                  member("f", "sis-f", {kM + "Learner"}),      // refused, not due yet: deferred
                  member("g", "sis-g", {kM + "Learner"}),      // parked after too many refusals: deferred
                  member("a2", "sis-a", {kM + "Learner"}),     // same person twice on the page: once
                  member("x", "", {kM + "Learner"})};
  page.malformed_members = 2;
  std::map<std::string, StoredMembership> db = {
      {"sis-b", {"id-b", MembershipState::created, 1}},
      {"sis-c", {"stored-id-c", MembershipState::pending, 1}},
      {"sis-d", {"stored-id-d", MembershipState::pending, 1, false}},
      {"sis-e", {"id-e", MembershipState::pending, 5}},
      {"sis-f", {"id-f", MembershipState::pending, 4, true}},
      {"sis-g", {"id-g", MembershipState::failed, 4}},
  };
  auto lookup = [&](const std::string& key) -> std::optional<StoredMembership> {
    auto it = db.find(key);
    if (it == db.end()) return std::nullopt;
    return it->second;
  };
  PagePlan plan = plan_page(page, plan_options(j), 5, lookup);
  ASSERT_EQ(plan.creates.size(), 3u);
  EXPECT_EQ(plan.creates[0].membership_id, membership_id("sis-a", "course-435"));
  EXPECT_TRUE(plan.creates[0].is_new);
  EXPECT_EQ(plan.creates[0].role_type, "Learner");
  EXPECT_EQ(plan.creates[1].membership_id, "stored-id-c");
  EXPECT_FALSE(plan.creates[1].is_new);
  EXPECT_EQ(plan.creates[2].membership_id, "stored-id-d");
  EXPECT_EQ(plan.already_present, 3);  // b, e, a2
  EXPECT_EQ(plan.deferred, 2);         // f, g
  EXPECT_EQ(plan.skipped[idx(SkipReason::no_person_key)], 1);
  EXPECT_EQ(plan.skipped[idx(SkipReason::malformed)], 2);
  EXPECT_EQ(plan.members, 11);
  ASSERT_EQ(plan.snapshot.size(), 9u);
  EXPECT_EQ(plan.snapshot[8].outcome, "no_person_key");
  EXPECT_EQ(plan.snapshot[0].outcome, "eligible");
  EXPECT_EQ(plan.snapshot[0].roles, kM + "Learner");
}
