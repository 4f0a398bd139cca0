// What an interactive `rostersync sync` shows while it works: one line at
// the bottom of the terminal, redrawn as pages and batches go, that log
// records scroll above; nothing of it when stderr is not a terminal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "domain/run.hpp"
#include "sync/io/engine.hpp"

namespace rostersync::daemon {

// "pass: 3 / 40 courses, 3,456 members, 1,200 created | 2.0 courses/min,
// about 19 min left | course-4: page 3, 250 members, 120 created". Pure.
std::string progress_line(const PassProgress& pass, const std::optional<sync::Progress>& current,
                          std::int64_t now_unix);

// The bottom line of the terminal (see logging.cpp): shown only after
// enable_status_line() found stderr to be a terminal. Log records clear it,
// print, and draw it again.
bool enable_status_line();
void set_status_line(const std::string& text);
void clear_status_line();

}  // namespace rostersync::daemon
