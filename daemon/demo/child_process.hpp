// A child process with its stdout on a pipe: used by `rostersync demo` to run
// the simulator, and by the integration tests to run the real binaries.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace rostersync::daemon {

class ChildProcess {
 public:
  // Starts argv[0] (a path) with the given arguments; with capture_stderr,
  // stderr joins stdout on the pipe. Throws std::runtime_error.
  explicit ChildProcess(const std::vector<std::string>& argv, bool capture_stdout = true, bool capture_stderr = false);
  ~ChildProcess();  // SIGKILLs and reaps a child still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Reads one line from the child's stdout; nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);

  void signal(int signo);
  // Waits for exit; returns the exit status (128+signal if killed), or
  // nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string pending_;
  std::optional<int> status_;
};

// Path of the running executable's directory.
std::string self_dir();

}  // namespace rostersync::daemon
