// The LTIAAS roster walk as a state machine with no I/O.
//
// It says which URL to GET next and judges each parsed page: the walk ends
// when a page has no `next`, and FAILS when a `next` repeats (a loop), or the
// page or member cap is exceeded, or a `next` points to another origin than
// the roster itself (LTIAAS would take the platform's token there). The `next` value is passed back to LTIAAS
// URL-encoded as `url=`, byte for byte as received (never rebuilt or
// re-encoded), and only ever sent to the configured LTIAAS origin.
#pragma once

#include <set>
#include <string>

#include "sync/nrps/container.hpp"
#include "config/domain/result.hpp"

namespace rostersync::sync {

struct PagerSettings {
  std::string base_url;          // LTIAAS base URL without trailing slash
  std::string role_filter;       // "" = none
  std::string resource_link_id;  // "" = none
  int page_limit = 100;          // members per page asked for
  int max_pages = 1000;
  int max_members = 100000;
};

class LtiaasPager {
 public:
  enum class Step { more, done };

  explicit LtiaasPager(PagerSettings settings);

  // URL of the next page to GET; valid while the walk is not finished.
  const std::string& next_url() const { return next_url_; }

  // Accounts for one parsed page. Returns Step::more (GET next_url() again),
  // Step::done (walk complete), or a Failure (the walk must be treated as failed).
  Result<Step> on_page(const RosterPage& page);

  int pages() const { return pages_; }
  int members() const { return members_; }

 private:
  PagerSettings settings_;
  std::string next_url_;
  std::set<std::string> seen_next_;
  std::string roster_origin_;  // scheme://host:port of the first page's `id` (or first `next`)
  int pages_ = 0;
  int members_ = 0;
};

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string url_encode_component(std::string_view text);

}  // namespace rostersync::sync
