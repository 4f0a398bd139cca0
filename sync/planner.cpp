#include "sync/planner.hpp"

#include <unordered_set>

#include "sync/membership_id.hpp"
#include "sync/roles.hpp"

namespace rostersync::sync {

const char* to_string(SkipReason r) {
  switch (r) {
    case SkipReason::inactive: return "inactive";
    case SkipReason::test_user: return "test_user";
    case SkipReason::no_person_key: return "no_person_key";
    case SkipReason::invalid_person_key: return "invalid_person_key";
    case SkipReason::unmapped_role: return "unmapped_role";
    case SkipReason::malformed: return "malformed";
    case SkipReason::count_: break;
  }
  return "unknown";
}

const char* to_string(MembershipState s) {
  switch (s) {
    case MembershipState::created: return "created";
    case MembershipState::failed: return "failed";
    default: return "pending";
  }
}

bool is_xml_safe(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
      ++i;
      continue;
    }
    std::size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > n) return false;
    std::uint32_t cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    if (overlong || surrogate || cp > 0x10FFFF || cp == 0xFFFE || cp == 0xFFFF) return false;
    i += len;
  }
  return true;
}

Classification classify(const Member& member, const config::Job& job) {
  Classification c;
  const std::string* key = &member.lis_person_sourcedid;
  if (job.person_key == config::PersonKeyField::user_id) key = &member.user_id;
  if (job.person_key == config::PersonKeyField::email) key = &member.email;
  if (!key->empty()) c.person_key = job.person_key_prefix + *key;

  if (!member.active) {
    c.reason = SkipReason::inactive;
  } else if (job.skip_test_users && has_test_user_role(member.roles)) {
    c.reason = SkipReason::test_user;
  } else if (key->empty()) {
    c.reason = SkipReason::no_person_key;
  } else if (!is_xml_safe(c.person_key) || c.person_key.size() > 255) {
    c.reason = SkipReason::invalid_person_key;
  } else if (auto role = map_roles(member.roles, job.role_map)) {
    c.eligible = true;
    c.role_type = std::move(*role);
  } else {
    c.reason = SkipReason::unmapped_role;
  }
  return c;
}

PagePlan plan_page(const RosterPage& page, const config::Job& job, std::int64_t run_id, const MembershipLookup& lookup) {
  PagePlan plan;
  plan.members = static_cast<int>(page.members.size()) + page.malformed_members;
  plan.skipped[static_cast<std::size_t>(SkipReason::malformed)] += page.malformed_members;
  std::unordered_set<std::string> planned_on_page;  // a page may repeat a person too

  for (const Member& m : page.members) {
    Classification c = classify(m, job);
    SnapshotRow row;
    row.user_id = m.user_id;
    row.person_key = is_xml_safe(c.person_key) ? c.person_key : std::string();
    for (const auto& r : m.roles) row.roles += (row.roles.empty() ? "" : " ") + r;
    row.status = m.status.empty() ? "Active" : m.status;
    row.outcome = c.eligible ? "eligible" : to_string(c.reason);
    plan.snapshot.push_back(std::move(row));

    if (!c.eligible) {
      ++plan.skipped[static_cast<std::size_t>(c.reason)];
      continue;
    }
    if (!planned_on_page.insert(c.person_key).second) {
      ++plan.already_present;
      continue;
    }
    std::optional<StoredMembership> stored = lookup(c.person_key);
    if (!stored) {
      plan.creates.push_back({membership_id(c.person_key, job.hierarchy_id), c.person_key, c.role_type, true});
    } else if (stored->state == MembershipState::created || stored->queued_run == run_id) {
      ++plan.already_present;
    } else if (stored->state == MembershipState::failed || stored->waiting) {
      ++plan.deferred;
    } else {
      plan.creates.push_back({stored->membership_id, c.person_key, c.role_type, false});
    }
  }
  return plan;
}

}  // namespace rostersync::sync
