#include "sync/ltiaas/pager.hpp"

#include "domain/text.hpp"

namespace rostersync::sync {

LtiaasPager::LtiaasPager(PagerSettings settings)
    : settings_(std::move(settings)), walk_({settings_.max_pages, settings_.max_members}, "") {
  next_url_ = settings_.base_url + "/api/memberships?limit=" + std::to_string(settings_.page_limit);
  if (!settings_.role_filter.empty()) next_url_ += "&role=" + url_encode_component(settings_.role_filter);
  if (!settings_.resource_link_id.empty()) {
    next_url_ += "&resourceLinkId=" + url_encode_component(settings_.resource_link_id);
  }
}

Result<LtiaasPager::Step> LtiaasPager::on_page(const RosterPage& page) {
  Result<WalkStep> step = walk_.on_page(page);
  if (!step || *step == WalkStep::done) return step;
  next_url_ = settings_.base_url + "/api/memberships?url=" + url_encode_component(*page.next);
  return Step::more;
}

}  // namespace rostersync::sync
