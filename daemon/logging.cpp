// Where log records go: the journal (sd_journal_sendv, with PRIORITY, JOB and
// RUN_ID fields) when stderr is the journal stream, else colored or plain stderr.
#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "domain/text.hpp"
#include "daemon/commands.hpp"
#include "daemon/display_width.hpp"
#include "daemon/journal.hpp"
#include "daemon/progress.hpp"

namespace rostersync::daemon {

namespace {

// The status line: its text, and whether it is on screen now.
struct StatusLine {
  bool enabled = false;
  bool shown = false;
  std::string text;

  void erase() {
    if (!shown) return;
    std::fputs("\r\033[K", stderr);
    shown = false;
  }
  void draw() {
    if (!enabled || text.empty()) return;
    winsize size{};
    std::size_t columns = ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0 ? size.ws_col : 80;
    // One screen line, or the next redraw would leave the rest behind: at
    // most columns - 1 display columns, the "..." of a cut included.
    std::fputs(("\r\033[K" + fit_to_width(clip_for_message(text, text.size()), columns > 1 ? columns - 1 : 1)).c_str(),
               stderr);
    std::fflush(stderr);
    shown = true;
  }
};
StatusLine status_line;

// Terminal log records scroll above the status line.
class StatusAwareSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit StatusAwareSink(std::shared_ptr<spdlog::sinks::sink> inner) : inner_(std::move(inner)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    status_line.erase();
    inner_->log(msg);
    inner_->flush();
    status_line.draw();
  }
  void flush_() override { inner_->flush(); }
  void set_pattern_(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter_(std::unique_ptr<spdlog::formatter> formatter) override { inner_->set_formatter(std::move(formatter)); }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

}  // namespace

bool enable_status_line() {
  status_line.enabled = isatty(STDERR_FILENO) && !stderr_is_journal();
  return status_line.enabled;
}

void set_status_line(const std::string& text) {
  status_line.text = text;
  status_line.draw();
}

void clear_status_line() {
  status_line.erase();
  status_line.text.clear();
  std::fflush(stderr);
}

void setup_logging(const std::string& level) {
  std::shared_ptr<spdlog::logger> logger;
  if (stderr_is_journal()) {
    logger = std::make_shared<spdlog::logger>("rostersync", make_journal_sink());
  } else {
    // Colored level names on a terminal, plain text when redirected.
    logger = std::make_shared<spdlog::logger>(
        "rostersync", std::make_shared<StatusAwareSink>(std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
  logger->set_level(spdlog::level::from_str(level));
  spdlog::set_default_logger(logger);
}

void print_fatal(const std::string& message) {
  std::cerr << (stderr_is_journal() ? "<3>" : "") << "rostersync: " << message << "\n";
}

}  // namespace rostersync::daemon
