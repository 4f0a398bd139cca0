#!/usr/bin/env bash
# The unit, the tmpfiles.d entry and the program agree on the failure modes
# an operator meets: a configuration error is not restarted forever, a
# reload is validated before it is signalled, and the service user can read
# its configuration directory.
set -euo pipefail
src="${1:?usage: check-unit-consistency.sh SOURCE_DIR}"
unit="$src/systemd/rostersync.service"
tmpfiles="$src/systemd/rostersync.tmpfiles"
fail() { echo "check-unit-consistency: $*" >&2; exit 1; }

config_exit=$(sed -n 's/.*kExitConfig = \([0-9]*\);.*/\1/p' "$src/daemon/commands.hpp")
[ -n "$config_exit" ] || fail "kExitConfig not found in daemon/commands.hpp"
grep -Eq "^RestartPreventExitStatus=(.* )?${config_exit}( .*)?$" "$unit" \
  || fail "RestartPreventExitStatus= must list the configuration-error exit code $config_exit"

mapfile -t reloads < <(sed -n 's/^ExecReload=//p' "$unit")
[ "${#reloads[@]}" -eq 2 ] || fail "expected two ExecReload= lines (validate, then signal)"
[[ "${reloads[0]}" == *" check-config --quiet --refused-courses-ok" ]] || fail "the first ExecReload= must run check-config --quiet --refused-courses-ok"
[[ "${reloads[1]}" == *"kill -HUP \$MAINPID" ]] || fail "the second ExecReload= must send SIGHUP"

unit_mode=$(sed -n 's/^ConfigurationDirectoryMode=//p' "$unit")
tmp_mode=$(awk '$1 == "d" && $2 == "/etc/rostersync" { print $3 }' "$tmpfiles")
[ -n "$tmp_mode" ] || fail "no tmpfiles.d entry for /etc/rostersync"
[ "$unit_mode" = "$tmp_mode" ] || fail "ConfigurationDirectoryMode=$unit_mode but tmpfiles.d says $tmp_mode"
# Owned by root (systemd never chowns ConfigurationDirectory=): the service
# user needs r and x for "other".
(( (8#$unit_mode & 8#005) == 8#005 )) || fail "mode $unit_mode keeps the service user out of /etc/rostersync"

# The template unit (made from the unit at configure time): every path that
# is a site's own carries the instance, nothing else differs in kind.
template="${2:-}"
if [ -n "$template" ]; then
  for want in "ExecStart=/usr/bin/rostersync --config /etc/rostersync/%i/rostersync.yaml run" \
              "StateDirectory=rostersync/%i" "RuntimeDirectory=rostersync/%i" "Environment=ROSTERSYNC_UNIT=%N" \
              "LoadCredential=imses-password:/etc/rostersync/%i/credentials/imses-password"; do
    grep -qxF "$want" "$template" || fail "the template unit lacks: $want"
  done
  if grep -E "^(ExecStart|ExecReload|LoadCredential)=" "$template" | grep -E "/etc/rostersync/(rostersync.yaml|credentials)"; then
    fail "the template unit shares a path of the single-site unit"
  fi
  diff <(grep -E "^[A-Z]" "$unit" | sed 's/=.*//' ) <(grep -E "^[A-Z]" "$template" | sed 's/=.*//') >/dev/null \
    || fail "the template unit's settings differ from the unit's in kind"
fi
echo "check-unit-consistency: ok"
