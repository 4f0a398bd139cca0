#include "daemon/writer_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "store/sqlite.hpp"

namespace rostersync::daemon {

WriterLock::WriterLock(const std::string& db_path) : path_(db_path + ".lock") {
  fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) throw store::StoreError(path_ + ": cannot create lock file");
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    close(fd_);
    throw store::StoreError("another rostersync process is using " + db_path + " (lock " + path_ + " is held)");
  }
}

WriterLock::~WriterLock() { close(fd_); }

bool writer_running(const std::string& db_path) {
  int fd = open((db_path + ".lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  close(fd);  // releases the shared lock if we got it
  return held;
}

}  // namespace rostersync::daemon
