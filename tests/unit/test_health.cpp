// status --check: each rule of the monitoring verdict, from synthetic facts.
#include <gtest/gtest.h>

#include "daemon/health.hpp"

using namespace rostersync;
using namespace rostersync::daemon;
using std::chrono::minutes;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

JobHealthInput job(const std::string& name, std::optional<std::int64_t> last_ok_ago, std::int64_t first_run_ago = 86400,
                   minutes interval = minutes(30)) {
  JobHealthInput in;
  in.facts.job = name;
  if (last_ok_ago) in.facts.last_ok_unix = kNow - *last_ok_ago;
  in.facts.first_run_unix = kNow - first_run_ago;
  in.interval = interval;
  return in;
}

HealthCheck judge(const std::vector<JobHealthInput>& jobs, HealthThresholds t = {}) { return judge_health(jobs, t, kNow); }

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST(HealthCheck, JobsSyncedRecentlyAreOkWithPerfdata) {
  HealthCheck c = judge({job("a", 600), job("b", 3000)});
  EXPECT_EQ(c.state, HealthState::ok);
  EXPECT_EQ(c.line.rfind("ROSTERSYNC OK - 2 job(s) synced", 0), 0u) << c.line;
  EXPECT_TRUE(has(c.line, " | jobs=2;;;0 critical=0;;;0 warning=0;;;0 held=0;;;0")) << c.line;
}

TEST(HealthCheck, AStaleLastSuccessWarnsPastTheFirstThresholdAndIsCriticalPastTheSecond) {
  EXPECT_EQ(judge({job("a", 2 * 1800)}).state, HealthState::ok) << "exactly two intervals is not yet late";
  HealthCheck warn = judge({job("a", 2 * 1800 + 1)});
  EXPECT_EQ(warn.state, HealthState::warning);
  EXPECT_TRUE(has(warn.line, "a last success 60 min ago (> 2 intervals)")) << warn.line;
  HealthCheck crit = judge({job("a", 4 * 1800 + 1)});
  EXPECT_EQ(crit.state, HealthState::critical);
  EXPECT_TRUE(has(crit.line, "(> 4 intervals)")) << crit.line;
  EXPECT_TRUE(has(crit.line, "stale=1;;;0")) << crit.line;
  // The thresholds are the operator's; intervals are each job's own.
  EXPECT_EQ(judge({job("a", 4 * 1800 + 1)}, {5, 10}).state, HealthState::ok);
  EXPECT_EQ(judge({job("hourly", 3 * 3600, 86400, minutes(60))}).state, HealthState::warning);
}

TEST(HealthCheck, AJobThatNeverSucceededIsJudgedFromItsFirstRun) {
  EXPECT_EQ(judge({job("new", std::nullopt, 600)}).state, HealthState::ok);
  HealthCheck c = judge({job("broken", std::nullopt, 5 * 3600)});
  EXPECT_EQ(c.state, HealthState::critical);
  EXPECT_TRUE(has(c.line, "broken no success since its first run 5 h ago")) << c.line;
}

TEST(HealthCheck, AJobThatNeverRanWarns) {
  JobHealthInput never = job("fresh", std::nullopt);
  never.facts.first_run_unix.reset();
  HealthCheck c = judge({never, job("a", 60)});
  EXPECT_EQ(c.state, HealthState::warning);
  EXPECT_TRUE(has(c.line, "fresh never ran")) << c.line;
  EXPECT_TRUE(has(c.line, "never_ran=1;;;0")) << c.line;
}

TEST(HealthCheck, AHoldOrAnOpenBreakerIsCriticalEvenWhenTheLastSuccessIsRecent) {
  JobHealthInput held = job("a", 60);
  held.facts.hold = "blocked: source lms: invalid_client: unknown kid";
  held.facts.hold_shared = true;
  HealthCheck c = judge({held, job("b", 60)});
  EXPECT_EQ(c.state, HealthState::critical);
  EXPECT_TRUE(has(c.line, "1 of 2 job(s) need attention: blocked: source lms: invalid_client: unknown kid (1 job(s) "
                          "wait for it)")) << c.line;
  JobHealthInput breaker = job("c", 60);
  breaker.facts.hold = "breaker open: target its: 12 of 20 items failed";
  breaker.facts.hold_shared = true;
  breaker.facts.breaker = true;
  EXPECT_EQ(judge({breaker}).state, HealthState::critical);
}

TEST(HealthCheck, ParkedItemsAndDeletionsAwaitingApprovalWarn) {
  JobHealthInput parked = job("a", 60);
  parked.facts.parked = 3;
  HealthCheck c = judge({parked});
  EXPECT_EQ(c.state, HealthState::warning);
  EXPECT_TRUE(has(c.line, "a 3 item(s) parked")) << c.line;
  EXPECT_TRUE(has(c.line, "parked=3;;;0")) << c.line;
  JobHealthInput awaiting = job("b", 60);
  awaiting.facts.awaiting_approval = 120;
  HealthCheck d = judge({awaiting});
  EXPECT_EQ(d.state, HealthState::warning);
  EXPECT_TRUE(has(d.line, "120 deletion(s) awaiting approval")) << d.line;
}

