// RunMachine with replayed event sequences: a whole run of a job (token,
// pages, group read, planning, drain, the group decision), a failure at
// every step, stops, holds and an offset walk that moved, without sockets.
#include <gtest/gtest.h>

#include "sync/ltiaas/pager.hpp"
#include "sync/machines/run.hpp"

using namespace rostersync;
using namespace rostersync::sync;
using Kind = RunAction::Kind;
using Event = RunMachine::Event;

namespace {

RosterPage page(std::vector<std::string> users, std::optional<std::string> next, std::string label = "CPS435") {
  RosterPage p;
  p.container_id = "https://lms.example.edu/api/lti/courses/1/names_and_roles";
  p.context_id = "ctx-1";
  p.context_label = std::move(label);
  for (auto& u : users) {
    Member m;
    m.user_id = u;
    m.lis_person_sourcedid = "sis-" + u;
    m.roles = {"http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"};
    p.members.push_back(std::move(m));
  }
  p.next = std::move(next);
  return p;
}

std::string next_url(int n) { return "https://lms.example.edu/api/lti/courses/1/names_and_roles?page=" + std::to_string(n); }

RunMachine machine(std::string hierarchy = "h-1", bool platform = false) {
  RunSettings s;
  s.bearer_token = platform;
  s.filter_locally = platform;
  s.plan.hierarchy_id = std::move(hierarchy);
  return RunMachine(s, std::make_unique<LtiaasPager>(PagerSettings{"https://ltiaas.example.com", "", "", 2, 10, 100}));
}

Event got(RosterPage p) {
  Event e;
  e.page = std::move(p);
  return e;
}

Event failed(std::string why) {
  Event e;
  e.error = std::move(why);
  return e;
}

// Replays a whole run; `on` decides each action's result. Returns the actions in order.
std::vector<Kind> replay(RunMachine& m, const std::function<Event(const RunAction&)>& on) {
  std::vector<Kind> kinds;
  RunAction a = m.resume({});
  for (int guard = 0; a.kind != Kind::finish && guard < 100; ++guard) {
    kinds.push_back(a.kind);
    a = m.resume(on(a));
  }
  kinds.push_back(a.kind);
  return kinds;
}

// Three pages of two members; `fail_at` fails that step (1-based count of fetches) with a network error.
std::function<Event(const RunAction&)> three_pages(int fail_fetch = 0) {
  return [fail_fetch](const RunAction& a) -> Event {
    if (a.kind != Kind::fetch_page) return {};
    if (a.page_number == fail_fetch) return failed("GET ...: connection reset");
    if (a.page_number == 1) return got(page({"u1", "u2"}, next_url(2)));
    if (a.page_number == 2) return got(page({"u3", "u4"}, next_url(3)));
    return got(page({"u5"}, std::nullopt));
  };
}

}  // namespace

TEST(RunMachine, ACompleteWalkPlansEveryPageThenDrainsThenDecidesTheGroup) {
  RunMachine m = machine();
  std::vector<Kind> kinds = replay(m, three_pages());
  EXPECT_EQ(kinds, (std::vector<Kind>{Kind::fetch_page, Kind::read_group, Kind::plan_page, Kind::wait_for_room,
                                      Kind::fetch_page, Kind::plan_page, Kind::wait_for_room, Kind::fetch_page,
                                      Kind::plan_page, Kind::drain, Kind::settle_group, Kind::drain, Kind::finish}));
  EXPECT_TRUE(m.walk_complete());
  EXPECT_EQ(m.walk_error(), "");
  EXPECT_EQ(m.seen().size(), 5u);
  EXPECT_EQ(m.pages(), 3);
}

TEST(RunMachine, ANetworkErrorAtEveryPageFailsTheWalkNamingThePageAndDecidesNothing) {
  for (int at = 1; at <= 3; ++at) {
    RunMachine m = machine();
    std::vector<Kind> kinds = replay(m, three_pages(at));
    EXPECT_FALSE(m.walk_complete()) << at;
    EXPECT_EQ(m.walk_error(), "roster walk failed at page " + std::to_string(at) + ": GET ...: connection reset");
    EXPECT_EQ(std::count(kinds.begin(), kinds.end(), Kind::settle_group), 0) << "nothing decided on absence";
    EXPECT_EQ(kinds.back(), Kind::finish);
    EXPECT_EQ(kinds[kinds.size() - 2], Kind::drain) << "the writes already queued are still drained";
  }
}

