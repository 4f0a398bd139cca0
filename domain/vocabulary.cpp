#include "domain/digest.hpp"

#include <cstring>
#include "domain/roster.hpp"
#include "domain/run.hpp"

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
    case MembershipState::deleted: return "deleted";
    default: return "pending";
  }
}

const char* to_string(MembershipOp op) {
  switch (op) {
    case MembershipOp::update: return "update";
    case MembershipOp::remove: return "delete";
    default: return "create";
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
  not_owned_role_differs += plan.not_owned_role_differs;
  for (const PlannedWrite& w : plan.writes) {
    if (w.op == MembershipOp::update) ++updates_planned;
    else if (w.op == MembershipOp::remove) ++deletes_planned;
    else ++creates_planned;
  }
  for (std::size_t i = 0; i < kSkipReasonCount; ++i) skipped[i] += plan.skipped[i];
}

const char* to_string(HoldScope s) {
  switch (s) {
    case HoldScope::target: return "target";
    case HoldScope::source: return "source";
    default: return "job";
  }
}
const char* to_string(HoldKind k) { return k == HoldKind::blocked ? "blocked" : "breaker"; }

std::optional<HoldScope> parse_hold_scope(std::string_view s) {
  if (s == "job") return HoldScope::job;
  if (s == "target") return HoldScope::target;
  if (s == "source") return HoldScope::source;
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

namespace rostersync {

namespace {
std::uint64_t finalise(std::uint64_t h) {  // splitmix64's finaliser
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}
}  // namespace

std::uint64_t hash64(std::string_view text, std::uint64_t seed) {
  // Eight bytes at a time: role URIs are long, and this runs for every
  // member of every page of the no-change pass.
  std::uint64_t h = seed ^ (text.size() * 0x9e3779b97f4a7c15ULL);
  std::size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, text.data() + i, 8);
    h = finalise(h ^ word);
  }
  std::uint64_t tail = 0;
  if (i < text.size()) std::memcpy(&tail, text.data() + i, text.size() - i);
  return finalise(h ^ tail ^ 0xff51afd7ed558ccdULL);
}

std::uint64_t hash_combine(std::uint64_t running, std::uint64_t value) {
  return finalise(running ^ (value + 0x9e3779b97f4a7c15ULL + (running << 6) + (running >> 2)));
}

}  // namespace rostersync

namespace rostersync {

std::string with_thousands(long long n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string describe(const PassProgress& p) {
  std::string out = "pass: " + with_thousands(p.courses_done) + " / " + with_thousands(p.courses_total) + " courses, " +
                    with_thousands(p.members) + " members, " + with_thousands(p.created) + " created";
  if (p.failed > 0) out += ", " + with_thousands(p.failed) + " refused";
  if (p.runs_not_ok > 0) out += ", " + with_thousands(p.runs_not_ok) + " run(s) not ok";
  return out;
}

}  // namespace rostersync
