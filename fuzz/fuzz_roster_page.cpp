// libFuzzer target: an NRPS/LTIAAS roster page as it arrives off the wire.
//
// The body goes through the page parser, the error-body describer, the diff
// planner and the pager. None may crash, hang or read out of bounds, and each
// must keep its promises (checked below) whatever the peer sends: members
// have an id, planned creates carry valid ids and XML-safe text, every member
// is accounted for once, the page cap holds, every message is safe to log,
// and the streaming parser reads exactly what the tree-based oracle reads.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "domain/text.hpp"
#include "sync/imses/membership_id.hpp"
#include "sync/ltiaas/error_body.hpp"
#include "sync/ltiaas/pager.hpp"
#include "sync/nrps/container.hpp"
#include "sync/planning/planner.hpp"
#include "message_safety.hpp"
#include "roster_page_oracle.hpp"

using namespace rostersync;
using namespace rostersync::sync;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  if (!rostersync::fuzz::message_safe(describe_error_body(400, body))) std::abort();

  auto page = parse_roster_page(body);
  auto oracle = rostersync::testing::parse_roster_page_as_tree(body);
  if (page.ok() != oracle.ok()) std::abort();
  if (!page.ok()) {
    if (!rostersync::fuzz::message_safe(page.failure().message)) std::abort();
    if (page.failure().message != oracle.failure().message) std::abort();
    return 0;
  }
  if (page->members.size() != oracle->members.size() || page->malformed_members != oracle->malformed_members ||
      page->next != oracle->next || page->context_id != oracle->context_id ||
      page->context_label != oracle->context_label || page->container_id != oracle->container_id) {
    std::abort();
  }
  for (std::size_t i = 0; i < page->members.size(); ++i) {
    const Member &a = page->members[i], &b = oracle->members[i];
    if (a.user_id != b.user_id || a.roles != b.roles || a.status != b.status || a.lis_person_sourcedid != b.lis_person_sourcedid ||
        a.email != b.email || a.name != b.name) {
      std::abort();
    }
  }
  for (const Member& m : page->members) {
    if (m.user_id.empty()) std::abort();  // the parser promises a user id (roles may be empty)
  }

  // The planner turns peer data into what goes into the SOAP body: every
  // create must carry a valid id and XML-safe text, and every member must be
  // accounted for exactly once.
  rostersync::config::Job job;
  job.name = "fuzz";
  job.hierarchy_id = "h-1";
  for (auto field : {rostersync::config::PersonKeyField::lis_person_sourcedid, rostersync::config::PersonKeyField::user_id}) {
    job.person_key = field;
    PagePlan plan = plan_page(*page, plan_options(job), 1, [](const std::vector<std::string>& keys) {
      return std::vector<std::optional<StoredMembership>>(keys.size());
    });
    int accounted = static_cast<int>(plan.writes.size()) + plan.already_present + plan.deferred;
    for (int n : plan.skipped) accounted += n;
    if (accounted != plan.members) std::abort();
    for (const PlannedWrite& c : plan.writes) {
      if (c.membership_id.empty() || c.membership_id.size() > rostersync::sync::kMaxMembershipIdLength) std::abort();
      if (!is_xml_safe(c.membership_id) || !is_xml_safe(c.person_key) || c.person_key.empty()) std::abort();
      if (c.role_type.empty()) std::abort();
    }
  }

  PagerSettings settings;
  settings.base_url = "https://school.ltiaas.com";
  settings.max_pages = 3;
  settings.max_members = 1000;
  LtiaasPager pager(settings);
  // The same page twice: a `next` must either end the walk, advance it, or
  // (repeated) be refused as a loop; never more pages than the cap.
  for (int i = 0; i < 4; ++i) {
    auto step = pager.on_page(*page);
    if (!step.ok()) {
      if (!rostersync::fuzz::message_safe(step.failure().message)) std::abort();
      break;
    }
    if (*step == LtiaasPager::Step::done) break;
    if (pager.pages() > settings.max_pages) std::abort();
  }
  return 0;
}
