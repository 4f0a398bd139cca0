// `rostersync resync` and `rostersync retry`: short requests to a running
// daemon (over its control socket) and to the state database.
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


int cmd_approve(const config::Config& cfg, const std::string& job) {
  if (!configured_job(cfg, job)) return kExitConfig;
  std::optional<int> approved;
  std::optional<store::Store::RemovalHold> hold;
  try {
    store::Store db(cfg.state_db);
    hold = db.find_removal_hold(job);
    approved = db.approve_removals(job);
  } catch (const std::exception& e) {
    std::cerr << "rostersync: " << e.what() << "\n";
    return kExitRuntime;
  }
  if (!approved || !hold) {
    std::cerr << "rostersync: job " << job << " has no removals awaiting approval\n";
    return kExitJobFailed;
  }
  std::cout << "approved " << *approved << " deletion(s) for job " << job << " (held: " << hold->reason
            << "); members seen again before then keep their memberships";
  nudge_daemon(cfg, job, "they are deleted");
  return kExitOk;
}

int cmd_reject(const config::Config& cfg, const std::string& job) {
  if (!configured_job(cfg, job)) return kExitConfig;
  std::optional<int> rejected;
  try {
    store::Store db(cfg.state_db);
    rejected = db.reject_removals(job);
  } catch (const std::exception& e) {
    std::cerr << "rostersync: " << e.what() << "\n";
    return kExitRuntime;
  }
  if (!rejected) {
    std::cerr << "rostersync: job " << job << " has no removals awaiting approval\n";
    return kExitJobFailed;
  }
  std::cout << "rejected " << *rejected << " deletion(s) for job " << job
            << ": those memberships stay, and are not planned for deletion again until their members are seen again\n";
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
