#!/usr/bin/env bash
# The arrows point only downward: daemon -> sync -> store -> config -> domain,
# and the domain vocabulary (domain/) includes nothing of the project at all.
# Fails naming every include that points the wrong way.
set -euo pipefail
root="${1:?usage: check-layers.sh SOURCE_DIR}"
cd "$root"
bad=0
check() {  # check DIR FORBIDDEN_PREFIX...
  local dir=$1; shift
  for prefix in "$@"; do
    if hits=$(grep -rnE "#include \"${prefix}/" "$dir" --include='*.hpp' --include='*.cpp'); then
      echo "layering: $dir must not include ${prefix}/:"; echo "$hits"; bad=1
    fi
  done
}
# domain/: only itself.
if hits=$(grep -rnE '#include "(config/|store/|sync/|daemon/|sim/)' domain); then
  echo "layering: domain/ must include only domain/:"; echo "$hits"; bad=1
fi
check config store sync daemon sim
check store sync daemon sim
check sync daemon sim
# The sans-I/O rooms of sync never reach into its I/O shell.
for room in nrps ltiaas imses planning policy machines; do check "sync/$room" sync/io; done
exit $bad
