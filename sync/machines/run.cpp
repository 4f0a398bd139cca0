#include "sync/machines/run.hpp"

#include <algorithm>
#include <utility>

#include "sync/planning/roles.hpp"

namespace rostersync::sync {

namespace {

std::string page_error(int page_number, const std::string& what) {
  return "roster walk failed at page " + std::to_string(page_number) + ": " + what;
}

RunAction action(RunAction::Kind kind) {
  RunAction a;
  a.kind = kind;
  return a;
}

}  // namespace

RunMachine::RunMachine(RunSettings settings, std::unique_ptr<RosterPager> pager)
    : settings_(std::move(settings)), pager_(std::move(pager)) {
  hierarchy_known_ = !config::is_hierarchy_template(settings_.plan.hierarchy_id);
}

RunAction RunMachine::fail(const std::string& what) {
  if (state_ == State::draining || state_ == State::last_drain || state_ == State::done) {
    if (walk_error_.empty()) walk_error_ = what;
    return finish();
  }
  if (state_ == State::settling) {
    walk_error_ = "deciding the group's state failed: " + what;
    state_ = State::last_drain;
    return action(RunAction::Kind::drain);
  }
  walk_complete_ = false;
  if (walk_error_.empty()) walk_error_ = what;
  return end_walk();
}

RunAction RunMachine::resume(Event ev) {
  switch (state_) {
    case State::start:
      if (settings_.bearer_token && !ev.stopping) {
        state_ = State::token;
        return action(RunAction::Kind::get_token);
      }
      return next_page(ev);

    case State::token:
      if (!ev.error.empty()) walk_error_ = ev.error;
      if (ev.stopped || !walk_error_.empty()) return end_walk();
      return next_page(ev);

    case State::fetching: {
      if (ev.stopped) return end_walk();
      if (!ev.page) {
        walk_error_ = page_error(pager_->pages() + 1, ev.error);
        if (ev.hold_for) {  // resending cannot help: the job is held, and says why
          state_ = State::holding;
          RunAction a = action(RunAction::Kind::hold_job);
          a.hold_for = *ev.hold_for;
          a.error = walk_error_;
          return a;
        }
        return end_walk();
      }
      page_ = std::move(*ev.page);
      Result<WalkStep> step = pager_->on_page(page_);
      if (!step) {
        walk_error_ = "roster walk failed: " + step.failure().message;
        return end_walk();
      }
      last_page_ = *step == WalkStep::done;
      if (page_.last) {
        if (!first_last_) first_last_ = page_.last;
        else if (*first_last_ != *page_.last) last_moved_ = true;
      }
      if (settings_.filter_locally) apply_role_filter(page_, settings_.plan.role_filter);
      page_ids_.clear();
      std::erase_if(page_.members, [&](const Member& m) {
        bool again = previous_page_ids_.count(m.user_id) > 0 || !page_ids_.insert(m.user_id).second;
        repeated_ += again;
        return again;
      });
      std::swap(previous_page_ids_, page_ids_);
      if (!hierarchy_known_) {
        Result<std::string> hierarchy = resolve_hierarchy(settings_.plan.hierarchy_id, page_);
        if (!hierarchy) {
          walk_error_ = "roster walk failed: " + hierarchy.failure().message;
          return end_walk();
        }
        settings_.plan.hierarchy_id = *hierarchy;
        hierarchy_known_ = true;
        state_ = State::hierarchy;
        RunAction a = action(RunAction::Kind::use_hierarchy);
        a.hierarchy_id = *hierarchy;
        a.walk_read = last_page_;
        walk_read_reported_ = walk_read_reported_ || last_page_;
        return a;
      }
      return after_page();
    }

    case State::holding:
      if (!ev.error.empty()) walk_error_ = ev.error;
      return end_walk();

    case State::hierarchy:
      return after_page();

    case State::group:
      if (!ev.error.empty()) {
        walk_error_ = "roster walk stopped before planning: " + ev.error;
        return end_walk();
      }
      if (ev.stopping || ev.stopped) return end_walk();  // nothing is planned unread
      return plan();

    case State::planning:
      if (last_page_) {
        walk_complete_ = true;
        return end_walk();
      }
      // No waiting for room that a stop or a stopped target will not make.
      if (ev.stopping || ev.target_stopped) return end_walk();
      state_ = State::room;
      return action(RunAction::Kind::wait_for_room);

    case State::room:
      return next_page(ev);

    case State::draining:
      if (walk_complete_ && walk_error_.empty() && !ev.stopping && !settled_ && track_presence_) {
        settled_ = true;
        state_ = State::settling;
        return action(RunAction::Kind::settle_group);
      }
      return finish();

    case State::settling:
      if (!ev.error.empty()) walk_error_ = "deciding the group's state failed: " + ev.error;
      state_ = State::last_drain;
      return action(RunAction::Kind::drain);

    case State::last_drain:
    case State::done:
      return finish();
  }
  return finish();
}

RunAction RunMachine::next_page(const Event& ev) {
  if (ev.stopping || ev.target_stopped || !walk_error_.empty()) return end_walk();
  state_ = State::fetching;
  RunAction a = action(RunAction::Kind::fetch_page);
  a.url = pager_->next_url();
  a.page_number = pager_->pages() + 1;
  return a;
}

RunAction RunMachine::after_page() {
  if (!group_checked_) {
    group_checked_ = true;
    state_ = State::group;
    RunAction a = action(RunAction::Kind::read_group);
    a.walk_read = last_page_ && !walk_read_reported_;
    walk_read_reported_ = walk_read_reported_ || last_page_;
    return a;
  }
  return plan();
}

RunAction RunMachine::plan() {
  for (const Member& m : page_.members) {
    if (!track_presence_) break;
    std::string key = person_key(m, settings_.plan);
    if (key.empty()) continue;
    if (!m.active) inactive_.insert(key);
    seen_.insert(std::move(key));
  }
  state_ = State::planning;
  RunAction a = action(RunAction::Kind::plan_page);
  a.page_number = pager_->pages();
  a.walk_read = last_page_ && !walk_read_reported_;
  walk_read_reported_ = walk_read_reported_ || last_page_;
  return a;
}

RunAction RunMachine::end_walk() {
  state_ = State::draining;
  RunAction a = action(RunAction::Kind::drain);
  a.walk_read = !walk_read_reported_;
  walk_read_reported_ = true;
  return a;
}

RunAction RunMachine::finish() {
  state_ = State::done;
  return action(RunAction::Kind::finish);
}

}  // namespace rostersync::sync
