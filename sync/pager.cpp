#include "sync/pager.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "sync/redact.hpp"

namespace rostersync::sync {

std::string url_encode_component(std::string_view text) {
  return boost::urls::encode(text, boost::urls::unreserved_chars);
}

LtiaasPager::LtiaasPager(PagerSettings settings) : settings_(std::move(settings)) {
  next_url_ = settings_.base_url + "/api/memberships?limit=" + std::to_string(settings_.page_limit);
  if (!settings_.role_filter.empty()) next_url_ += "&role=" + url_encode_component(settings_.role_filter);
  if (!settings_.resource_link_id.empty()) {
    next_url_ += "&resourceLinkId=" + url_encode_component(settings_.resource_link_id);
  }
}

Result<LtiaasPager::Step> LtiaasPager::on_page(const RosterPage& page) {
  ++pages_;
  members_ += static_cast<int>(page.members.size()) + page.malformed_members;
  if (members_ > settings_.max_members) {
    return fail(FailureKind::limit, "member cap of " + std::to_string(settings_.max_members) + " exceeded after " +
                                        std::to_string(pages_) + " pages");
  }
  if (!page.next) return Step::done;
  if (!seen_next_.insert(*page.next).second) {
    return fail(FailureKind::protocol,
                "`next` repeats an already visited page (" + redact_url(*page.next) + ") after " + std::to_string(pages_) + " pages");
  }
  if (pages_ >= settings_.max_pages) {
    return fail(FailureKind::limit, "page cap of " + std::to_string(settings_.max_pages) + " reached with more pages left");
  }
  next_url_ = settings_.base_url + "/api/memberships?url=" + url_encode_component(*page.next);
  return Step::more;
}

}  // namespace rostersync::sync
