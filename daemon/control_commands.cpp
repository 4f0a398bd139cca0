// `rostersync resync` and `rostersync retry`: short requests to a running
// daemon (over its control socket) and to the state database.
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "daemon/commands.hpp"
#include "daemon/control.hpp"
#include "store/store.hpp"

namespace rostersync::daemon {

namespace {

// A change the operator made goes out at the job's next run; a running
// daemon is asked for that run now.
void nudge_daemon(const config::Config& cfg, const std::optional<std::string>& job, const std::string& what) {
  Result<ControlReply> reply = cfg.control_socket.empty()
                                   ? Result<ControlReply>(fail(FailureKind::config, "no control socket"))
                                   : send_control_request(cfg.control_socket, ControlRequest{job}, std::chrono::seconds(10));
  if (reply && reply->ok) std::cout << "; the daemon resyncs now (" << reply->text << ")\n";
  else std::cout << "; " << what << " at the next run (`rostersync sync" << (job ? " --job " + *job : "") << "` now)\n";
}

const config::Job* configured_job(const config::Config& cfg, const std::string& job) {
  const config::Job* found = cfg.find_job(job);
  if (!found) std::cerr << "rostersync: no job named '" << job << "' in " << cfg.path << "\n";
  return found;
}

}  // namespace

int cmd_resync(const config::Config& cfg, const std::optional<std::string>& job) {
  if (cfg.control_socket.empty()) {
    std::cerr << "rostersync: control_socket is off in " << cfg.path
              << "; send SIGUSR1 instead (systemctl kill -s USR1 rostersync) to resync every job\n";
    return kExitConfig;
  }
  Result<ControlReply> reply = send_control_request(cfg.control_socket, ControlRequest{job}, std::chrono::seconds(10));
  if (!reply) {
    std::cerr << "rostersync: resync not delivered: " << reply.failure().message << "\n";
    return kExitRuntime;
  }
  if (!reply->ok) {
    std::cerr << "rostersync: the daemon refused the resync: " << reply->text << "\n";
    return kExitJobFailed;
  }
  std::cout << "delivered: " << reply->text << "\n";
  return kExitOk;
}

int cmd_retry(const config::Config& cfg, const std::optional<std::string>& job, const std::optional<std::string>& id) {
  if (job && !cfg.find_job(*job)) {
    std::cerr << "rostersync: no job named '" << *job << "' in " << cfg.path << "\n";
    return kExitConfig;
  }
  int requeued = 0;
  try {
    store::Store db(cfg.state_db);
    requeued = db.requeue_parked(job, id);
  } catch (const std::exception& e) {
    std::cerr << "rostersync: " << e.what() << "\n";
    return kExitRuntime;
  }
  std::cout << requeued << " item(s) back in the queue";
  if (requeued == 0) {
    std::cout << " (nothing parked or waiting" << (id ? " with id " + *id : "") << (job ? " in job " + *job : "") << ")\n";
    return kExitOk;
  }
  nudge_daemon(cfg, job, "they are sent");
  return kExitOk;
}


namespace {

// The invoking user, and the one behind sudo: what `approve` and `reject` record.
std::string invoking_user() {
  std::string who;
  if (const passwd* pw = getpwuid(getuid())) who = pw->pw_name;
  else who = "uid " + std::to_string(getuid());
  if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo && who != sudo) who += " (sudo by " + std::string(sudo) + ")";
  return who;
}

void print_hold(std::ostream& out, const store::WriteHold& h, const std::vector<store::HeldWrite>& writes, int max_lines) {
  out << "hold " << h.id << ": " << (h.kind == "empty_roster" ? "empty roster" : h.kind) << " in group "
      << h.hierarchy_id << " (target " << h.target << "), since " << h.since << ": " << h.reason << "\n";
  int shown = 0;
  for (const auto& w : writes) {
    if (shown++ < max_lines) out << "  " << w.kind << "  " << w.person_key << "  " << w.reason << "  [" << w.membership_id << "]\n";
  }
  if (shown > max_lines) out << "  ... and " << shown - max_lines << " more (`rostersync status --job NAME` lists all)\n";
}

}  // namespace

