#include "daemon/journal.hpp"

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <systemd/sd-journal.h>

#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sync/io/log_fields.hpp"

namespace rostersync::daemon {

namespace {

class JournalSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit JournalSink(JournalWriter writer) : writer_(std::move(writer)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string text(msg.payload.data(), msg.payload.size());
    JournalFields fields = {
        {"MESSAGE", text},
        {"PRIORITY", std::to_string(journal_priority(msg.level))},
        {"SYSLOG_IDENTIFIER", "rostersync"},
    };
    const sync::LogFields run = sync::log_fields_of(std::string_view(msg.logger_name.data(), msg.logger_name.size()));
    if (!run.job.empty()) fields.emplace_back("JOB", run.job);
    if (run.run_id != 0) fields.emplace_back("RUN_ID", std::to_string(run.run_id));
    for (const auto& field : sync::current_record_fields()) fields.push_back(field);
    if (!writer_(fields)) {
      // The journal is away: stderr is its stream, so the line is not lost.
      std::fprintf(stderr, "<%d>%s\n", journal_priority(msg.level), text.c_str());
    }
  }
  void flush_() override {}

 private:
  JournalWriter writer_;
};

}  // namespace

JournalWriter libsystemd_journal_writer() {
  return [](const JournalFields& fields) {
    std::vector<std::string> lines;
    lines.reserve(fields.size());
    for (const auto& [key, value] : fields) lines.push_back(key + "=" + value);
    std::vector<iovec> iov(lines.size());
    for (std::size_t i = 0; i < lines.size(); ++i) iov[i] = {lines[i].data(), lines[i].size()};
    return sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0;
  };
}

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

std::shared_ptr<spdlog::sinks::sink> make_journal_sink(JournalWriter writer) {
  return std::make_shared<JournalSink>(std::move(writer));
}

}  // namespace rostersync::daemon
