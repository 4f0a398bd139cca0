#include "config/domain/roster.hpp"
#include "config/domain/run.hpp"

namespace rostersync {

const char* to_string(SkipReason r) {
  switch (r) {
    case SkipReason::inactive: return "inactive";
    case SkipReason::test_user: return "test_user";
    case SkipReason::no_person_key: return "no_person_key";
    case SkipReason::invalid_person_key: return "invalid_person_key";
    case SkipReason::unmapped_role: return "unmapped_role";
    case SkipReason::malformed: return "malformed";
    case SkipReason::role_filter: return "role_filter";
    case SkipReason::count_: break;
  }
  return "unknown";
}

const char* to_string(MembershipState s) {
  switch (s) {
    case MembershipState::created: return "created";
    case MembershipState::failed: return "failed";
    default: return "pending";
  }
}

const char* to_string(RunOutcome o) {
  switch (o) {
    case RunOutcome::ok: return "ok";
    case RunOutcome::partial: return "partial";
    case RunOutcome::failed: return "failed";
    case RunOutcome::interrupted: return "interrupted";
    default: return "running";
  }
}

int RunStats::skipped_total() const {
  int total = 0;
  for (int n : skipped) total += n;
  return total;
}

void RunStats::add_page(const PagePlan& plan) {
  members_seen += plan.members;
  already_present += plan.already_present;
  deferred += plan.deferred;
  creates_planned += static_cast<int>(plan.creates.size());
  for (std::size_t i = 0; i < kSkipReasonCount; ++i) skipped[i] += plan.skipped[i];
}

const char* to_string(HoldScope s) { return s == HoldScope::job ? "job" : "target"; }
const char* to_string(HoldKind k) { return k == HoldKind::blocked ? "blocked" : "breaker"; }

std::optional<HoldScope> parse_hold_scope(std::string_view s) {
  if (s == "job") return HoldScope::job;
  if (s == "target") return HoldScope::target;
  return std::nullopt;
}

std::optional<HoldKind> parse_hold_kind(std::string_view k) {
  if (k == "blocked") return HoldKind::blocked;
  if (k == "breaker") return HoldKind::breaker;
  return std::nullopt;
}

std::string describe(const Hold& h) {
  std::string what = h.kind == HoldKind::breaker ? "circuit breaker open for " : "blocked: ";
  return what + to_string(h.scope) + " " + h.name + ": " + h.reason;
}

}  // namespace rostersync
