// What a running daemon applies of a registry it has just read: the nginx
// habit, a change that cannot be read is refused, not applied.
//
//  - A course file with an error keeps its courses' last good definitions
//    (those running now); the file's other changes wait for it to be fixed.
//  - A registry that cannot be read (a moved directory, a failed mount) or
//    that would empty, or a change that removes more courses at once than
//    registry.max_removed_courses and max_removed_percent allow, is not
//    applied at all: the running courses keep running until an operator
//    confirms that very change (`rostersync confirm-registry --id ID`).
//
// Pure: no file is read here. The daemon, `status --check` and the tests
// call it with what read_registry() found.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace rostersync::config {

struct RegistryMerge {
  std::vector<Job> courses;         // the registry courses to run from now on
  std::vector<std::string> kept;    // "course X keeps its last good definition (file F is refused)"
  // Why the change waits for a person ("" = applied), and the id that names
  // exactly this change for confirm-registry.
  std::string awaiting;
  std::string change_id;
  int removed = 0;                  // courses the change removes (applied or waiting)
};

// `running`: the registry courses running now (none at start); `fresh`: the
// configuration as just read (its registry courses, refused_files,
// registry_unreadable); `confirmed_id`: the change an operator confirmed
// ("" = none).
RegistryMerge merge_registry(const std::vector<Job>& running, const Config& fresh, const std::string& confirmed_id);

// A start has no course definitions to keep (they live in memory only):
// what it finds missing of the registry courses the last daemon ran (a
// mount that failed at boot, a file refused meanwhile) cannot keep running.
// A loss the running guard would hold for a person (the registry
// unreadable or empty, or more than the limits at once) is not silent:
// it waits for `confirm-registry` like any other, and the absent courses
// stay in the daemon's recorded job list (so `status --check` keeps judging
// them) until their files are back or the change is confirmed.
struct AbsentSinceStart {
  std::vector<std::string> absent;  // sorted: last run, not run now
  std::string awaiting;             // "" = nothing waits (none absent, within the limits, or confirmed)
  std::string change_id;            // names exactly this loss for confirm-registry
};
// `last_run`: the registry course names the last daemon recorded;
// `fresh`: the configuration as the guard lets it run now.
AbsentSinceStart absent_since_start(const std::vector<std::string>& last_run, const Config& fresh,
                                    const std::string& confirmed_id);

// The registry courses of a configuration (those with an origin).
std::vector<Job> registry_courses(const Config& config);

// `config` with its registry courses replaced by `courses`.
void use_registry_courses(Config& config, std::vector<Job> courses);

}  // namespace rostersync::config
