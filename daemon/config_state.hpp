// What the daemon has applied of its configuration and course registry, and
// what waits for a person: the registry guard (config/registry_guard.hpp)
// applied to every read of the registry, the last reload's result, the
// refused course files. Kept in the state database's meta table for
// `status --check` and `confirm-registry`, shown in STATUS= and the metrics,
// so that a registry that shrinks or breaks is never a silent stop.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "store/store.hpp"

namespace rostersync::daemon {

class ConfigState {
 public:
  ConfigState(store::Store& db, std::int64_t started_unix) : db_(db), applied_unix_(started_unix) {}

  // Lets `fresh` run only the registry courses the guard allows against
  // the registry courses of `running` (none at start); logs what is kept
  // or waits, and records it with the jobs `fresh` now runs (what
  // `status --check` judges).
  void guard(const config::Config* running, config::Config& fresh);
  // A reload was refused (the running configuration stays), or applied.
  void reload_refused() { reload_ok_ = false; }
  void applied(std::int64_t unix_now) {
    reload_ok_ = true;
    applied_unix_ = unix_now;
  }
  // An operator confirmed a change this daemon has not used yet: read the registry again.
  bool confirmation_waiting();

  bool reload_ok() const { return reload_ok_; }
  std::int64_t applied_unix() const { return applied_unix_; }
  int refused_files() const { return refused_; }
  bool awaiting() const { return !awaiting_.empty(); }
  // "; 2 course file(s) refused (rostersync check-config)" and the like, for STATUS=.
  std::string status_note() const;

 private:
  store::Store& db_;
  bool reload_ok_ = true;
  std::int64_t applied_unix_;
  int refused_ = 0;
  std::string awaiting_;
  std::string change_id_;
  // The registry courses the last daemon recorded it ran, while a start
  // lacks some of them in a way that waits for a person
  // (config::absent_since_start); empty once back or confirmed.
  std::vector<store::DaemonJob> last_run_;
  std::string start_change_id_;

  void confirmation_used();
  // Returns the absent courses to keep in the recorded job list.
  std::vector<store::DaemonJob> check_since_start(bool starting, const config::Config& fresh,
                                                  const std::string& confirmed);
};

}  // namespace rostersync::daemon
