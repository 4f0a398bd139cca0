// One writer per state database, and how others can tell whether it runs.
//
// `sync` and `run` hold an exclusive flock on <state_db>.lock for their whole
// life: a second writer would plan the same creates twice in parallel. The
// operator views ask writer_running() so `status` can say whether the
// schedule it shows belongs to a live daemon.
#pragma once

#include <string>

namespace rostersync::daemon {

class WriterLock {
 public:
  // Throws store::StoreError when another process holds the lock.
  explicit WriterLock(const std::string& db_path);
  ~WriterLock();
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  std::string path_;
  int fd_ = -1;
};

// True while some process holds the writer lock of `db_path`. Never throws;
// false when the lock file does not exist or cannot be read.
bool writer_running(const std::string& db_path);

}  // namespace rostersync::daemon
