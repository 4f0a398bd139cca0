// The two decisions that frame every run of a job, as pure functions:
// whether it may start at all (holds), and how it ended (outcome and error).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "domain/run.hpp"

namespace rostersync::sync {

struct RunStart {
  bool run = true;           // false: held, no run is recorded
  bool probing = false;      // the target's breaker is half-open: one probe batch first
  std::string held_because;  // when !run: describe(hold)
  std::chrono::milliseconds retry_in{0};  // when !run: until the hold lapses
};

// A hold still in force on the job, else on its source (the platform refused
// our credentials), else on its target, keeps the job from running. A lapsed
// breaker hold on the target lets it run as a probe.
RunStart decide_start(const std::optional<Hold>& job_hold, const std::optional<Hold>& target_hold,
                      const std::optional<Hold>& source_hold = std::nullopt);

struct RunEnd {
  bool walk_complete = false;  // the last page was read and accepted
  std::string walk_error;      // why the walk failed ("" if it did not)
  std::string target_error;    // why sending stopped (hold, store failure)
  bool stopping = false;       // a stop was requested during the run
  int pending = 0;             // items planned but neither created nor refused
  int failed = 0;              // items refused
};

struct RunVerdict {
  RunOutcome outcome = RunOutcome::failed;
  std::string error;            // "" for ok and partial
  bool prune_snapshot = false;  // the walk saw the whole roster: drop members no longer in it
};

// interrupted: stopped with work left and no error of its own; failed: any
// error; partial: items refused or unanswered; ok otherwise.
RunVerdict decide_outcome(const RunEnd& end);

}  // namespace rostersync::sync
