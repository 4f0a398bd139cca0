// rostersync: provisions LTI (NRPS/LTIAAS) course rosters into itslearning
// memberships over IMS Enterprise Services. Command-line entry point.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <iostream>

#include "config/config.hpp"
#include "daemon/commands.hpp"

using namespace rostersync;

int main(int argc, char** argv) {
  CLI::App app{"rostersync: provisions LTI course rosters into itslearning memberships (IMS-ES)"};
  app.require_subcommand(1);
  std::string config_path = config::kDefaultConfigPath;
  std::string log_level;
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  app.add_option("--log-level", log_level, "override log_level: trace, debug, info, warn, error, critical, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.fallthrough();

  auto* run = app.add_subcommand("run", "Run every job on its interval until SIGTERM or SIGINT");
  auto* sync = app.add_subcommand("sync", "Run one pass over the jobs; exit 0 only if every job ended ok");
  std::optional<std::string> job;
  sync->add_option("--job", job, "run only this job");
  auto* demo = app.add_subcommand("demo", "Run the pipeline against the local simulator with a throwaway config");
  daemon::DemoOptions demo_options;
  demo->add_option("--courses", demo_options.contexts, "courses to simulate")->check(CLI::Range(1, 1000));
  demo->add_option("--members", demo_options.members, "members per course")->check(CLI::Range(10, 100000));
  demo->add_option("--dir", demo_options.workdir, "directory for the demo's config and state (default: new under /tmp)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : daemon::kExitConfig;
  }

  if (demo->parsed()) {
    daemon::setup_logging(log_level.empty() ? "warn" : log_level);
    return daemon::run_demo(demo_options);
  }

  config::Config cfg;
  try {
    cfg = config::load_file(config_path);
  } catch (const config::ConfigError& e) {
    std::cerr << "rostersync: configuration error: " << e.what() << "\n";
    return daemon::kExitConfig;
  }
  daemon::setup_logging(log_level.empty() ? cfg.log_level : log_level);
  if (sync->parsed()) return daemon::sync_once(cfg, job, isatty(STDERR_FILENO) && spdlog::get_level() > spdlog::level::info);
  if (run->parsed()) return daemon::run_daemon(cfg);
  return daemon::kExitConfig;
}
