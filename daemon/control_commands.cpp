// `rostersync resync` and `rostersync retry`: short requests to a running
// daemon (over its control socket) and to the state database.
#include <iostream>

#include "daemon/commands.hpp"
#include "daemon/control.hpp"
#include "store/store.hpp"

namespace rostersync::daemon {

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
  // They go out at the job's next run; ask a running daemon for it now.
  Result<ControlReply> reply = cfg.control_socket.empty()
                                   ? Result<ControlReply>(fail(FailureKind::config, "no control socket"))
                                   : send_control_request(cfg.control_socket, ControlRequest{job}, std::chrono::seconds(10));
  if (reply && reply->ok) std::cout << "; the daemon resyncs now (" << reply->text << ")\n";
  else std::cout << "; they are sent at the next run (`rostersync sync` sends them now)\n";
  return kExitOk;
}

}  // namespace rostersync::daemon
