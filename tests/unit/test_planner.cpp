// The diff planner: skip reasons, and create / resend / nothing decisions.
#include <gtest/gtest.h>

#include <map>

#include "sync/imses/membership_id.hpp"
#include "domain/digest.hpp"
#include "sync/planning/planner.hpp"
#include "domain/run.hpp"

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
      {"sis-b", {"id-b", MembershipState::created, 1, false, 0, "Instructor"}},
      {"sis-c", {"stored-id-c", MembershipState::pending, 1}},
      {"sis-d", {"stored-id-d", MembershipState::pending, 1, false}},
      {"sis-e", {"id-e", MembershipState::pending, 5}},
      {"sis-f", {"id-f", MembershipState::pending, 4, true}},
      {"sis-g", {"id-g", MembershipState::failed, 4}},
  };
  int lookups = 0;
  auto lookup = [&](const std::vector<std::string>& keys) {
    ++lookups;
    std::vector<std::optional<StoredMembership>> out;
    for (const auto& key : keys) {
      auto it = db.find(key);
      out.push_back(it == db.end() ? std::nullopt : std::optional(it->second));
    }
    return out;
  };
  PagePlan plan = plan_page(page, plan_options(j), 5, lookup);
  EXPECT_EQ(lookups, 1);  // one batched lookup per page
  EXPECT_FALSE(plan.settled);
  ASSERT_EQ(plan.writes.size(), 3u);
  EXPECT_EQ(plan.writes[0].membership_id, membership_id("sis-a", "course-435"));
  EXPECT_TRUE(plan.writes[0].is_new);
  EXPECT_EQ(plan.writes[0].role_type, "Learner");
  EXPECT_EQ(plan.writes[1].membership_id, "stored-id-c");
  EXPECT_FALSE(plan.writes[1].is_new);
  EXPECT_EQ(plan.writes[2].membership_id, "stored-id-d");
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

namespace {
RosterPage settled_page_of(int n) {
  RosterPage page;
  for (int i = 0; i < n; ++i) {
    Member m;
    m.user_id = "u" + std::to_string(i);
    m.lis_person_sourcedid = "sis-" + std::to_string(i);
    m.roles = {"http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"};
    page.members.push_back(m);
  }
  return page;
}

MembershipLookup all_in_state(MembershipState state, std::int64_t queued_run = 1) {
  return [=](const std::vector<std::string>& keys) {
    return std::vector<std::optional<StoredMembership>>(keys.size(), StoredMembership{"id", state, queued_run, false, 0, "Learner"});
  };
}
}  // namespace

TEST(Planner, APageIsSettledOnlyWhenEveryEligibleMembershipIsConfirmedCreated) {
  config::Job j;
  j.hierarchy_id = "h";
  RosterPage page = settled_page_of(3);
  EXPECT_TRUE(plan_page(page, plan_options(j), 5, all_in_state(MembershipState::created)).settled);
  // Queued earlier in this run: present, but not confirmed yet.
  PagePlan queued = plan_page(page, plan_options(j), 5, all_in_state(MembershipState::pending, 5));
  EXPECT_EQ(queued.already_present, 3);
  EXPECT_FALSE(queued.settled);
  EXPECT_FALSE(plan_page(page, plan_options(j), 5, all_in_state(MembershipState::pending)).settled);
  EXPECT_FALSE(plan_page(page, plan_options(j), 5, all_in_state(MembershipState::failed)).settled);
  auto nothing = [](const std::vector<std::string>& keys) { return std::vector<std::optional<StoredMembership>>(keys.size()); };
  EXPECT_FALSE(plan_page(page, plan_options(j), 5, nothing).settled);
}

TEST(Planner, PageDigestChangesWithAnythingPlanningReads) {
  config::Job j;
  j.hierarchy_id = "h";
  const std::uint64_t opts = options_digest(plan_options(j), "its");
  RosterPage page = settled_page_of(3);
  const std::uint64_t base = page_digest(page, opts);
  EXPECT_EQ(page_digest(settled_page_of(3), opts), base);

  auto changed = [&](auto edit) {
    RosterPage p = settled_page_of(3);
    edit(p);
    return page_digest(p, opts);
  };
  EXPECT_NE(changed([](RosterPage& p) { p.members[1].roles.push_back("Instructor"); }), base);
  EXPECT_NE(changed([](RosterPage& p) { p.members[1].status = "Inactive"; }), base);
  EXPECT_NE(changed([](RosterPage& p) { p.members[1].active = false; }), base);
  EXPECT_NE(changed([](RosterPage& p) { p.members[2].lis_person_sourcedid = "other"; }), base);
  EXPECT_NE(changed([](RosterPage& p) { p.members[2].email = "a@b"; }), base);
  EXPECT_NE(changed([](RosterPage& p) { p.members[0].user_id = "x"; }), base);
  EXPECT_NE(changed([](RosterPage& p) { std::swap(p.members[0], p.members[1]); }), base);
  EXPECT_NE(changed([](RosterPage& p) { p.members.pop_back(); }), base);
  EXPECT_NE(changed([](RosterPage& p) { p.malformed_members = 1; }), base);

  auto with = [&](auto edit, const std::string& target = "its") {
    config::Job k = j;
    edit(k);
    return page_digest(page, options_digest(plan_options(k), target));
  };
  EXPECT_EQ(with([](config::Job&) {}), base);
  EXPECT_NE(with([](config::Job&) {}, "other-target"), base);
  EXPECT_NE(with([](config::Job& k) { k.hierarchy_id = "h2"; }), base);
  EXPECT_NE(with([](config::Job& k) { k.person_key_prefix = "sis:"; }), base);
  EXPECT_NE(with([](config::Job& k) { k.person_key = config::PersonKeyField::email; }), base);
  EXPECT_NE(with([](config::Job& k) { k.role_map.pop_back(); }), base);
  EXPECT_NE(with([](config::Job& k) { k.skip_test_users = false; }), base);
  EXPECT_NE(with([](config::Job& k) { k.role_filter = "Learner"; }), base);
}

