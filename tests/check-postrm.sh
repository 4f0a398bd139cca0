#!/usr/bin/env bash
# The package's postrm on a scratch root (DPKG_ROOT): remove deletes only the
# node_exporter textfile that would go stale; purge backs the state database
# up to /var/backups (the only copy of the membership ids) before deleting
# the service's directories, and says where.
set -euo pipefail
src="${1:?usage: check-postrm.sh SOURCE_DIR}"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail() { echo "check-postrm: $*" >&2; exit 1; }
mkdir -p "$root/var/lib/rostersync" "$root/etc/rostersync/courses.d" "$root/var/lib/prometheus/node-exporter"
printf 'db' > "$root/var/lib/rostersync/state.db"
printf 'wal' > "$root/var/lib/rostersync/state.db-wal"
printf 'x 1\n' > "$root/var/lib/prometheus/node-exporter/rostersync.prom"
printf 'y 1\n' > "$root/var/lib/prometheus/node-exporter/other.prom"

DPKG_ROOT="$root" sh "$src/debian/rostersync.postrm" remove
[ ! -e "$root/var/lib/prometheus/node-exporter/rostersync.prom" ] || fail "remove left the stale rostersync.prom"
[ -e "$root/var/lib/prometheus/node-exporter/other.prom" ] || fail "remove deleted another package's .prom"
[ -e "$root/var/lib/rostersync/state.db" ] || fail "remove deleted the state database"

said=$(DPKG_ROOT="$root" sh "$src/debian/rostersync.postrm" purge 2>&1)
[ ! -e "$root/var/lib/rostersync" ] || fail "purge left /var/lib/rostersync"
[ ! -e "$root/etc/rostersync" ] || fail "purge left /etc/rostersync"
backup=$(ls -d "$root"/var/backups/rostersync-* 2>/dev/null | head -n1)
[ -n "$backup" ] || fail "purge made no backup of the state database"
[ "$(cat "$backup/state.db")" = db ] && [ "$(cat "$backup/state.db-wal")" = wal ] || fail "the backup is not the database and its WAL"
[ "$(stat -c %a "$backup")" = 700 ] || fail "the backup directory is not private"
case "$said" in *"kept in /var/backups/rostersync-"*) ;; *) fail "purge did not say where the backup is: $said" ;; esac

# Nothing to back up: nothing made.
rm -rf "$root/var/backups"
mkdir -p "$root/var/lib/rostersync"
DPKG_ROOT="$root" sh "$src/debian/rostersync.postrm" purge
[ ! -e "$root/var/backups" ] || fail "purge made a backup of nothing"
echo "check-postrm: ok"
