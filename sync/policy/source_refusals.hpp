// Whose key is wrong when LTIAAS answers 401: the request carries two keys
// (SERVICE-AUTH-V1 <API key>:<service key>) and the answer does not say
// which it refused. One job refused is that job's service key (a job hold);
// several jobs of one source refused while none of its pages was accepted
// is the source's API key: one source hold naming api_key_file, not one hold
// per job repeating the same 401.
//
// Pure state per source, fed by the engine with every accepted page and
// every 401; unit-tested with replayed sequences.
#pragma once

#include <set>
#include <string>

namespace rostersync::sync {

class SourceRefusals {
 public:
  // A page of this source was accepted: its API key works.
  void accepted() {
    refused_.clear();
    accepted_ = true;
  }
  // `job` was refused with 401. True when the source should be held: at
  // least two of its jobs refused and no page accepted since the first.
  bool refused(const std::string& job) {
    if (refused_.empty()) accepted_ = false;
    refused_.insert(job);
    return !accepted_ && refused_.size() >= kJobsThatBlameTheSource;
  }
  std::size_t jobs_refused() const { return refused_.size(); }
  const std::set<std::string>& jobs() const { return refused_; }

  static constexpr std::size_t kJobsThatBlameTheSource = 2;

 private:
  std::set<std::string> refused_;
  bool accepted_ = false;
};

}  // namespace rostersync::sync
