// One run of a job, as a sans-I/O state machine: the walk page by page, the
// group read before the first page is planned, and the end of the run
// (drain the writes, decide the group's state after a complete walk).
//
// resume(event) returns the next action; the driver (sync/io/job_run.cpp)
// performs it and reports how it went with the next resume(). The machine
// owns every decision of the walk: when to stop asking for pages (a stop,
// a target that takes no more writes, an error), what a failure is called
// (page number, the peer's text), members listed twice by offset paging
// (counted once, and the walk marked as moved), the role filter a platform
// drops from its next links, filling in a hierarchy_id template, whether
// the walk is complete, and what the walk saw of each person (the input of
// the group decision in sync/planning/removals.hpp). The driver owns only
// the I/O and the store: it fetches, reads, plans and commits, sends.
//
// No I/O, no clock: tests replay any sequence of results, a network error
// at every step, without sockets.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

#include "domain/roster.hpp"
#include "sync/nrps/walk.hpp"
#include "sync/planning/planner.hpp"

namespace rostersync::sync {

struct RunAction {
  enum class Kind {
    get_token,          // platform: a bearer token; resume with error set when none can be had
    fetch_page,         // GET `url` (page `page_number`); resume with the page, or the error
    hold_job,           // a configuration error: hold the job for `hold_for`; resume with error = the hold described
    use_hierarchy,      // the hierarchy_id template gave `hierarchy_id`: plan into it from now on
    read_group,         // read the group if adoption or reconcile is due; resume with error when it failed
    plan_page,          // plan and commit page(), enqueue its writes
    wait_for_room,      // wait until few enough writes are queued
    drain,              // send the last batches and wait for all
    settle_group,       // a complete walk: the group's listings, departures and their guards
    finish,             // the run is over: walk_complete(), walk_error()
  };
  Kind kind = Kind::finish;
  std::string url;           // fetch_page
  int page_number = 0;       // fetch_page, plan_page: 1-based
  std::string hierarchy_id;  // use_hierarchy
  std::chrono::milliseconds hold_for{0};  // hold_job
  std::string error;         // hold_job: why
  // The last page has been read: the source's walk slot may go to another
  // job before this action is performed (its writes may still be out).
  bool walk_read = false;
};

struct RunSettings {
  bool bearer_token = false;  // a platform: get a token first
  bool filter_locally = false;  // a platform drops `role` from its next links: filter each page again
  PlanOptions plan;           // person keys (what the walk saw) and the role filter; hierarchy_id may be a template
};

class RunMachine {
 public:
  // How the action went. `stopping`: a stop was requested; `target_stopped`:
  // the target takes no more writes in this run (a hold, the store failed).
  struct Event {
    bool stopping = false;
    bool target_stopped = false;
    std::string error;                 // the action failed: why ("" = it did not)
    std::optional<std::chrono::milliseconds> hold_for;  // fetch_page: the failure is a configuration error
    bool stopped = false;              // the action ended because of the stop, not a failure
    std::optional<RosterPage> page;    // fetch_page: the page received
  };

  RunMachine(RunSettings settings, std::unique_ptr<RosterPager> pager);

  RunAction resume(Event event);
  // The store failed under an action (an exception the driver caught):
  // the walk ends with `what`, the writes out are drained, nothing is decided.
  RunAction fail(const std::string& what);

  // Whether the walk's persons are kept for the group decision (a group fed
  // by several jobs, or with removals on): decided by the driver when it
  // reads the group, before the first page is planned. Without it, the run
  // ends without settle_group (nothing is decided on absence).
  void track_presence(bool on) { track_presence_ = on; }

  // During plan_page: the page to plan (deduplicated, filtered).
  RosterPage& page() { return page_; }
  bool walk_complete() const { return walk_complete_; }
  const std::string& walk_error() const { return walk_error_; }
  int pages() const { return pager_->pages(); }
  int repeated_members() const { return repeated_; }
  // The roster visibly moved under the walk: a member came twice, or the
  // platform's Link rel="last" (where offset paging ends) changed between pages.
  bool moved() const { return repeated_ > 0 || last_moved_; }
  // Person keys of every member the walk listed (skipped ones too), and
  // those listed Inactive: what the job's listings are set from.
  const std::unordered_set<std::string>& seen() const { return seen_; }
  const std::unordered_set<std::string>& inactive() const { return inactive_; }
  const std::string& hierarchy_id() const { return settings_.plan.hierarchy_id; }

 private:
  enum class State { start, token, fetching, holding, hierarchy, group, planning, room, draining, settling, last_drain, done };
  RunAction next_page(const Event& event);
  RunAction after_page();
  RunAction plan();
  RunAction end_walk();
  RunAction finish();

  RunSettings settings_;
  std::unique_ptr<RosterPager> pager_;
  State state_ = State::start;
  RosterPage page_;
  bool last_page_ = false;
  bool walk_read_reported_ = false;
  bool hierarchy_known_ = false;
  bool group_checked_ = false;
  bool walk_complete_ = false;
  bool settled_ = false;
  bool track_presence_ = true;
  std::string walk_error_;
  // Offset paging is no snapshot: a member can come twice when the roster
  // changes during the walk. Checked against this page and the one before,
  // so the memory is a page's worth however large the course.
  std::unordered_set<std::string> previous_page_ids_, page_ids_;
  int repeated_ = 0;
  std::optional<std::string> first_last_;  // the first page's rel="last"
  bool last_moved_ = false;
  std::unordered_set<std::string> seen_, inactive_;
};

}  // namespace rostersync::sync
