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
systemd-tmpfiles --create --root="$root" "$root/usr/lib/tmpfiles.d/rostersync.conf"
perm() { stat -c '%a %U %G' "$1"; }
uid_gid() { stat -c '%a %u %g' "$1"; }
group_id=$(awk -F: '$1 == "rostersync" { print $3 }' "$root/etc/group")
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
echo "check-package: ok ($deb)"