TEST(RunMachine, AFailureOfEveryOtherStepEndsTheWalkWithoutADecision) {
  for (Kind failing : {Kind::read_group, Kind::plan_page, Kind::wait_for_room}) {
    RunMachine m = machine();
    bool failed_once = false;
    RunAction a = m.resume({});
    std::vector<Kind> kinds;
    while (a.kind != Kind::finish) {
      kinds.push_back(a.kind);
      if (a.kind == failing && !failed_once) {
        failed_once = true;
        a = failing == Kind::read_group ? m.resume(failed("readMembershipsForGroup failed: HTTP 500"))
                                        : m.fail("database is locked");  // the store threw under the action
        continue;
      }
      a = m.resume(three_pages()(a));
    }
    EXPECT_FALSE(m.walk_complete());
    EXPECT_NE(m.walk_error(), "");
    EXPECT_EQ(std::count(kinds.begin(), kinds.end(), Kind::settle_group), 0);
    if (failing == Kind::read_group) {
      EXPECT_EQ(std::count(kinds.begin(), kinds.end(), Kind::plan_page), 0) << "nothing planned into an unread group";
      EXPECT_EQ(m.walk_error(), "roster walk stopped before planning: readMembershipsForGroup failed: HTTP 500");
    }
  }
  // The group decision itself fails: the removals already queued are drained, the run fails.
  RunMachine m = machine();
  RunAction a = m.resume({});
  while (a.kind != Kind::settle_group) a = m.resume(three_pages()(a));
  a = m.fail("disk I/O error");
  EXPECT_EQ(a.kind, Kind::drain);
  EXPECT_EQ(m.resume({}).kind, Kind::finish);
  EXPECT_EQ(m.walk_error(), "deciding the group's state failed: disk I/O error");
}

TEST(RunMachine, AConfigurationErrorHoldsTheJobAndTheErrorSaysSo) {
  RunMachine m = machine();
  RunAction a = m.resume({});
  ASSERT_EQ(a.kind, Kind::fetch_page);
  Event refused = failed("HTTP 401: INVALID_SERVICE_KEY");
  refused.hold_for = std::chrono::hours(1);
  a = m.resume(refused);
  ASSERT_EQ(a.kind, Kind::hold_job);
  EXPECT_EQ(a.hold_for, std::chrono::hours(1));
  EXPECT_EQ(a.error, "roster walk failed at page 1: HTTP 401: INVALID_SERVICE_KEY");
  a = m.resume(failed("blocked until 12:00: job j: HTTP 401"));
  EXPECT_EQ(a.kind, Kind::drain);
  EXPECT_TRUE(a.walk_read);
  EXPECT_EQ(m.resume({}).kind, Kind::finish);
  EXPECT_EQ(m.walk_error(), "blocked until 12:00: job j: HTTP 401");
}

TEST(RunMachine, AStopAtEveryStepFetchesNothingMoreAndDecidesNothing) {
  for (int stop_after = 1; stop_after <= 9; ++stop_after) {
    RunMachine m = machine();
    RunAction a = m.resume({});
    int steps = 0;
    std::vector<Kind> after_stop;
    bool stopped = false;
    while (a.kind != Kind::finish) {
      Event e = three_pages()(a);
      if (++steps >= stop_after) {
        stopped = true;
        e.stopping = true;
      }
      if (stopped) after_stop.push_back(a.kind);
      a = m.resume(std::move(e));
    }
    // A page already received may still be planned (committed); nothing new is fetched
    // and no departure is decided after a stop.
    for (std::size_t i = 1; i < after_stop.size(); ++i) {
      EXPECT_NE(after_stop[i], Kind::fetch_page) << "stop after " << stop_after;
      EXPECT_NE(after_stop[i], Kind::settle_group) << "stop after " << stop_after;
      EXPECT_NE(after_stop[i], Kind::wait_for_room) << "stop after " << stop_after;
    }
  }
}

