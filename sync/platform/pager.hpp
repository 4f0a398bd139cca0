// The roster walk of an LTI platform's own NRPS endpoint, with no I/O.
//
// The first page is the job's context memberships URL with `limit`, and
// `role` and `rlid` when the job asks for them; every later page is the
// previous response's Link rel="next" (sync/platform/link_header.hpp), taken
// as it is. The walk rules are those of every walk (sync/nrps/walk.hpp), with
// the platform's configured origin as the only one a `next` may lead to: the
// bearer token never leaves the platform.
#pragma once

#include <string>

#include "sync/nrps/walk.hpp"

namespace rostersync::sync {

struct PlatformPagerSettings {
  std::string memberships_url;   // the context's NRPS URL (may already hold a query)
  std::string platform_origin;   // url_origin of the source's base_url
  std::string role_filter;       // "" = none
  std::string resource_link_id;  // "" = the whole context
  int page_limit = 100;
  int max_pages = 1000;
  int max_members = 100000;
};

class PlatformPager final : public RosterPager {
 public:
  explicit PlatformPager(PlatformPagerSettings settings);

  const std::string& next_url() const override { return next_url_; }
  // `page.next`: the resolved Link rel="next", if any.
  Result<WalkStep> on_page(const RosterPage& page) override;
  int pages() const override { return walk_.pages(); }

 private:
  std::string next_url_;
  RosterWalk walk_;
};

}  // namespace rostersync::sync
