#include "sync/ltiaas/pager.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "config/domain/text.hpp"

namespace rostersync::sync {

std::string url_encode_component(std::string_view text) {
  return boost::urls::encode(text, boost::urls::unreserved_chars);
}

namespace {

// "https://lms.example.edu:443" for any URL on that origin; "" if unparseable.
std::string origin_of(const std::string& url) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u || !u->has_authority()) return "";
  std::string scheme(u->scheme());
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string host(u->encoded_host());
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string port = u->has_port() ? std::string(u->port()) : (scheme == "https" ? "443" : scheme == "http" ? "80" : "");
  return scheme + "://" + host + ":" + port;
}

}  // namespace

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
  if (roster_origin_.empty()) roster_origin_ = origin_of(page.container_id.empty() ? page.next.value_or("") : page.container_id);
  if (!page.next) return Step::done;
  if (std::string origin = origin_of(*page.next); origin.empty() || origin != roster_origin_) {
    return fail(FailureKind::protocol, "`next` points to " + (origin.empty() ? std::string("no valid URL") : origin) +
                                           ", not to the roster's origin " + roster_origin_ + " (page " +
                                           std::to_string(pages_) + "); refusing to follow it");
  }
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
