// The LTIAAS roster walk as a state machine with no I/O.
//
// It says which URL to GET next and judges each parsed page: the walk ends
// when a page has no `next`, and fails by the rules of every walk
// (sync/nrps/walk.hpp); a `next` must stay on the roster's own origin, since
// LTIAAS would take the platform's token there. The `next` value is passed
// back to LTIAAS URL-encoded as `url=`, byte for byte as received (never
// rebuilt or re-encoded), and only ever sent to the configured LTIAAS origin.
#pragma once

#include <string>

#include "domain/result.hpp"
#include "sync/nrps/container.hpp"
#include "sync/nrps/walk.hpp"

namespace rostersync::sync {

struct PagerSettings {
  std::string base_url;          // LTIAAS base URL without trailing slash
  std::string role_filter;       // "" = none
  std::string resource_link_id;  // "" = none
  int page_limit = 100;          // members per page asked for
  int max_pages = 1000;
  int max_members = 100000;
};

class LtiaasPager final : public RosterPager {
 public:
  using Step = WalkStep;

  explicit LtiaasPager(PagerSettings settings);

  const std::string& next_url() const override { return next_url_; }
  // Step::more (GET next_url() again), Step::done (walk complete), or a
  // Failure (the walk must be treated as failed).
  Result<Step> on_page(const RosterPage& page) override;

  int pages() const override { return walk_.pages(); }
  int members() const { return walk_.members(); }

 private:
  PagerSettings settings_;
  std::string next_url_;
  RosterWalk walk_;  // the roster's origin: its first page's `id` (or first `next`)
};

}  // namespace rostersync::sync