TEST(HealthCheck, TheWorstComesFirstAndTheLineStaysOneLine) {
  std::vector<JobHealthInput> jobs;
  for (int i = 0; i < 5; ++i) {
    JobHealthInput p = job("parked-" + std::to_string(i), 60);
    p.facts.parked = 1;
    jobs.push_back(p);
  }
  JobHealthInput held = job("held", 60);
  held.facts.hold = "blocked: target its: SOAP Fault | InvalidSecurity\nsecond line";
  held.facts.hold_shared = true;
  jobs.push_back(held);
  HealthCheck c = judge(jobs);
  EXPECT_EQ(c.state, HealthState::critical);
  EXPECT_TRUE(has(c.line, "6 of 6 job(s) need attention: blocked: target its: SOAP Fault")) << c.line;
  EXPECT_TRUE(has(c.line, "and 3 more (rostersync status)")) << c.line;
  EXPECT_EQ(c.line.find('\n'), std::string::npos);
  EXPECT_EQ(std::count(c.line.begin(), c.line.end(), '|'), 1) << "only the perfdata separator: " << c.line;
}

TEST(HealthCheck, AgesReadAsAPersonSaysThem) {
  EXPECT_EQ(format_age(45), "45 s");
  EXPECT_EQ(format_age(600), "10 min");
  EXPECT_EQ(format_age(3 * 3600), "3 h");
  EXPECT_EQ(format_age(3 * 86400), "3 d");
}

TEST(HealthCheck, ARegistryThatShrankOrBrokeIsNeverOk) {
  // No job left (the registry moved away at start): not "OK - no jobs configured".
  HealthCheck none = judge_health({}, {}, kNow, {"/etc/rostersync/courses.d: cannot read the course registry: No such "
                                                 "file or directory"});
  EXPECT_EQ(none.state, HealthState::warning);
  EXPECT_NE(none.line.find("ROSTERSYNC WARNING - 0 job(s), 1 configuration problem(s): configuration: "
                           "/etc/rostersync/courses.d: cannot read"), std::string::npos) << none.line;
  EXPECT_NE(none.line.find("config_problems=1;;;0"), std::string::npos) << none.line;
  // Healthy jobs and a refused file: WARNING; a hold still comes first.
  HealthCheck refused = judge_health({job("a", 60)}, {}, kNow, {"1 course file(s) refused (x.yaml:3:1: page_limt: unknown key)"});
  EXPECT_EQ(refused.state, HealthState::warning);
  EXPECT_NE(refused.line.find("1 course file(s) refused"), std::string::npos) << refused.line;
  EXPECT_NE(refused.line.find("warning=0;;;0"), std::string::npos) << "counted apart from the jobs: " << refused.line;
  JobHealthInput held = job("b", 60);
  held.facts.hold = "blocked: target its: credentials refused";
  held.facts.hold_shared = true;
  HealthCheck both = judge_health({job("a", 60), held}, {}, kNow, {"registry change awaiting confirmation: ..."});
  EXPECT_EQ(both.state, HealthState::critical);
  EXPECT_NE(both.line.find("1 of 2 job(s) need attention, 1 configuration problem(s): blocked: target its: credentials "
                           "refused (1 job(s) wait for it)"), std::string::npos)
      << both.line;
  EXPECT_EQ(judge_health({job("a", 60)}, {}, kNow, {}).state, HealthState::ok);
}

TEST(HealthCheck, OneLinePerHeldTargetOrSourceNotOnePerJob) {
  std::vector<JobHealthInput> jobs;
  for (int i = 0; i < 50; ++i) {
    JobHealthInput j = job("course-" + std::to_string(i), 60);
    j.facts.hold = "blocked: target its: SOAP Fault: InvalidSecurity";
    j.facts.hold_shared = true;
    jobs.push_back(j);
  }
  JobHealthInput own = job("lonely", 60);
  own.facts.hold = "blocked: job lonely: HTTP 401 from LTIAAS";
  jobs.push_back(own);
  HealthCheck c = judge(jobs);
  EXPECT_EQ(c.state, HealthState::critical);
  EXPECT_TRUE(has(c.line, "51 of 51 job(s) need attention: blocked: target its: SOAP Fault: InvalidSecurity (50 job(s) "
                          "wait for it); lonely blocked: job lonely")) << c.line;
  const std::string text = c.line.substr(0, c.line.find('|'));
  std::size_t repeats = 0;
  for (std::size_t at = text.find("InvalidSecurity"); at != std::string::npos; at = text.find("InvalidSecurity", at + 1)) ++repeats;
  EXPECT_EQ(repeats, 1u) << c.line;
  EXPECT_TRUE(has(c.line, "critical=51;;;0 warning=0;;;0 held=51;;;0")) << c.line;
}
