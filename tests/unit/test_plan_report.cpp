// What `rostersync plan` prints, for people and for scripts.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <sstream>

#include "daemon/plan_report.hpp"

using namespace rostersync;

namespace {

sync::JobReport report_with_changes() {
  sync::JobReport r;
  r.job = "cps435";
  r.outcome = RunOutcome::ok;
  r.stats.members_seen = 30;
  r.stats.adopted = 2;
  r.would_send = {
      {"rs:5:sis-1:h", "sis-1", "Learner", true, 0, MembershipOp::create},
      {"rs:5:sis-2:h", "sis-2", "Instructor", false, 0, MembershipOp::update, "Learner"},
      {"rs:5:sis-3:h", "sis-3", "Learner", false, 0, MembershipOp::remove, "", "departed"},
      {"rs:5:sis-4:h", "sis-4", "Learner", false, 0, MembershipOp::remove, "", "inactive"},
  };
  return r;
}

}  // namespace

TEST(PlanReport, TextNamesEveryChangeWithItsOldRoleOrReason) {
  std::ostringstream out;
  daemon::print_plan(out, {report_with_changes()}, false);
  const std::string text = out.str();
  EXPECT_NE(text.find("1 create(s), 1 update(s), 2 delete(s), 2 adopted"), std::string::npos) << text;
  EXPECT_NE(text.find("update  sis-2  Learner -> Instructor"), std::string::npos) << text;
  EXPECT_NE(text.find("delete  sis-3  departed"), std::string::npos) << text;
  EXPECT_NE(text.find("delete  sis-4  inactive"), std::string::npos) << text;
  EXPECT_EQ(text.find("guard:"), std::string::npos) << "nothing held, no guard line";
}

TEST(PlanReport, LongListsAreCutAndAHeldGuardIsNamed) {
  sync::JobReport r = report_with_changes();
  for (int i = 0; i < 30; ++i) r.would_send.push_back({"id-" + std::to_string(i), "p", "Learner", true, 0});
  r.removals_held = "600 deletion(s) planned, more than max_deletes (500)";
  for (int i = 0; i < 25; ++i) {
    PlannedWrite held{"rs:" + std::to_string(i), "sis-h" + std::to_string(i), "Learner", false, 0, MembershipOp::remove};
    held.reason = "departed";
    r.held_writes.push_back(held);
  }
  std::ostringstream out;
  daemon::print_plan(out, {r}, false, 20);
  EXPECT_NE(out.str().find("... and 11 more create(s)"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("guard: would hold, nothing of it sent: 600 deletion(s)"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("held delete  sis-h3  departed  [rs:3]"), std::string::npos) << "every held deletion by name";
  EXPECT_NE(out.str().find("... and 5 more held"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("rostersync approve --job cps435 --hold ID"), std::string::npos);
}

TEST(PlanReport, JsonListsEveryItemByOperation) {
  sync::JobReport r = report_with_changes();
  r.removals_held = "held";
  PlannedWrite held{"rs:9", "sis-9", "Learner", false, 0, MembershipOp::remove};
  held.reason = "departed";
  r.held_writes.push_back(held);
  std::ostringstream out;
  daemon::print_plan(out, {r}, true);
  boost::json::object doc = boost::json::parse(out.str()).as_object();
  EXPECT_TRUE(doc.at("dry_run").as_bool());
  const auto& job = doc.at("jobs").as_array().at(0).as_object();
  EXPECT_EQ(job.at("creates").as_array().size(), 1u);
  EXPECT_EQ(job.at("updates").as_array().at(0).as_object().at("old_role").as_string(), "Learner");
  EXPECT_EQ(job.at("deletes").as_array().at(1).as_object().at("reason").as_string(), "inactive");
  EXPECT_EQ(job.at("adopted").as_int64(), 2);
  EXPECT_EQ(job.at("removals_held").as_string(), "held");
  const auto& held_json = job.at("held").as_array().at(0).as_object();
  EXPECT_EQ(held_json.at("person_key").as_string(), "sis-9");
  EXPECT_EQ(held_json.at("membership_id").as_string(), "rs:9");
  EXPECT_EQ(held_json.at("reason").as_string(), "departed");
}
