// The one machine-readable form of a configuration: every effective setting
// under the key names of the YAML file, durations as the YAML writes them
// ("30m", "500ms"), secrets shown only as the file they come from.
// `check-config` prints it; a reload compares it to say what changed.
#pragma once

#include <boost/json/object.hpp>

#include <string>
#include <vector>

#include "config/config.hpp"

namespace rostersync::config {

// "2h", "30m", "90s", "500ms": the largest unit that divides the value.
std::string format_duration(Millis value);

boost::json::object to_json(const Config& config);
boost::json::object to_json(const Job& job);

// What a reload changed: jobs added, removed, and changed (with the keys
// that differ), and "no job changed" otherwise. Never shows a secret.
std::string describe_changes(const Config& before, const Config& after);

}  // namespace rostersync::config
