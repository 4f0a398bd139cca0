// Fetching one roster page, with retries, as a sans-I/O state machine.
//
// The driver (sync/io/source_session.cpp) performs what resume() asks for and reports
// back: `send` means GET the page now, `wait` means sleep for the delay
// (cut short by a stop), `renew_token` means drop the bearer token the page
// was refused with (401) and get a new one, once per page, and the terminal
// actions `done` and `failed` end the fetch. With Link paging (a platform's
// NRPS), the page's `next` is its Link rel="next", resolved against the
// page's URL; a `next` in the body is ignored there. Every decision lives here: which failures are retried (transport
// errors, 408/429/5xx, bodies that do not parse), how long to wait (full
// jitter, never less than Retry-After), when to give up, and when a failure
// is a configuration error that must hold the job instead of being retried.
//
// No clock reads, no randomness, no I/O: the driver passes the random draw
// and the wall-clock time with each response, so tests replay any sequence.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "domain/http_message.hpp"
#include "domain/result.hpp"
#include "domain/roster.hpp"

namespace rostersync::sync {

struct PageFetchAction {
  enum class Kind {
    send,         // GET the page (again)
    wait,         // sleep `delay`, then resume(Waited)
    renew_token,  // the bearer token was refused: get a new one, then resume(Renewed)
    done,    // page() holds the parsed page
    failed,  // error() says why; hold_for() is set for a configuration error
  };
  Kind kind = Kind::send;
  std::chrono::milliseconds delay{0};
};

// How the source authenticates and pages.
struct PagePaging {
  bool bearer_token = false;  // a 401 may be an expired token: renew it once
  bool link_header = false;   // `next` comes from the Link header
  std::string request_url;    // the page's URL, to resolve a relative Link against
};

class PageFetchMachine {
 public:
  struct Start {};
  // The exchange's result. `unit_random` in [0,1) jitters the back-off;
  // `now` dates Retry-After given as an HTTP-date.
  struct Responded {
    const Result<HttpResponse>& response;
    double unit_random = 0;
    std::chrono::system_clock::time_point now{};
    bool stopping = false;  // a stop was requested meanwhile: a failure now is the stop's, not the peer's
  };
  // The wait is over; `stopping` when the process is shutting down.
  struct Waited {
    bool stopping = false;
  };
  // A new token is in hand (the driver ends the fetch itself when it cannot get one).
  struct Renewed {};

  // `url_for_messages`: the page's URL, already redacted. Errors of the HTTP
  // client name it themselves; the machine's own (status, body) get "GET <url>: ".
  PageFetchMachine(config::RetrySettings retry, std::string url_for_messages, PagePaging paging = {})
      : retry_(retry), url_(std::move(url_for_messages)), paging_(std::move(paging)) {}

  PageFetchAction resume(Start);
  PageFetchAction resume(const Responded& event);
  PageFetchAction resume(Waited event);
  PageFetchAction resume(Renewed);

  int attempts() const { return attempt_; }
  // After `done`: the page.
  bool page_ready() const { return page_.has_value(); }
  const RosterPage& page() const { return *page_; }
  RosterPage& page() { return *page_; }
  // After `failed`: our text, with the peer's (log-safe) text quoted in it.
  const std::string& error() const { return error_; }
  // After `failed`: resending cannot help (a 4xx other than 408/429, a local
  // limit or configuration problem); the job is held this long.
  std::optional<std::chrono::milliseconds> hold_for() const { return hold_for_; }
  // After `failed`: the fetch ended because of a stop request, not a failure.
  bool stopped() const { return stopped_; }
  // The HTTP status of the last answer (0: none): a 401 after `failed` is a refused key.
  int last_status() const { return last_status_; }

 private:
  PageFetchAction judge(const Responded& event);
  PageFetchAction retry_or_fail();
  PageFetchAction fail(bool configuration);

  config::RetrySettings retry_;
  std::string url_;
  PagePaging paging_;
  bool renewed_ = false;
  int attempt_ = 0;
  double unit_random_ = 0;
  std::optional<std::chrono::milliseconds> retry_after_;
  std::optional<RosterPage> page_;
  std::string error_;
  std::optional<std::chrono::milliseconds> hold_for_;
  bool stopped_ = false;
  int last_status_ = 0;
};

}  // namespace rostersync::sync
