// One desired state per group: what a group (target, hierarchy) should hold
// is the union of what every job feeding it lists; these pure functions
// decide, from that union, who leaves, which role wins, what rostersync
// owns, whether a walk may count at all, and whether a guard must hold the
// deletions or restores for a person to approve.
//
// itslearning's truth is one membership per (person, group), whatever the
// number of jobs, runs or processes that touch it: no decision here looks
// at one job's walk alone. No I/O, no clock: the engine feeds them what the
// state database holds (GroupRow, Listing) and the configuration in force.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "domain/group.hpp"

namespace rostersync::sync {

struct RemovalLimits {
  int max_deletes = 500;        // per group and run (also bounds restores)
  int max_delete_percent = 20;  // of the group's owned, confirmed memberships
};

// A job that feeds the group, as the configuration in force describes it.
// A job that is no longer configured still counts through its listings:
// what its last walk listed stays (it cannot walk again to say otherwise),
// until `rostersync forget` drops it.
struct FeedingJob {
  std::string name;
  bool configured = true;
  bool remove_departed = false;
  bool remove_inactive = true;
  int grace_walks = 2;  // departure_grace
  bool own_adopted = false;
  RemovalLimits limits;
};

// The group's rules, from every configured job feeding it: the strictest
// wins, so that no job's setting is overridden by another's.
struct GroupPolicy {
  bool remove = false;       // every configured feeding job has remove_departed
  bool own_adopted = false;  // every configured feeding job has own_adopted
  RemovalLimits limits;      // the lowest of each limit
};
GroupPolicy group_policy(const std::vector<FeedingJob>& jobs);

// rostersync owns a membership it created, or one it adopted while the
// configuration in force says own_adopted. Only owned memberships are ever
// written to (update, delete, restore).
bool owned_now(const GroupRow& row, bool own_adopted);
// itslearning confirmed the membership exists (created, or a later update
// or delete of it not answered yet).
bool confirmed(const GroupRow& row);

// When jobs of one group map a person to different roles, the role that
// ranks first wins: Administrator, Instructor, TeachingAssistant,
// ContentDeveloper, Manager, Mentor, Member, Learner, then any other
// roleType in alphabetical order. Independent of the order jobs run in.
int role_rank(std::string_view role_type);
// The group's role for a person: `own` (this job's mapped role) and
// `others` (space-separated roles other jobs list), the first-ranking one.
std::string group_role(std::string_view own, std::string_view others);

// Whether a complete walk may count towards anyone's departure.
enum class WalkTrust {
  counts,      // a complete walk of a roster that held still
  empty_held,  // it listed nobody where the group holds owned memberships: held until approve or reject
  moved,       // the roster visibly moved under the walk (offset paging repeated a member): counts for nobody
};
struct WalkFacts {
  int persons_listed = 0;     // members with a usable person key the walk listed (skipped ones too)
  int owned_in_group = 0;     // owned, confirmed memberships of the group before the walk
  int repeated_members = 0;   // members offset paging listed twice
  bool empty_accepted = false;  // an operator approved this job's empty roster
};
WalkTrust judge_walk(const WalkFacts& facts);

// After a trusted complete walk of `job`: how its listings change. `seen`:
// person keys the walk listed. Every membership of the group that the job
// does not list gets a listing with one more absent walk, so that a job
// that never listed a person still says, walk by walk, that it does not.
struct ListingChanges {
  std::vector<std::string> absent;  // person keys: one more walk without them (a new listing starts at 1)
  std::vector<std::string> back;    // person keys listed again after being absent
};
ListingChanges walk_absences(const std::string& job, const std::vector<Listing>& listings,
                             const std::vector<GroupRow>& rows, const std::unordered_set<std::string>& seen);

// The same changes applied to listings in memory, as Store::record_walk stores them.
void apply_absences(std::vector<Listing>& listings, const std::string& job, const ListingChanges& changes);

// The group's departures. A person leaves only when no listing keeps them:
// every job that ever listed them (or walked since their membership
// existed) has, for its own departure_grace, completed walks without them,
// or lists them Inactive with remove_inactive; every configured job of the
// group has walked since (has a listing); and every configured job of the
// group has remove_departed. Then, of owned and confirmed memberships only:
// approved ones and deletes already queued go as decided; the others go
// only within the limits, else all of them are held.
struct GroupDecision {
  std::vector<PlannedWrite> removals;  // to send now
  std::vector<PlannedWrite> held;      // flagged for approval; nothing of them is sent
  std::vector<std::string> back;       // membership ids listed again: departure flags reset
  std::vector<std::string> released;   // withdrawn memberships whose person left every roster
  int base = 0;                        // owned, confirmed memberships: what the percent guard measures
  std::string held_because;            // which guard held, with the numbers
};
GroupDecision decide_group(const std::vector<GroupRow>& rows, const std::vector<Listing>& listings,
                           const std::vector<FeedingJob>& jobs);

// A reconcile that would restore `restores` owned memberships of `base`
// while itslearning listed `listed` in the group. Mass removals in
// itslearning are usually deliberate: above the limits, or any restore
// after an empty read, waits for approval.
struct RestoreVerdict {
  bool hold = false;
  std::string reason;
};
RestoreVerdict judge_restores(int restores, int base, int listed, const RemovalLimits& limits);

}  // namespace rostersync::sync
