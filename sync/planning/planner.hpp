// The diff planner: which roster members become createMemberships or
// updateMemberships items.
//
// Pure logic, no I/O. classify() decides per member whether it is eligible
// (and with which person key and roleType) or skipped and why. plan_page()
// applies that to one page and, given what the state database already holds
// for each (person, hierarchy) pair, decides between a new create, a resend of
// a stored id (pending), an update (created, but its mapped role changed:
// the stored id gets the new role; the group's role when several jobs list
// the person, see group_role()), or nothing: already created, already queued in this
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
#include "domain/result.hpp"
#include "domain/roster.hpp"

namespace rostersync::sync {

struct Classification {
  bool eligible = false;
  SkipReason reason = SkipReason::malformed;  // when !eligible
  std::string person_key;                     // with prefix; "" when missing
  std::string role_type;                      // when eligible
};

// What planning needs of a job: which field is the person key, the roles
// that map to roleTypes, and the hierarchy the memberships go into.
struct PlanOptions {
  config::PersonKeyField person_key = config::PersonKeyField::lis_person_sourcedid;
  std::string person_key_prefix;  // prepended to the person key
  std::vector<config::RoleRule> role_map = config::default_role_map();
  bool skip_test_users = true;
  std::string hierarchy_id;
  std::string role_filter;  // "" = everyone; else only members holding a matching role
  // The group's own_adopted now (every job feeding it says so): adopted
  // memberships are rostersync's to update only then.
  bool own_adopted = false;
};
PlanOptions plan_options(const config::Job& job);

// The hierarchy a job's memberships go to: its hierarchy_id, or that
// template filled in from the roster's first page ({context.id},
// {context.label}, {context.title}). Fails, naming the placeholder, when
// the roster lacks the value or the result is no usable itslearning id.
Result<std::string> resolve_hierarchy(const std::string& hierarchy_id, const RosterPage& first_page);

Classification classify(const Member& member, const PlanOptions& options);

// The member's person key with the job's prefix, "" when the member has none.
std::string person_key(const Member& member, const PlanOptions& options);

// What the state database holds for each person key asked, in the same
// order (nullopt: nothing). Called once per page, so the store answers a
// page's members with one query instead of one per member.
using MembershipLookup =
    std::function<std::vector<std::optional<StoredMembership>>(const std::vector<std::string>& person_keys)>;

// Plans one page. `lookup` tells what the state database holds per person key;
// `run_id` is the current run (a membership it already queued is not queued twice).
PagePlan plan_page(const RosterPage& page, const PlanOptions& options, std::int64_t run_id,
                   const MembershipLookup& lookup);

// A digest of everything planning reads: the options (and the target the
// memberships go to) and, per member, the fields classify() looks at. Two
// pages with equal digests plan alike; a page found settled once and
// unchanged since needs no per-member work (the engine's no-change pass).
std::uint64_t options_digest(const PlanOptions& options, const std::string& target);
std::uint64_t page_digest(const RosterPage& page, std::uint64_t options_digest);

}  // namespace rostersync::sync
