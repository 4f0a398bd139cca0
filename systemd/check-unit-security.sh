#!/usr/bin/env bash
# Fails when systemd-analyze rates the unit's exposure above the limit (default 2.0).
set -euo pipefail
unit="$1"
limit="${2:-2.0}"
out=$(systemd-analyze security --offline=true "$unit" 2>&1)
level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
if [ -z "$level" ]; then
  printf '%s\n' "$out" >&2
  echo "check-unit-security: no exposure level in systemd-analyze output" >&2
  exit 1
fi
echo "exposure level of $(basename "$unit"): $level (limit $limit)"
awk -v l="$level" -v m="$limit" 'BEGIN { exit !(l <= m) }'
