// Times in reports as an operator reads them: the database keeps UTC ISO
// 8601 ("2026-12-05T10:11:22.175Z"); a person at a terminal gets local time
// with its offset and how long ago (or how soon) it is. Pure but for the
// process's time zone (TZ).
#pragma once

#include <cstdint>
#include <string>

namespace rostersync::daemon {

// Every UTC ISO 8601 timestamp in `text` rewritten as
// "2026-12-05 11:11:22 +0100 (3 min ago)"; the rest of the text kept.
std::string localize_times(const std::string& text, std::int64_t now_unix);

}  // namespace rostersync::daemon
