#include "sync/platform/pager.hpp"

#include <boost/url/url.hpp>

namespace rostersync::sync {

PlatformPager::PlatformPager(PlatformPagerSettings settings)
    : walk_({settings.max_pages, settings.max_members}, settings.platform_origin) {
  // The URL is ours (from the configuration), so it may be rebuilt; a
  // parameter it already holds is replaced, the others keep their bytes.
  boost::urls::url url(settings.memberships_url);
  auto params = url.params();
  params.set("limit", std::to_string(settings.page_limit));
  if (!settings.role_filter.empty()) params.set("role", settings.role_filter);
  if (!settings.resource_link_id.empty()) params.set("rlid", settings.resource_link_id);
  next_url_ = std::string(url.buffer());
}

Result<WalkStep> PlatformPager::on_page(const RosterPage& page) {
  Result<WalkStep> step = walk_.on_page(page);
  if (step && *step == WalkStep::more) next_url_ = *page.next;
  return step;
}

}  // namespace rostersync::sync
