// The rules every roster walk obeys, whichever source serves it, and the
// pager interface the engine drives.
//
// A walk FAILS, and must then never be read as "these members left", when a
// page or member cap is exceeded, when a `next` repeats (a loop), or when a
// `next` points to another origin than the one allowed (a bearer token or
// service key would follow it there: a `next` is data from the network).
// Pure: no I/O.
#pragma once

#include <set>
#include <string>

#include "domain/result.hpp"
#include "sync/nrps/container.hpp"

namespace rostersync::sync {

enum class WalkStep { more, done };

struct WalkLimits {
  int max_pages = 1000;
  int max_members = 100000;
};

class RosterWalk {
 public:
  // `allowed_origin` (as url_origin gives it): the only origin a `next` may
  // point to; "" = the roster's own, from the first page's `id` (else its `next`).
  RosterWalk(WalkLimits limits, std::string allowed_origin)
      : limits_(limits), allowed_origin_(std::move(allowed_origin)) {}

  // Accounts for one parsed page whose `next` is already absolute.
  Result<WalkStep> on_page(const RosterPage& page);

  int pages() const { return pages_; }
  int members() const { return members_; }

 private:
  WalkLimits limits_;
  std::string allowed_origin_;
  std::set<std::string> seen_next_;
  int pages_ = 0;
  int members_ = 0;
};

// A source's walk: which URL to GET next, and what a page means for it.
class RosterPager {
 public:
  virtual ~RosterPager() = default;
  // URL of the next page to GET; valid while the walk is not finished.
  virtual const std::string& next_url() const = 0;
  // WalkStep::more (GET next_url() again), done, or a Failure: the walk failed.
  virtual Result<WalkStep> on_page(const RosterPage& page) = 0;
  virtual int pages() const = 0;
};

}  // namespace rostersync::sync
