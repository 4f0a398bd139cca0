// Shared check for the fuzz targets: text that reaches logs or the database
// must hold no control characters and only valid UTF-8.
#pragma once

#include <string_view>

#include "domain/text.hpp"

namespace rostersync::fuzz {

// clip_for_message leaves clean text as it is; anything it would change is unsafe.
inline bool message_safe(std::string_view text) {
  return clip_for_message(text, text.size()) == text;
}

}  // namespace rostersync::fuzz