TEST(RunMachine, AStopDuringTheGroupReadPlansNothing) {
  RunMachine m = machine();
  RunAction a = m.resume({});
  a = m.resume(got(page({"u1"}, std::nullopt)));
  ASSERT_EQ(a.kind, Kind::read_group);
  Event stop;
  stop.stopping = true;
  a = m.resume(stop);
  EXPECT_EQ(a.kind, Kind::drain);
  EXPECT_FALSE(m.walk_complete());
}

TEST(RunMachine, APlatformGetsATokenFirstAndATokenItCannotGetFailsTheWalk) {
  RunMachine m = machine("h-1", true);
  RunAction a = m.resume({});
  ASSERT_EQ(a.kind, Kind::get_token);
  a = m.resume(failed("blocked until 12:00: source canvas: invalid_client"));
  EXPECT_EQ(a.kind, Kind::drain);
  EXPECT_EQ(m.resume({}).kind, Kind::finish);
  EXPECT_EQ(m.walk_error(), "blocked until 12:00: source canvas: invalid_client");
}

TEST(RunMachine, MembersOffsetPagingRepeatsAreCountedOnceAndMarkTheWalk) {
  RunMachine m = machine();
  RunAction a = m.resume({});
  a = m.resume(got(page({"u1", "u2"}, next_url(2))));
  a = m.resume({});  // group read
  ASSERT_EQ(a.kind, Kind::plan_page);
  a = m.resume({});
  a = m.resume({});  // room
  ASSERT_EQ(a.kind, Kind::fetch_page);
  a = m.resume(got(page({"u2", "u3"}, std::nullopt)));  // someone joined: u2 shifted onto page 2
  ASSERT_EQ(a.kind, Kind::plan_page);
  EXPECT_TRUE(a.walk_read);
  ASSERT_EQ(m.page().members.size(), 1u);
  EXPECT_EQ(m.page().members[0].user_id, "u3");
  EXPECT_EQ(m.repeated_members(), 1);
  EXPECT_EQ(m.seen().size(), 3u);
}

TEST(RunMachine, AHierarchyTemplateIsFilledFromTheFirstPageOrFailsTheWalk) {
  RunMachine m = machine("2026-{context.label}");
  RunAction a = m.resume({});
  a = m.resume(got(page({"u1"}, std::nullopt)));
  ASSERT_EQ(a.kind, Kind::use_hierarchy);
  EXPECT_EQ(a.hierarchy_id, "2026-CPS435");
  EXPECT_TRUE(a.walk_read);
  EXPECT_EQ(m.resume({}).kind, Kind::read_group);

  RunMachine bad = machine("2026-{context.label}");
  a = bad.resume({});
  a = bad.resume(got(page({"u1"}, std::nullopt, "")));
  EXPECT_EQ(a.kind, Kind::drain);
  EXPECT_NE(bad.walk_error().find("the roster's context has no"), std::string::npos) << bad.walk_error();
}

TEST(RunMachine, ATargetThatStopsTakingWritesEndsTheWalkAtTheNextPage) {
  RunMachine m = machine();
  RunAction a = m.resume({});
  a = m.resume(got(page({"u1", "u2"}, next_url(2))));
  a = m.resume({});
  a = m.resume({});  // planned
  ASSERT_EQ(a.kind, Kind::wait_for_room);
  Event held;
  held.target_stopped = true;
  a = m.resume(held);
  EXPECT_EQ(a.kind, Kind::drain);
  EXPECT_FALSE(m.walk_complete());
}

TEST(RunMachine, ALastLinkThatMovesBetweenPagesMarksTheWalkAsMoved) {
  for (bool moves : {false, true}) {
    RunMachine m = machine();
    RunAction a = m.resume({});
    RosterPage p1 = page({"u1", "u2"}, next_url(2));
    p1.last = "https://lms.example.edu/api/lti/courses/1/names_and_roles?page=3";
    a = m.resume(got(p1));
    a = m.resume({});  // group read
    a = m.resume({});  // planned
    a = m.resume({});  // room
    ASSERT_EQ(a.kind, Kind::fetch_page);
    RosterPage p2 = page({"u3"}, std::nullopt);
    // A member left during the walk: the platform now ends at page 2.
    p2.last = moves ? "https://lms.example.edu/api/lti/courses/1/names_and_roles?page=2" : *p1.last;
    m.resume(got(p2));
    EXPECT_EQ(m.moved(), moves);
    EXPECT_EQ(m.repeated_members(), 0);
  }
}
