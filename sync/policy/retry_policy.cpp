#include "sync/policy/retry_policy.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace rostersync::sync {

FailureClass classify_http_status(int status) {
  if (status == 408 || status == 429 || status >= 500) return FailureClass::transient;
  if (status >= 400) return FailureClass::configuration;
  return FailureClass::transient;  // 1xx/3xx where a 2xx was expected: odd, but not the config's fault
}

FailureClass classify_http_response(int status, std::string_view body, std::string_view rate_limit_remaining) {
  if (status == 403) {
    auto trimmed = rate_limit_remaining;
    while (!trimmed.empty() && trimmed.front() == ' ') trimmed.remove_prefix(1);
    if (trimmed == "0" || trimmed == "0.0") return FailureClass::transient;
    std::string lower(body.substr(0, 4096));
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower.find("rate limit exceeded") != std::string::npos) return FailureClass::transient;
  }
  return classify_http_status(status);
}

namespace {

// "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate, the form HTTP senders must use).
std::optional<std::time_t> parse_imf_fixdate(std::string_view text) {
  std::tm tm{};
  std::string s(text);
  const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return timegm(&tm);
}

}  // namespace

std::optional<Millis> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); })) {
    if (value.size() > 9) return Millis(std::chrono::hours(24 * 365));  // absurd, but a number: far away
    return Millis(std::stoll(std::string(value)) * 1000);
  }
  auto when = parse_imf_fixdate(value);
  if (!when) return std::nullopt;
  auto delta = std::chrono::system_clock::from_time_t(*when) - now;
  return std::max(Millis(0), std::chrono::duration_cast<Millis>(delta));
}

std::optional<Millis> retry_wait(const config::RetrySettings& settings, int attempt, double unit_random,
                                 std::optional<Millis> retry_after) {
  if (retry_after && *retry_after > settings.max_retry_delay) return std::nullopt;
  int doublings = std::clamp(attempt - 2, 0, 30);
  double ceiling = std::min(static_cast<double>(settings.max_retry_delay.count()),
                            static_cast<double>(settings.retry_delay.count()) * static_cast<double>(1LL << doublings));
  auto jittered = Millis(static_cast<long long>(std::clamp(unit_random, 0.0, 1.0) * ceiling));
  return std::max(jittered, retry_after.value_or(Millis(0)));
}

ItemVerdict item_verdict(const config::ItemRetrySettings& settings, int refusals) {
  if (refusals >= settings.max_failures) return {true, Millis(0)};
  double wait = static_cast<double>(settings.retry_delay.count());
  for (int i = 1; i < refusals && wait < static_cast<double>(settings.max_retry_delay.count()); ++i) wait *= 4;
  return {false, std::min(settings.max_retry_delay, Millis(static_cast<long long>(wait)))};
}

void Breaker::record(int items, int failed, bool batch_failed) {
  if (tripped() || items <= 0) return;
  consecutive_failed_batches_ = batch_failed ? consecutive_failed_batches_ + 1 : 0;
  window_.emplace_back(items, failed);
  window_items_ += items;
  window_failed_ += failed;
  while (window_.size() > 1 && window_items_ - window_.front().first >= settings_.window_items) {
    window_items_ -= window_.front().first;
    window_failed_ -= window_.front().second;
    window_.pop_front();
  }
  if (consecutive_failed_batches_ >= settings_.consecutive_failed_batches) {
    reason_ = std::to_string(consecutive_failed_batches_) + " batches in a row failed";
  } else if (window_items_ >= settings_.min_items && window_failed_ * 100 >= settings_.failure_percent * window_items_) {
    reason_ = std::to_string(window_failed_) + " of the last " + std::to_string(window_items_) + " items failed";
  }
}

}  // namespace rostersync::sync
