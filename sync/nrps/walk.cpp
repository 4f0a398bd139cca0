#include "sync/nrps/walk.hpp"

#include "domain/text.hpp"

namespace rostersync::sync {

Result<WalkStep> RosterWalk::on_page(const RosterPage& page) {
  ++pages_;
  members_ += static_cast<int>(page.members.size()) + page.malformed_members;
  if (members_ > limits_.max_members) {
    return fail(FailureKind::limit, "member cap of " + std::to_string(limits_.max_members) + " exceeded after " +
                                        std::to_string(pages_) + " pages");
  }
  if (allowed_origin_.empty()) allowed_origin_ = url_origin(page.container_id.empty() ? page.next.value_or("") : page.container_id);
  if (!page.next) return WalkStep::done;
  if (std::string origin = url_origin(*page.next); origin.empty() || origin != allowed_origin_) {
    return fail(FailureKind::protocol, "`next` points to " + (origin.empty() ? std::string("no valid URL") : origin) +
                                           ", not to the roster's origin " + allowed_origin_ + " (page " +
                                           std::to_string(pages_) + "); refusing to follow it");
  }
  if (!seen_next_.insert(*page.next).second) {
    return fail(FailureKind::protocol,
                "`next` repeats an already visited page (" + redact_url(*page.next) + ") after " + std::to_string(pages_) + " pages");
  }
  if (pages_ >= limits_.max_pages) {
    return fail(FailureKind::limit, "page cap of " + std::to_string(limits_.max_pages) + " reached with more pages left");
  }
  return WalkStep::more;
}

}  // namespace rostersync::sync
