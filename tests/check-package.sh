#!/usr/bin/env bash
# Checks a built rostersync .deb the way an installation would use it:
# unpacked into a scratch root (dpkg-deb -x), its files where systemd,
# man and bash look for them with the right modes, the example as a
# conffile, and the effects of its maintainer scripts replayed inside the
# scratch root (systemd-sysusers and systemd-tmpfiles with --root), never
# on this machine.
set -euo pipefail
deb="${1:?usage: check-package.sh PACKAGE.deb}"
root=$(mktemp -d)
control=$(mktemp -d)
trap 'rm -rf "$root" "$control"' EXIT
fail() { echo "check-package: $*" >&2; exit 1; }

dpkg-deb -x "$deb" "$root"
dpkg-deb -e "$deb" "$control"
listing=$(dpkg-deb -c "$deb")

for f in usr/bin/rostersync usr/bin/rostersync-sim lib/systemd/system/rostersync.service \
         usr/lib/sysusers.d/rostersync.conf usr/lib/tmpfiles.d/rostersync.conf \
         usr/lib/systemd/catalog/rostersync.catalog etc/rostersync/rostersync.yaml \
         usr/share/man/man8/rostersync.8.gz usr/share/man/man5/rostersync.yaml.5.gz \
         usr/share/man/man1/rostersync-sim.1.gz usr/share/bash-completion/completions/rostersync \
         usr/share/doc/rostersync/copyright; do
  [ -e "$root/$f" ] || fail "missing /$f"
done
ls "$root"/usr/share/doc/rostersync/rostersync.example.yaml* >/dev/null 2>&1 || fail "missing the example configuration in /usr/share/doc"

# Owners and modes as dpkg will create them.
mode_owner() { awk -v f="./$1" '$6 == f { print $1, $2 }' <<<"$listing"; }
[ "$(mode_owner usr/bin/rostersync)" = "-rwxr-xr-x root/root" ] || fail "/usr/bin/rostersync: $(mode_owner usr/bin/rostersync)"
[ "$(mode_owner etc/rostersync/rostersync.yaml)" = "-rw-r--r-- root/root" ] || fail "the configuration: $(mode_owner etc/rostersync/rostersync.yaml)"
grep -qx /etc/rostersync/rostersync.yaml "$control/conffiles" || fail "/etc/rostersync/rostersync.yaml is not a conffile"
cmp -s "$root/etc/rostersync/rostersync.yaml" config/rostersync.example.yaml 2>/dev/null \
  || [ ! -e config/rostersync.example.yaml ] || fail "the conffile is not the documented example"
grep -q '^ExecStart=/usr/bin/rostersync --config /etc/rostersync/rostersync.yaml run$' "$root/lib/systemd/system/rostersync.service" \
  || fail "ExecStart does not run /usr/bin/rostersync"

# Maintainer scripts: the user and directories at configure, the unit
# registered but neither enabled nor started, state removed only on purge.
grep -q 'systemd-sysusers.*rostersync.conf' "$control/postinst" || fail "postinst does not create the user"
grep -q 'systemd-tmpfiles.* --create rostersync.conf' "$control/postinst" || fail "postinst does not create the directories"
grep -q "deb-systemd-helper update-state 'rostersync.service'" "$control/postinst" || fail "postinst does not register the unit"
# Enabled only where it was enabled before (an upgrade); never on a fresh install.
enables=$(grep -c "deb-systemd-helper enable 'rostersync.service'" "$control/postinst" || true)
guarded=$(grep -A2 "was-enabled 'rostersync.service'" "$control/postinst" | grep -c "deb-systemd-helper enable" || true)
[ "$enables" = "$guarded" ] || fail "postinst enables the service on a fresh install"
grep -q "deb-systemd-invoke restart 'rostersync.service'\|_dh_action=restart" "$control/postinst" || fail "an upgrade does not restart a running service"
grep -q 'rm -rf "$root/var/lib/rostersync"' "$control/postrm" || fail "postrm does not remove the state on purge"
awk '/"\$1" = "purge"/,/^fi/' "$control/postrm" | grep -q 'rm -rf "$root/var/lib/rostersync"' \
  || fail "postrm removes the state outside purge"
awk '/"\$1" = "purge"/,/^fi/' "$control/postrm" | grep -q '/var/backups/rostersync-' \
  || fail "postrm purges the state database without backing it up"

# Their effects, replayed in the scratch root.
systemd-sysusers --root="$root" "$root/usr/lib/sysusers.d/rostersync.conf"
grep -q '^rostersync:x:[0-9]*:[0-9]*:rostersync roster synchronization:/var/lib/rostersync:' "$root/etc/passwd" \
  || fail "no rostersync system user: $(grep rostersync "$root/etc/passwd" || true)"
