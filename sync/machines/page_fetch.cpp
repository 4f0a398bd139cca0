#include "sync/machines/page_fetch.hpp"

#include "sync/ltiaas/error_body.hpp"
#include "sync/nrps/container.hpp"
#include "sync/platform/link_header.hpp"
#include "sync/policy/retry_policy.hpp"

namespace rostersync::sync {

PageFetchAction PageFetchMachine::resume(Start) {
  attempt_ = 1;
  return {PageFetchAction::Kind::send};
}

PageFetchAction PageFetchMachine::judge(const Responded& event) {
  unit_random_ = event.unit_random;
  retry_after_.reset();
  const Result<HttpResponse>& response = event.response;
  if (!response) {
    error_ = response.failure().message;
    FailureKind kind = response.failure().kind;
    // A refused certificate is the configuration's to fix: hold the job.
    if (kind == FailureKind::certificate) return fail(true);
    // A local limit (oversized body) or a refused URL will not change on a resend.
    if (kind == FailureKind::limit || kind == FailureKind::config) return fail(false);
    return retry_or_fail();
  }
  last_status_ = response->status;
  if (response->status == 401 && paging_.bearer_token && !renewed_) {
    renewed_ = true;  // once: a fresh token refused too is the platform's "no"
    return {PageFetchAction::Kind::renew_token};
  }
  if (response->status != 200) {
    error_ = "GET " + url_ + ": " + ltiaas_error(response->status, response->body).describe();
    if (classify_http_response(response->status, response->body, response->rate_limit_remaining) ==
        FailureClass::configuration) {
      return fail(true);
    }
    retry_after_ = parse_retry_after(response->retry_after, event.now);
    return retry_or_fail();
  }
  Result<RosterPage> page = parse_roster_page(response->body);
  if (!page) {  // truncated or garbled on the way: worth another try
    error_ = "GET " + url_ + ": " + page.failure().message;
    return retry_or_fail();
  }
  if (paging_.link_header) {
    Result<std::optional<std::string>> next = find_next_link(response->links, paging_.request_url);
    if (!next) {  // the same answer would come again: not worth a resend
      error_ = "GET " + url_ + ": " + next.failure().message;
      return fail(false);
    }
    page->next = std::move(*next);
    // Offset paging's `last` (Canvas): read for the walk's stability, never followed.
    if (Result<std::optional<std::string>> last = find_link(response->links, paging_.request_url, "last"); last) {
      page->last = std::move(*last);
    }
  }
  page_ = std::move(page.value());
  error_.clear();
  return {PageFetchAction::Kind::done};
}

PageFetchAction PageFetchMachine::resume(const Responded& event) {
  PageFetchAction action = judge(event);
  if (action.kind != PageFetchAction::Kind::done && event.stopping) {
    stopped_ = true;
    return {PageFetchAction::Kind::failed};
  }
  return action;
}

PageFetchAction PageFetchMachine::resume(Waited event) {
  if (event.stopping) {
    stopped_ = true;
    return {PageFetchAction::Kind::failed};
  }
  ++attempt_;
  return {PageFetchAction::Kind::send};
}

PageFetchAction PageFetchMachine::resume(Renewed) { return {PageFetchAction::Kind::send}; }

PageFetchAction PageFetchMachine::retry_or_fail() {
  if (attempt_ >= retry_.max_attempts) return fail(false);
  std::optional<std::chrono::milliseconds> wait = retry_wait(retry_, attempt_ + 1, unit_random_, retry_after_);
  if (!wait) {
    error_ += " (Retry-After is longer than max_retry_delay)";
    return fail(false);
  }
  return {PageFetchAction::Kind::wait, *wait};
}

PageFetchAction PageFetchMachine::fail(bool configuration) {
  if (configuration) hold_for_ = retry_.blocked_retry_interval;
  return {PageFetchAction::Kind::failed};
}

}  // namespace rostersync::sync
