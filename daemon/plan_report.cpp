#include "daemon/plan_report.hpp"

#include <boost/json.hpp>

#include <string>

namespace rostersync::daemon {
namespace json = boost::json;

namespace {

json::object to_json(const PlannedWrite& w) {
  json::object o{{"membership_id", w.membership_id}, {"person_key", w.person_key}, {"role_type", w.role_type}};
  if (w.op == MembershipOp::create) o["new_id"] = w.is_new;
  if (w.op == MembershipOp::update) o["old_role"] = w.old_role;
  if (!w.reason.empty()) o["reason"] = w.reason;
  return o;
}

std::string line(const PlannedWrite& w) {
  std::string out = std::string("  ") + to_string(w.op) + "  " + w.person_key + "  ";
  if (w.op == MembershipOp::update) out += (w.old_role.empty() ? "?" : w.old_role) + " -> " + w.role_type;
  else if (w.op == MembershipOp::remove) out += w.reason;
  else out += w.role_type + (w.is_new ? "" : " (resend under its stored id)");
  return out + "  [" + w.membership_id + "]";
}

}  // namespace

void print_plan(std::ostream& out, const std::vector<sync::JobReport>& reports, bool as_json, int max_lines) {
  if (as_json) {
    json::array jobs;
    for (const auto& r : reports) {
      json::array writes[3];
      for (const auto& w : r.would_send) writes[static_cast<int>(w.op)].push_back(to_json(w));
      json::object o{{"job", r.job},
                     {"outcome", r.held ? "held" : to_string(r.outcome)},
                     {"error", r.error},
                     {"members", r.stats.members_seen},
                     {"creates", std::move(writes[0])},
                     {"updates", std::move(writes[1])},
                     {"deletes", std::move(writes[2])},
                     {"adopted", r.stats.adopted},
                     {"restored", r.stats.restored},
                     {"not_rostersyncs", r.stats.foreign},
                     {"deferred", r.stats.deferred},
                     {"skipped", r.stats.skipped_total()}};
      o["removals_held"] = r.removals_held.empty() ? json::value(nullptr) : json::value(r.removals_held);
      json::array held;
      for (const auto& w : r.held_writes) held.push_back(to_json(w));
      o["held"] = std::move(held);
      jobs.push_back(std::move(o));
    }
    out << json::serialize(json::object{{"dry_run", true}, {"jobs", std::move(jobs)}}) << "\n";
    return;
  }
  out << "plan (dry run: no write was sent and the state database is unchanged)\n";
  for (const auto& r : reports) {
    int counts[3] = {0, 0, 0};
    for (const auto& w : r.would_send) ++counts[static_cast<int>(w.op)];
    out << "\njob " << r.job << ": ";
    if (r.held || r.outcome != RunOutcome::ok) {
      out << (r.held ? "held" : to_string(r.outcome)) << (r.error.empty() ? "" : ": " + r.error) << "\n";
      if (r.would_send.empty()) continue;
    } else {
      out << r.stats.members_seen << " members\n";
    }
    out << "  " << counts[0] << " create(s), " << counts[1] << " update(s), " << counts[2] << " delete(s), "
        << r.stats.adopted << " adopted, " << r.stats.restored << " to restore, " << r.stats.already_present
        << " already right, " << r.stats.deferred << " deferred, " << r.stats.skipped_total() << " skipped\n";
    if (r.stats.foreign > 0) {
      out << "  " << r.stats.foreign << " membership(s) in the group are not rostersync's: kept, never deleted\n";
    }
    for (int op = 0; op < 3; ++op) {
      int shown = 0;
      for (const auto& w : r.would_send) {
        if (static_cast<int>(w.op) != op) continue;
        if (shown++ < max_lines) out << line(w) << "\n";
      }
      if (shown > max_lines) {
        out << "  ... and " << shown - max_lines << " more " << to_string(static_cast<MembershipOp>(op))
            << "(s) (--json lists all)\n";
      }
    }
    if (!r.removals_held.empty()) {
      out << "  guard: would hold, nothing of it sent: " << r.removals_held << "\n";
    }
    int shown = 0;
    for (const auto& w : r.held_writes) {
      if (shown++ < max_lines) out << "  held " << line(w).substr(2) << "\n";
    }
    if (shown > max_lines) out << "  ... and " << shown - max_lines << " more held (--json lists all)\n";
    if (!r.held_writes.empty()) {
      out << "  (held writes wait for `rostersync approve --job " << r.job
          << " --hold ID`; `rostersync status --job " << r.job << "` shows the ids)\n";
    }
  }
}

}  // namespace rostersync::daemon
