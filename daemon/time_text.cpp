#include "daemon/time_text.hpp"

#include <ctime>
#include <regex>

#include "daemon/health.hpp"

namespace rostersync::daemon {

std::string localize_times(const std::string& text, std::int64_t now_unix) {
  static const std::regex kIso(R"((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?Z)");
  std::string out;
  auto begin = std::sregex_iterator(text.begin(), text.end(), kIso);
  std::size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    std::tm utc{};
    utc.tm_year = std::stoi(m[1]) - 1900;
    utc.tm_mon = std::stoi(m[2]) - 1;
    utc.tm_mday = std::stoi(m[3]);
    utc.tm_hour = std::stoi(m[4]);
    utc.tm_min = std::stoi(m[5]);
    utc.tm_sec = std::stoi(m[6]);
    const std::time_t at = timegm(&utc);
    std::tm local{};
    localtime_r(&at, &local);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &local);
    const std::int64_t delta = now_unix - static_cast<std::int64_t>(at);
    out += text.substr(last, static_cast<std::size_t>(m.position(0)) - last);
    out += std::string(buf) + (delta >= 0 ? " (" + format_age(delta) + " ago)" : " (in " + format_age(-delta) + ")");
    last = static_cast<std::size_t>(m.position(0) + m.length(0));
  }
  return out + text.substr(last);
}

}  // namespace rostersync::daemon
