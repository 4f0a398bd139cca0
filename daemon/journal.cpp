#include "daemon/journal.hpp"

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sync/io/log_fields.hpp"

namespace rostersync::daemon {

namespace {

// Journald accepts big datagrams, but a log line this long is a bug's output;
// clip it instead of implementing the memfd fallback for huge entries.
constexpr std::size_t kMaxMessageBytes = 32 * 1024;

class JournalSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit JournalSink(std::string path) : path_(std::move(path)) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    addr_.sun_family = AF_UNIX;
    std::snprintf(addr_.sun_path, sizeof addr_.sun_path, "%s", path_.c_str());
  }
  ~JournalSink() override {
    if (fd_ >= 0) close(fd_);
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string text(msg.payload.data(), msg.payload.size());
    if (text.size() > kMaxMessageBytes) text.resize(kMaxMessageBytes);
    std::vector<std::pair<std::string, std::string>> fields = {
        {"MESSAGE", text},
        {"PRIORITY", std::to_string(journal_priority(msg.level))},
        {"SYSLOG_IDENTIFIER", "rostersync"},
    };
    const sync::LogFields run = sync::log_fields_of(std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    if (!run.job.empty()) fields.emplace_back("JOB", run.job);
    if (run.run_id != 0) fields.emplace_back("RUN_ID", std::to_string(run.run_id));
    for (const auto& field : sync::current_record_fields()) fields.push_back(field);
    std::string entry = encode_journal_entry(fields);
    bool sent = fd_ >= 0 && sendto(fd_, entry.data(), entry.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr_),
                                   sizeof addr_) == static_cast<ssize_t>(entry.size());
    if (!sent) {
      // The journal is away: stderr is its stream, so the line is not lost.
      std::fprintf(stderr, "<%d>%s\n", journal_priority(msg.level), text.c_str());
    }
  }
  void flush_() override {}

 private:
  std::string path_;
  sockaddr_un addr_{};
  int fd_ = -1;
};

}  // namespace

bool stderr_is_journal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (!env) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

int journal_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical: return 2;
    case spdlog::level::err: return 3;
    case spdlog::level::warn: return 4;
    case spdlog::level::info: return 6;
    default: return 7;  // debug, trace
  }
}

std::string encode_journal_entry(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [key, value] : fields) {
    if (value.find('\n') == std::string::npos) {
      out += key + "=" + value + "\n";
      continue;
    }
    out += key + "\n";
    std::uint64_t n = value.size();
    for (int i = 0; i < 8; ++i) out += static_cast<char>((n >> (8 * i)) & 0xff);
    out += value + "\n";
  }
  return out;
}

std::shared_ptr<spdlog::sinks::sink> make_journal_sink(std::string socket_path) {
  return std::make_shared<JournalSink>(std::move(socket_path));
}

}  // namespace rostersync::daemon
