#!/usr/bin/env bash
# Installs the build into a scratch prefix and checks that every file lands
# where systemd and operators look for it.
set -euo pipefail
build="$1"
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
cmake --install "$build" --prefix "$dest/usr" >/dev/null
for f in usr/bin/rostersync usr/lib/systemd/system/rostersync.service usr/lib/sysusers.d/rostersync.conf \
         usr/lib/tmpfiles.d/rostersync.conf usr/lib/systemd/catalog/rostersync.catalog \
         usr/share/doc/rostersync/rostersync.example.yaml usr/bin/rostersync-sim \
         usr/share/man/man8/rostersync.8 usr/share/man/man5/rostersync.yaml.5 usr/share/man/man1/rostersync-sim.1 \
         usr/share/bash-completion/completions/rostersync \
         usr/share/rostersync/rostersync-alerts.yml usr/share/rostersync/rostersync-dashboard.json \
         usr/lib/systemd/system/rostersync@.service; do
  [ -e "$dest/$f" ] || { echo "check-install: missing $f" >&2; exit 1; }
done
grep -q "^ExecStart=$dest/usr/bin/rostersync " "$dest/usr/lib/systemd/system/rostersync.service" \
  || { echo "check-install: ExecStart does not point at the installed binary" >&2; exit 1; }
grep -q "^ExecReload=$dest/usr/bin/rostersync .* check-config --quiet" "$dest/usr/lib/systemd/system/rostersync.service" \
  || { echo "check-install: ExecReload does not validate with the installed binary" >&2; exit 1; }
"$dest/usr/bin/rostersync" --help >/dev/null
echo "check-install: ok"
