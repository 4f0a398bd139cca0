// libFuzzer target: the configuration loader.
//
// Any text must either load or be refused with a ConfigError naming the
// file; no other exception, crash or hang. The secrets the shipped example
// names exist in a scratch credentials directory, so valid inputs get past
// secret loading into the deeper checks.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"

namespace fs = std::filesystem;
using namespace rostersync::config;

namespace {
std::string g_base_dir;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  char pattern[] = "/tmp/rostersync-fuzz-config-XXXXXX";
  if (!mkdtemp(pattern)) std::abort();
  g_base_dir = pattern;
  for (const char* name : {"ltiaas-api-key", "imses-password", "service-keys_cps435", "api.key", "pw", "svc.key"}) {
    std::ofstream(fs::path(g_base_dir) / name) << "not-a-real-secret\n";
  }
  setenv("CREDENTIALS_DIRECTORY", g_base_dir.c_str(), 1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  try {
    Config cfg = load_string(yaml, "fuzz.yaml", g_base_dir);
    if (cfg.jobs.empty() || cfg.sources.empty() || cfg.targets.empty()) std::abort();  // load promises all three
  } catch (const ConfigError& e) {
    if (std::string(e.what()).rfind("fuzz.yaml", 0) != 0) std::abort();  // every message names the file
  }
  return 0;
}
