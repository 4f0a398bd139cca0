// What `rostersync plan` (and `sync --dry-run`) prints: per job, the writes
// a sync would send (creates, updates with the old and new role, deletes
// with their reason), adoptions, and which guard would hold it.
#pragma once

#include <ostream>
#include <vector>

#include "sync/io/engine.hpp"

namespace rostersync::daemon {

// A table-like text for people (at most `max_lines` items per kind, then a
// count), or one JSON document listing every item.
void print_plan(std::ostream& out, const std::vector<sync::JobReport>& reports, bool json, int max_lines = 20);

}  // namespace rostersync::daemon