TEST(MemberSetDigest, EqualForTheSameMembersInAnyOrderAndDifferentOtherwise) {
  MemberSetDigest a, b, c, d;
  for (const char* id : {"u1", "u2", "u3"}) a.add(id);
  for (const char* id : {"u3", "u1", "u2"}) b.add(id);
  EXPECT_EQ(a, b);
  for (const char* id : {"u1", "u2"}) c.add(id);
  EXPECT_NE(a, c);  // one left
  for (const char* id : {"u1", "u1", "u3"}) d.add(id);
  EXPECT_NE(a, d);  // one repeated, one missing: same count, different sum
}

TEST(Planner, AHierarchyTemplateIsFilledFromTheRostersContext) {
  RosterPage page;
  page.context_id = "ctx-9";
  page.context_label = "CPS435";
  EXPECT_EQ(*resolve_hierarchy("2026-{context.label}", page), "2026-CPS435");
  EXPECT_EQ(*resolve_hierarchy("{context.id}/{context.label}", page), "ctx-9/CPS435");
  EXPECT_EQ(*resolve_hierarchy("plain-id", page), "plain-id");
  Result<std::string> missing = resolve_hierarchy("{context.title}", page);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.failure().message.find("the roster's context has no title"), std::string::npos) << missing.failure().message;
  page.context_label = std::string(300, 'x');
  EXPECT_FALSE(resolve_hierarchy("{context.label}", page));
  page.context_label = "bad\x01";
  EXPECT_FALSE(resolve_hierarchy("{context.label}", page));
}

namespace {
MembershipLookup stored_as(std::map<std::string, StoredMembership> db) {
  return [db](const std::vector<std::string>& keys) {
    std::vector<std::optional<StoredMembership>> out;
    for (const auto& key : keys) {
      auto it = db.find(key);
      out.push_back(it == db.end() ? std::nullopt : std::optional(it->second));
    }
    return out;
  };
}
}  // namespace

TEST(Planner, ARoleChangeUpdatesTheStoredMembershipUnderItsId) {
  RosterPage page;
  page.members = {member("a", "sis-a", {kM + "Instructor"}), member("b", "sis-b", {kM + "Learner"})};
  auto lookup = stored_as({{"sis-a", {"id-a", MembershipState::created, 1, false, 0, "Learner"}},
                           {"sis-b", {"id-b", MembershipState::created, 1, false, 0, "Learner"}}});
  PagePlan plan = plan_page(page, plan_options(job()), 5, lookup);
  ASSERT_EQ(plan.writes.size(), 1u);
  EXPECT_EQ(plan.writes[0].op, MembershipOp::update);
  EXPECT_EQ(plan.writes[0].membership_id, "id-a");
  EXPECT_EQ(plan.writes[0].old_role, "Learner");
  EXPECT_EQ(plan.writes[0].role_type, "Instructor");
  EXPECT_FALSE(plan.writes[0].is_new);
  EXPECT_EQ(plan.already_present, 1);
  EXPECT_FALSE(plan.settled);
  RunStats stats;
  stats.add_page(plan);
  EXPECT_EQ(stats.updates_planned, 1);
  EXPECT_EQ(stats.creates_planned, 0);
}

TEST(Planner, APendingUpdateIsResentAsAnUpdateAndADeletedMembershipIsCreatedAgain) {
  RosterPage page;
  page.members = {member("a", "sis-a", {kM + "Instructor"}), member("b", "sis-b", {kM + "Learner"}),
                  member("c", "sis-c", {kM + "Learner"})};
  auto lookup = stored_as({{"sis-a", {"id-a", MembershipState::pending, 1, false, 0, "Instructor", MembershipOp::update}},
                           {"sis-b", {"id-b", MembershipState::deleted, 1, false, 0, "Learner", MembershipOp::remove}},
                           {"sis-c", {"id-c", MembershipState::pending, 1, false, 0, "Learner", MembershipOp::remove}}});
  PagePlan plan = plan_page(page, plan_options(job()), 5, lookup);
  ASSERT_EQ(plan.writes.size(), 3u);
  EXPECT_EQ(plan.writes[0].op, MembershipOp::update);
  EXPECT_EQ(plan.writes[0].old_role, "");  // the role it is given is the one already stored
  EXPECT_EQ(plan.writes[1].op, MembershipOp::create);
  EXPECT_EQ(plan.writes[1].membership_id, "id-b");  // the same id: one membership per pair, ever
  EXPECT_EQ(plan.writes[2].op, MembershipOp::create);  // back while its delete was pending
  EXPECT_EQ(plan.writes[2].membership_id, "id-c");
}

TEST(Planner, AParkedOrWaitingUpdateIsDeferredLikeACreate) {
  RosterPage page;
  page.members = {member("a", "sis-a", {kM + "Instructor"}), member("b", "sis-b", {kM + "Instructor"})};
  auto lookup = stored_as({{"sis-a", {"id-a", MembershipState::failed, 1, false, 5, "Instructor", MembershipOp::update}},
                           {"sis-b", {"id-b", MembershipState::pending, 1, true, 1, "Instructor", MembershipOp::update}}});
  PagePlan plan = plan_page(page, plan_options(job()), 5, lookup);
  EXPECT_TRUE(plan.writes.empty());
  EXPECT_EQ(plan.deferred, 2);
}
