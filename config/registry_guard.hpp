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

// The registry courses of a configuration (those with an origin).
std::vector<Job> registry_courses(const Config& config);

// `config` with its registry courses replaced by `courses`.
void use_registry_courses(Config& config, std::vector<Job> courses);

}  // namespace rostersync::config
