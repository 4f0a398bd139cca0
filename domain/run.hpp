// The run vocabulary every room shares: how a run ended and what it counted,
// what became of each item sent, and the holds that stop sending to a job or
// a target for a while.
//
// Plain data and names; includes nothing of the project's rooms.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "domain/roster.hpp"

namespace rostersync {

enum class RunOutcome { running, ok, partial, failed, interrupted };
const char* to_string(RunOutcome);

struct RunStats {
  int pages = 0;
  int members_seen = 0;
  int new_members = 0;      // not in the snapshot before this run
  int already_present = 0;  // eligible and already created
  int creates_planned = 0;  // creates queued for sending (new ids and resends)
  int created = 0;
  int updates_planned = 0;  // role changes queued (updateMemberships under the stored id)
  int updated = 0;
  int deletes_planned = 0;  // departures queued (deleteMemberships by stored id)
  int deleted = 0;
  int deletes_held = 0;     // departures a removal guard held for approval (nothing deleted)
  int adopted = 0;          // memberships found in itslearning and taken over (readMembershipsForGroup)
  int restored = 0;         // memberships itslearning no longer had, queued to be created again
  int foreign = 0;          // memberships in the group that rostersync did not make and keeps its hands off
  int restores_held = 0;    // memberships itslearning lost that a restore guard held for approval
  int not_owned_role_differs = 0;  // memberships rostersync does not own whose role differs from the roster's: reported, not sent
  int walk_not_counted = 0;  // 1 when the complete walk counted towards no departure (empty and held, or the roster moved)
  int failed = 0;           // items itslearning refused
  int pending = 0;          // items whose outcome is not known yet
  int deferred = 0;         // items not sent: waiting for their next attempt, or parked
  std::array<int, kSkipReasonCount> skipped{};
  int skipped_total() const;
  int writes_planned() const { return creates_planned + updates_planned + deletes_planned; }
  int writes_confirmed() const { return created + updated + deleted; }

  // Adds one planned page's counts.
  void add_page(const PagePlan& plan);
};

// A pass: the jobs `run` (or `sync`) works through from the moment work is
// due until nothing is running or due any more. Its totals let an operator
// see a district's progress as a whole.
struct PassProgress {
  bool active = false;       // false once the pass has ended
  int courses_done = 0;      // jobs whose run ended in this pass
  int courses_total = 0;     // done + running + due and waiting for a slot
  int running = 0;
  long long members = 0;     // members seen by the ended runs
  long long created = 0;
  long long failed = 0;
  int runs_not_ok = 0;       // ended runs whose outcome was not ok (or that were held)
  std::int64_t started_unix = 0;  // wall-clock seconds
  std::int64_t ended_unix = 0;    // 0 while active
};

// "pass: 1,234 / 3,000 courses, 45,678 members, 312 created" (plus failures and
// runs not ok when there are any).
std::string describe(const PassProgress& pass);

// 12345 -> "12,345".
std::string with_thousands(long long n);

// What became of one item of a batch, as decided by the sync side (the retry
// policy); the state database only records it.
struct ItemResult {
  enum class Fate {
    confirmed,  // itslearning confirmed the write (a create, an update or a delete)
    waiting,  // refused: sent again once `wait` has passed
    parked,   // refused too often: not sent again until `rostersync retry`
    unknown,  // no usable answer: stays pending, resent with the same id
  };
  std::string membership_id;
  Fate fate = Fate::unknown;
  std::string error;                // "" for success
  int refusals = 0;                 // waiting/parked: refusals counted so far, this one included
  std::chrono::seconds wait{0};     // waiting: until the next attempt
};

// What a hold stops: one job, every job of a source (its platform refused
// rostersync's credentials), or every job writing to a target.
enum class HoldScope { job, target, source };
enum class HoldKind {
  blocked,  // a configuration error: resending cannot help before it is fixed
  breaker,  // the target failed nearly everything: one probe batch after a while
};
const char* to_string(HoldScope);
const char* to_string(HoldKind);
std::optional<HoldScope> parse_hold_scope(std::string_view);
std::optional<HoldKind> parse_hold_kind(std::string_view);

// A job, source or target rostersync has stopped sending to.
struct Hold {
  HoldScope scope = HoldScope::job;
  std::string name;
  HoldKind kind = HoldKind::blocked;
  std::string reason;  // the error that caused it, e.g. the SOAP fault text
  std::string since;   // UTC ISO 8601
  std::string until;   // UTC ISO 8601: no new try before this
  std::chrono::milliseconds remaining{0};  // until - now (negative once past)
  bool active() const { return remaining.count() > 0; }
};

// "blocked: target its: a:InvalidSecurity ..." / "circuit breaker open for target its: ..."
std::string describe(const Hold&);

}  // namespace rostersync
