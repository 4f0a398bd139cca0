// `rostersync demo`: the whole pipeline against the local simulator with a
// throwaway configuration. Not part of the product library: it needs the
// simulator binary and the child-process helper, which only it and the
// integration tests use.
#pragma once

#include <string>

namespace rostersync::daemon {

struct DemoOptions {
  int contexts = 4;
  int members = 250;
  std::string workdir;  // "" = a fresh directory under /tmp
  // Where the rosters come from: "ltiaas" (the LTIAAS API) or "platform"
  // (the LMS's own NRPS, with an OAuth2 token from a freshly made tool key).
  std::string source = "ltiaas";
};

// `rostersync demo`: simulator + throwaway config, two passes, a summary.
int run_demo(const DemoOptions& options);

}  // namespace rostersync::daemon
