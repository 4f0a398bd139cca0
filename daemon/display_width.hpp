// How wide text is on a terminal, for the tables and the progress line:
// measured in display columns (libc's wcwidth under C.UTF-8: a CJK
// character takes two, a combining mark none), not in bytes, so that
// `2026-Français-Ærø` lines up and a line never wraps.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rostersync::daemon {

// Columns `text` (UTF-8, already free of control characters: see
// clip_for_message) takes; an invalid byte counts as one.
std::size_t display_width(std::string_view text);

// `text` whole when it takes at most `columns`, else its longest prefix
// that, with "..." after it, takes at most `columns` (never splitting a
// character).
std::string fit_to_width(std::string_view text, std::size_t columns);

}  // namespace rostersync::daemon
