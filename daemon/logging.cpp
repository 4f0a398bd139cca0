// Where log records go: the journal (native protocol, with PRIORITY, JOB and
// RUN_ID fields) when stderr is the journal stream, else colored or plain stderr.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>

#include "daemon/commands.hpp"
#include "daemon/journal.hpp"

namespace rostersync::daemon {

void setup_logging(const std::string& level) {
  std::shared_ptr<spdlog::logger> logger;
  if (stderr_is_journal()) {
    const char* path = std::getenv("ROSTERSYNC_JOURNAL_SOCKET");
    logger = std::make_shared<spdlog::logger>("rostersync", make_journal_sink(path && *path ? path : kJournalSocket));
  } else {
    // Colored level names on a terminal, plain text when redirected.
    logger = std::make_shared<spdlog::logger>("rostersync", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

void print_fatal(const std::string& message) {
  std::cerr << (stderr_is_journal() ? "<3>" : "") << "rostersync: " << message << "\n";
}

}  // namespace rostersync::daemon
