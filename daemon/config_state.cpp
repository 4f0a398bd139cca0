#include "daemon/config_state.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "config/registry_guard.hpp"

namespace rostersync::daemon {

void ConfigState::guard(const config::Config* running, config::Config& fresh) {
  std::string confirmed;
  try {
    confirmed = db_.meta("registry_confirmed_id");
  } catch (const std::exception& e) {
    spdlog::warn("registry: confirmations not read: {}", e.what());
  }
  config::RegistryMerge merge =
      config::merge_registry(running ? config::registry_courses(*running) : std::vector<config::Job>{}, fresh, confirmed);
  for (const std::string& kept : merge.kept) spdlog::warn("registry: {}", kept);
  if (!merge.awaiting.empty() && merge.change_id != change_id_) {
    spdlog::error("registry: {}", merge.awaiting);
  } else if (merge.awaiting.empty() && !merge.change_id.empty()) {
    spdlog::warn("registry: the confirmed change {} is applied: {} course(s) removed", merge.change_id, merge.removed);
    confirmation_used();
  }
  config::use_registry_courses(fresh, std::move(merge.courses));
  refused_ = static_cast<int>(fresh.refused_files.size()) + (fresh.registry_unreadable.empty() ? 0 : 1);
  awaiting_ = merge.awaiting;
  change_id_ = merge.awaiting.empty() ? "" : merge.change_id;
  const std::vector<store::DaemonJob> absent = check_since_start(running == nullptr, fresh, confirmed);
  try {
    std::string refused = fresh.registry_unreadable;
    for (const std::string& f : fresh.refused_files) refused += (refused.empty() ? "" : "\n") + f;
    db_.set_meta("registry_refused_files", refused);
    std::string errors;
    for (const std::string& e : fresh.registry_errors) errors += (errors.empty() ? "" : "\n") + e;
    db_.set_meta("registry_errors", errors);
    db_.set_meta("registry_awaiting", awaiting_);
    db_.set_meta("registry_change_id", change_id_);
  } catch (const std::exception& e) {
    spdlog::warn("registry: its state not recorded: {}", e.what());
  }
  try {  // what `status --check` judges, without reading the registry itself
    std::vector<store::DaemonJob> jobs = absent;  // judged until back or confirmed
    for (const config::Job& j : fresh.jobs) jobs.push_back({{j.name, j.target, j.hierarchy_id, j.source, j.origin}, j.interval});
    db_.record_daemon_jobs(jobs);
  } catch (const std::exception& e) {
    spdlog::warn("the daemon's job list not recorded for status --check: {}", e.what());
  }
}

std::vector<store::DaemonJob> ConfigState::check_since_start(bool starting, const config::Config& fresh,
                                                             const std::string& confirmed) {
  if (starting) {
    try {
      for (store::DaemonJob& j : db_.recorded_daemon_jobs()) {
        if (!j.ref.origin.empty()) last_run_.push_back(std::move(j));
      }
    } catch (const std::exception& e) {
      spdlog::warn("registry: the courses the last daemon ran not read: {}", e.what());
    }
  }
  if (last_run_.empty()) return {};
  std::vector<std::string> names;
  for (const store::DaemonJob& j : last_run_) names.push_back(j.ref.name);
  const config::AbsentSinceStart check = config::absent_since_start(names, fresh, confirmed);
  if (check.awaiting.empty()) {
    if (!check.change_id.empty()) {
      spdlog::warn("registry: the confirmed change {} is applied: {} course(s) the daemon ran before its start are "
                   "removed", check.change_id, check.absent.size());
      confirmation_used();
    } else if (starting && !check.absent.empty()) {
      std::string list;
      for (const std::string& n : check.absent) list += (list.empty() ? "" : ", ") + n;
      spdlog::warn("registry: {} course(s) the daemon ran before this start are not run now ({}): their files are "
                   "refused or gone, and a start keeps no course definitions", check.absent.size(), list);
    }
    last_run_.clear();
    return {};
  }
  if (check.change_id != start_change_id_) spdlog::error("registry: {}", check.awaiting);
  start_change_id_ = check.change_id;
  if (awaiting_.empty()) {  // a change while running waits too: that one is confirmed first
    awaiting_ = check.awaiting;
    change_id_ = check.change_id;
  }
  std::vector<store::DaemonJob> absent;
  for (const store::DaemonJob& j : last_run_) {
    if (std::binary_search(check.absent.begin(), check.absent.end(), j.ref.name)) absent.push_back(j);
  }
  return absent;
}

// A confirmation is used once: the same change months later needs its own.
void ConfigState::confirmation_used() {
  try {
    db_.set_meta("registry_confirmed_id", "");
  } catch (const std::exception& e) {
    spdlog::warn("registry: the used confirmation not cleared: {}", e.what());
  }
}

bool ConfigState::confirmation_waiting() {
  if (change_id_.empty()) return false;
  try {
    return db_.meta("registry_confirmed_id") == change_id_;
  } catch (const std::exception&) {
    return false;
  }
}

std::string ConfigState::status_note() const {
  std::string note;
  if (!reload_ok_) note += "; the last reload was refused (journalctl -u rostersync)";
  if (refused_ > 0) note += "; " + std::to_string(refused_) + " course file(s) refused (rostersync check-config)";
  if (!awaiting_.empty()) note += "; a registry change awaits confirmation (rostersync confirm-registry)";
  return note;
}

}  // namespace rostersync::daemon
