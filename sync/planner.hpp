// The diff planner: which roster members become createMemberships items.
//
// Pure logic, no I/O. classify() decides per member whether it is eligible
// (and with which person key and roleType) or skipped and why. plan_page()
// applies that to one page and, given what the state database already holds
// for each (person, hierarchy) pair, decides between a new create, a resend of
// a stored id (pending), or nothing: already created, already queued in this
// run (offset paging repeated a member), parked after too many refusals, or
// refused recently and not due for another try yet.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "sync/nrps.hpp"

namespace rostersync::sync {

enum class SkipReason { inactive, test_user, no_person_key, invalid_person_key, unmapped_role, malformed, count_ };
inline constexpr std::size_t kSkipReasonCount = static_cast<std::size_t>(SkipReason::count_);

// Stable names, used as database column suffixes and in logs.
const char* to_string(SkipReason);

struct Classification {
  bool eligible = false;
  SkipReason reason = SkipReason::malformed;  // when !eligible
  std::string person_key;                     // with prefix; "" when missing
  std::string role_type;                      // when eligible
};

Classification classify(const Member& member, const config::Job& job);

// True when text is valid UTF-8 and holds only characters XML 1.0 allows.
bool is_xml_safe(std::string_view text);

// What the state database holds for one (target, hierarchy, person) pair.
enum class MembershipState { pending, created, failed };
const char* to_string(MembershipState);

struct StoredMembership {
  std::string membership_id;
  MembershipState state = MembershipState::pending;
  std::int64_t queued_run = 0;  // the last run that queued it for sending
  bool waiting = false;         // refused earlier; its next attempt is not due yet
};

struct PlannedCreate {
  std::string membership_id;
  std::string person_key;
  std::string role_type;
  bool is_new = true;  // false: a resend with the stored id
};

struct SnapshotRow {
  std::string user_id;
  std::string person_key;
  std::string roles;    // space-separated, as received
  std::string status;   // Active / Inactive / as received
  std::string outcome;  // "eligible" or a SkipReason name
};

struct PagePlan {
  std::vector<SnapshotRow> snapshot;
  std::vector<PlannedCreate> creates;
  std::array<int, kSkipReasonCount> skipped{};
  int already_present = 0;  // eligible, and created earlier (or queued in this run)
  int deferred = 0;         // eligible, but parked (failed) or waiting for its next attempt
  int members = 0;          // members on the page, malformed ones included
};

using MembershipLookup = std::function<std::optional<StoredMembership>(const std::string& person_key)>;

PagePlan plan_page(const RosterPage& page, const config::Job& job, std::int64_t run_id, const MembershipLookup& lookup);

}  // namespace rostersync::sync