service_uid=$(awk -F: '$1 == "rostersync" { print $3 }' "$root/etc/passwd")
group_id=$(awk -F: '$1 == "rostersync" { print $3 }' "$root/etc/group")
monitor_gid=$(awk -F: '$1 == "rostersync-monitor" { print $3 }' "$root/etc/group")
[ -n "$monitor_gid" ] || fail "no group rostersync-monitor (README \"Monitoring without sudo\")"
# An existing installation's state, as systemd's StateDirectory= made it
# before the monitoring group existed (an upgrade): 0700, a 0600 database.
mkdir -p "$root/var/lib/rostersync"
chmod 0700 "$root/var/lib/rostersync"
install -m 0600 /dev/null "$root/var/lib/rostersync/old.db"
chown -R "$service_uid:$group_id" "$root/var/lib/rostersync"
# systemd-tmpfiles resolves the names in ACLs with this machine's NSS, which
# knows nothing of the scratch root's users: their numbers stand in here.
sed -e "s/group:rostersync-monitor:/group:$monitor_gid:/g" -e "s/u:rostersync:/u:$service_uid:/g" \
  "$root/usr/lib/tmpfiles.d/rostersync.conf" >"$control/tmpfiles.conf"
[ "$(grep -c "group:$monitor_gid:" "$control/tmpfiles.conf")" = 2 ] || fail "the tmpfiles ACL lines for rostersync-monitor changed"
systemd-tmpfiles --create --root="$root" "$control/tmpfiles.conf"
perm() { stat -c '%a %U %G' "$1"; }
uid_gid() { stat -c '%a %u %g' "$1"; }
[ "$(perm "$root/etc/rostersync")" = "755 root root" ] || fail "/etc/rostersync: $(perm "$root/etc/rostersync")"
[ "$(perm "$root/etc/rostersync/credentials")" = "700 root root" ] || fail "credentials/: $(perm "$root/etc/rostersync/credentials")"
for d in service-keys platform-keys; do
  [ "$(perm "$root/etc/rostersync/credentials/$d")" = "700 root root" ] || fail "credentials/$d: $(perm "$root/etc/rostersync/credentials/$d")"
done
[ "$(uid_gid "$root/etc/rostersync/courses.d")" = "750 0 $group_id" ] || fail "courses.d: $(uid_gid "$root/etc/rostersync/courses.d")"

# The binaries run and agree on the version; the shipped configuration parses.
"$root/usr/bin/rostersync" --version | grep -qx "rostersync $(dpkg-deb -f "$deb" Version)" || fail "--version differs from the package version"
"$root/usr/bin/rostersync" --config "$root/etc/rostersync/rostersync.yaml" courses >/dev/null || fail "the shipped configuration does not parse"
"$root/usr/bin/rostersync-sim" --help >/dev/null || fail "rostersync-sim does not run"
# The demo finds the packaged simulator beside the packaged binary.
"$root/usr/bin/rostersync" demo --courses 1 --members 20 --dir "$root/demo" >"$root/demo.out" 2>&1 \
  || fail "rostersync demo does not run from the package: $(tail -5 "$root/demo.out")"
grep -q "nothing to do" "$root/demo.out" || fail "the demo's second pass was not a no-op: $(cat "$root/demo.out")"
# README "Monitoring without sudo": the service user syncs (umask 077, as
# under the unit); a member of rostersync-monitor, and nobody else, reads
# the state database, also the one from before the upgrade.
[ "$(uid_gid "$root/var/lib/rostersync")" = "750 $service_uid $group_id" ] \
  || fail "/var/lib/rostersync: $(uid_gid "$root/var/lib/rostersync")"
chmod 0755 "$root"
state="$root/var/lib/rostersync/demo"
setpriv --reuid="$service_uid" --regid="$group_id" --clear-groups bash -c \
  "umask 077 && mkdir '$state' && '$root/usr/bin/rostersync' demo --courses 2 --members 20 --dir '$state'" \
  >"$root/monitor-demo.out" 2>&1 || fail "the demo as the service user: $(tail -5 "$root/monitor-demo.out")"
chmod 0644 "$state/rostersync.yaml"  # as /etc/rostersync/rostersync.yaml is; the demo writes its own 0600
check_as() { setpriv --reuid=65533 --regid=65533 "$@" "$root/usr/bin/rostersync" --config "$state/rostersync.yaml" status --check; }
verdict=$(check_as --groups="$monitor_gid") || fail "status --check as a member of rostersync-monitor: $verdict"
grep -q '^ROSTERSYNC OK - 2 job(s) synced' <<<"$verdict" || fail "status --check as a monitor: $verdict"
if verdict=$(check_as --clear-groups); then fail "a user outside rostersync-monitor read the state database: $verdict"; fi
grep -q 'Permission denied' <<<"$verdict" || fail "an outsider's status --check: $verdict"
setpriv --reuid=65533 --regid=65533 --groups="$monitor_gid" head -c 0 "$root/var/lib/rostersync/old.db" \
  || fail "a database from before the upgrade is not readable by rostersync-monitor"
if setpriv --reuid=65533 --regid=65533 --groups="$group_id" head -c 0 "$state/state.db" 2>/dev/null; then
  fail "the service's group (which registry writers may join) reads the state database"
fi

echo "check-package: ok ($deb)"
