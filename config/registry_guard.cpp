#include "config/registry_guard.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "domain/digest.hpp"

namespace rostersync::config {

std::vector<Job> registry_courses(const Config& config) {
  std::vector<Job> out;
  for (const Job& j : config.jobs) {
    if (!j.origin.empty()) out.push_back(j);
  }
  return out;
}

void use_registry_courses(Config& config, std::vector<Job> courses) {
  std::erase_if(config.jobs, [](const Job& j) { return !j.origin.empty(); });
  for (Job& j : courses) config.jobs.push_back(std::move(j));
}

namespace {

std::string id_of(const std::vector<std::string>& removed, bool unreadable) {
  std::uint64_t digest = hash64(unreadable ? "registry unreadable" : "registry shrinks");
  for (const std::string& name : removed) digest = hash64(name + "\n", digest);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%012llx", static_cast<unsigned long long>(digest & 0xffffffffffffULL));
  return buf;
}

std::string some_names(const std::vector<std::string>& names) {
  std::string out;
  const std::size_t shown = std::min<std::size_t>(names.size(), 5);
  for (std::size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > shown) out += " and " + std::to_string(names.size() - shown) + " more";
  return out;
}

}  // namespace

namespace {

bool too_many_removed(int removed, int before, const RegistrySettings& limits) {
  return removed > limits.max_removed_courses &&
         static_cast<long long>(removed) * 100 > static_cast<long long>(limits.max_removed_percent) * before;
}

}  // namespace

AbsentSinceStart absent_since_start(const std::vector<std::string>& last_run, const Config& fresh,
                                    const std::string& confirmed_id) {
  AbsentSinceStart out;
  std::set<std::string> now;
  for (const Job& j : fresh.jobs) {
    if (!j.origin.empty()) now.insert(j.name);
  }
  for (const std::string& name : last_run) {
    if (!now.count(name)) out.absent.push_back(name);
  }
  std::sort(out.absent.begin(), out.absent.end());
  out.absent.erase(std::unique(out.absent.begin(), out.absent.end()), out.absent.end());
  const bool unreadable = !fresh.registry_unreadable.empty();
  const int before = static_cast<int>(last_run.size()), removed = static_cast<int>(out.absent.size());
  if (removed == 0 || !(unreadable || now.empty() || too_many_removed(removed, before, fresh.registry))) return out;
  out.change_id = id_of(out.absent, unreadable);
  if (confirmed_id == out.change_id) return out;
  out.awaiting = (unreadable ? fresh.registry_unreadable + ": " : std::string("the registry lacks ")) +
                 std::to_string(removed) + " of the " + std::to_string(before) +
                 " courses the daemon ran before this start (" + some_names(out.absent) +
                 "); they cannot run (a start keeps no course definitions) until their files are back, or until "
                 "`rostersync confirm-registry --id " + out.change_id + "` confirms their removal";
  return out;
}

RegistryMerge merge_registry(const std::vector<Job>& running, const Config& fresh, const std::string& confirmed_id) {
  RegistryMerge out;
  const bool unreadable = !fresh.registry_unreadable.empty();
  const std::set<std::string> refused(fresh.refused_files.begin(), fresh.refused_files.end());
  std::vector<Job> proposed;
  if (!unreadable) {
    std::set<std::string> names;
    for (const Job& j : fresh.jobs) {
      if (j.origin.empty() || refused.count(origin_file(j))) continue;
      names.insert(j.name);
      proposed.push_back(j);
    }
    // A refused file's courses run as they last did, unless a good file now defines them.
    for (const Job& j : running) {
      if (!refused.count(origin_file(j)) || names.count(j.name)) continue;
      names.insert(j.name);
      proposed.push_back(j);
      out.kept.push_back("course " + j.name + " keeps its last good definition (" + origin_file(j) +
                         " has an error and is not applied)");
    }
  }
  // In file order, as read_registry() gives them: a kept course sits where its file is.
  std::stable_sort(proposed.begin(), proposed.end(),
                   [](const Job& a, const Job& b) { return origin_file(a) < origin_file(b); });
  std::set<std::string> staying;
  for (const Job& j : proposed) staying.insert(j.name);
  std::vector<std::string> removed;
  for (const Job& j : running) {
    if (!staying.count(j.name)) removed.push_back(j.name);
  }
  std::sort(removed.begin(), removed.end());
  out.removed = static_cast<int>(removed.size());
  const int before = static_cast<int>(running.size());
  const RegistrySettings& limits = fresh.registry;
  const bool too_many = too_many_removed(out.removed, before, limits);
  const bool waits = before > 0 && (unreadable || proposed.empty() || too_many);
  if (waits) {
    out.change_id = id_of(removed, unreadable);
    if (confirmed_id == out.change_id) {
      out.courses = std::move(proposed);
      return out;
    }
    if (unreadable) {
      out.awaiting = fresh.registry_unreadable + "; the " + std::to_string(before) +
                     " running courses keep running";
    } else {
      out.awaiting = "the registry would remove " + std::to_string(out.removed) + " of " + std::to_string(before) +
                     " courses at once (" + some_names(removed) + "); nothing of it is applied";
    }
    out.awaiting += " until `rostersync confirm-registry --id " + out.change_id + "` confirms it";
    out.courses = running;
    out.kept.clear();
    return out;
  }
  out.courses = std::move(proposed);
  return out;
}

}  // namespace rostersync::config