int cmd_decide(const config::Config& cfg, const std::string& job, const std::optional<std::string>& hold_id,
               bool approve, const std::string& reason) {
  if (!configured_job(cfg, job)) return kExitConfig;
  const char* verb = approve ? "approve" : "reject";
  try {
    store::Store db(cfg.state_db);
    if (!hold_id) {
      std::vector<store::WriteHold> holds = db.write_holds(job);
      if (holds.empty()) {
        std::cerr << "rostersync: job " << job << " has no writes awaiting approval\n";
        return kExitJobFailed;
      }
      // A person approves what they were shown, nothing a later run adds: the id names the set.
      std::cout << "job " << job << ": " << holds.size() << " hold(s) awaiting a decision; nothing was " << verb
                << "d.\n";
      for (const auto& h : holds) print_hold(std::cout, h, db.held_writes(h.target, h.hierarchy_id, h.kind), 20);
      std::cout << "to " << verb << " exactly one of these sets: rostersync " << verb << " --job " << job
                << " --hold ID [--reason TEXT]\n";
      return kExitJobFailed;
    }
    auto decided = db.decide_hold(job, *hold_id, approve, invoking_user(), reason);
    if (auto* why = std::get_if<std::string>(&decided)) {
      std::cerr << "rostersync: nothing " << verb << "d: " << *why << "\n";
      return kExitJobFailed;
    }
    const auto& d = std::get<store::Store::HoldDecision>(decided);
    const std::string& kind = d.hold.kind;
    std::cout << verb << "d hold " << d.hold.id << " of job " << job << ": ";
    if (kind == "empty_roster") {
      std::cout << (approve ? "the job's empty roster counts from its next walk (departures after departure_grace "
                              "walks, behind the deletion guards)"
                            : "the empty walk is not counted; the next empty walk is held again") ;
    } else if (kind == "delete") {
      std::cout << d.writes << " deletion(s) "
                << (approve ? "go at the next run of a job of the group (persons seen again by then keep theirs)"
                            : "dropped: those memberships stay until their persons are seen again and leave again");
    } else {
      std::cout << d.writes << " restore(s) "
                << (approve ? "are created again at the next run"
                            : "dropped: those memberships stay removed until their persons leave every roster of the "
                              "group and come back");
    }
    if (!approve) {
      std::cout << "\n";
      return kExitOk;
    }
  } catch (const std::exception& e) {
    std::cerr << "rostersync: " << e.what() << "\n";
    return kExitRuntime;
  }
  nudge_daemon(cfg, job, "that happens");
  return kExitOk;
}

int cmd_confirm_registry(const config::Config& cfg, const std::optional<std::string>& id) {
  try {
    store::Store db(cfg.state_db);
    const std::string waiting = db.meta("registry_change_id");
    const std::string what = db.meta("registry_awaiting");
    if (waiting.empty()) {
      std::cerr << "rostersync: no registry change awaits confirmation; nothing confirmed\n";
      return kExitJobFailed;
    }
    if (!id) {
      std::cout << "registry change " << waiting << " awaits confirmation: " << what << "\nnothing was confirmed; "
                << "to apply exactly this change: rostersync confirm-registry --id " << waiting << "\n";
      return kExitJobFailed;
    }
    if (*id != waiting) {
      std::cerr << "rostersync: nothing confirmed: the change awaiting confirmation is " << waiting << ", not " << *id
                << " (the registry changed since it was shown; `rostersync confirm-registry` shows it now)\n";
      return kExitJobFailed;
    }
    db.transaction([&] {
      db.set_meta("registry_confirmed_id", waiting);
      db.set_meta("registry_confirmed_by", invoking_user());
      db.set_meta("registry_confirmed_what", what);
    });
  } catch (const std::exception& e) {
    std::cerr << "rostersync: " << e.what() << "\n";
    return kExitRuntime;
  }
  std::cout << "confirmed registry change " << *id << "; the daemon applies it at its next look at the registry "
            << "(within registry.poll_interval, or at once with `systemctl reload rostersync`)\n";
  return kExitOk;
}

int cmd_adopt(const config::Config& cfg, const std::string& job) {
  const config::Job* found = configured_job(cfg, job);
  if (!found) return kExitConfig;
  try {
    store::Store db(cfg.state_db);
    db.forget_group_reads(job, found->target);
  } catch (const std::exception& e) {
    std::cerr << "rostersync: " << e.what() << "\n";
    return kExitRuntime;
  }
  std::cout << "job " << job << ": its group is read (readMembershipsForGroup) and its memberships adopted";
  nudge_daemon(cfg, job, "that happens");
  return kExitOk;
}

}  // namespace rostersync::daemon
