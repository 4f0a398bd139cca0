#include "daemon/writer_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "store/sqlite.hpp"

namespace rostersync::daemon {

WriterLock::WriterLock(const std::string& db_path) : path_(db_path + ".lock") {
  std::error_code ignored;
  const auto dir = std::filesystem::path(db_path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ignored);  // as the database itself would be
  fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd_ < 0) {
    const int err = errno;
    throw store::StoreError(path_ + ": cannot create the lock file beside state_db (" + db_path + "): " +
                            std::strerror(err) +
                            (err == EACCES || err == EROFS
                                 ? "; the user rostersync runs as must be able to write that directory"
                                 : err == ENOENT ? "; the directory of state_db does not exist and cannot be made" : ""));
  }
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    close(fd_);
    throw store::StoreError("another rostersync process is using state_db " + db_path + " (lock " + path_ +
                            " is held; `systemctl status rostersync` or `fuser " + path_ + "` shows which)");
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
