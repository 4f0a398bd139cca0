#include "daemon/display_width.hpp"

#include <clocale>
#include <cwchar>
#include <locale.h>

namespace rostersync::daemon {

namespace {

// C.UTF-8 for this thread while measuring, whatever the process's locale.
class Utf8Locale {
 public:
  Utf8Locale() {
    static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (utf8) previous_ = uselocale(utf8);
  }
  ~Utf8Locale() {
    if (previous_) uselocale(previous_);
  }
  Utf8Locale(const Utf8Locale&) = delete;
  Utf8Locale& operator=(const Utf8Locale&) = delete;

 private:
  locale_t previous_ = static_cast<locale_t>(nullptr);
};

// The next character of `text` at `i`: its bytes and columns.
std::pair<std::size_t, std::size_t> next_char(std::string_view text, std::size_t i) {
  std::mbstate_t state{};
  wchar_t wc = 0;
  const std::size_t n = std::mbrtowc(&wc, text.data() + i, text.size() - i, &state);
  if (n == 0 || n == static_cast<std::size_t>(-1) || n == static_cast<std::size_t>(-2)) return {1, 1};
  const int w = ::wcwidth(wc);
  return {n, w < 0 ? 1 : static_cast<std::size_t>(w)};
}

}  // namespace

std::size_t display_width(std::string_view text) {
  Utf8Locale utf8;
  std::size_t columns = 0;
  for (std::size_t i = 0; i < text.size();) {
    auto [bytes, width] = next_char(text, i);
    columns += width;
    i += bytes;
  }
  return columns;
}

std::string fit_to_width(std::string_view text, std::size_t columns) {
  if (display_width(text) <= columns) return std::string(text);
  const std::size_t budget = columns > 3 ? columns - 3 : 0;
  Utf8Locale utf8;
  std::size_t used = 0, end = 0;
  for (std::size_t i = 0; i < text.size();) {
    auto [bytes, width] = next_char(text, i);
    if (used + width > budget) break;
    used += width;
    i += bytes;
    end = i;
  }
  return std::string(text.substr(0, end)) + std::string("...").substr(0, columns - used < 3 ? columns - used : 3);
}

}  // namespace rostersync::daemon
