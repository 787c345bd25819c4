#!/usr/bin/env bash
# Tests the shipped systemd units (firmware/offhook.service, the offhook-server package's unit):
# they keep their hardening directives, the handset keeps what real-time audio and its devices
# need, `systemd-analyze verify` finds nothing, and `systemd-analyze security --offline=true`
# rates each at or below the exposure it has now. Without systemd-analyze only the directive
# checks run. Usage: images/tests/units.sh
source "$(dirname "$0")/lib.sh"
here="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(dirname "$here")"
handset="$repo/firmware/offhook.service"
server="$here/packaging/offhook-server/offhook-server.service"

work="$(mktemp -d "${TMPDIR:-/tmp}/offhook-units-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# has_line UNIT LINE: the unit has this directive line exactly (comments aside).
has_line() { grep -qxF -- "$2" "$1"; }
# has_key UNIT KEY: some uncommented line sets KEY.
has_key() { grep -qE "^$2=" "$1"; }

common=(
  "NoNewPrivileges=yes" "CapabilityBoundingSet=" "AmbientCapabilities=" "ProtectSystem=strict"
  "ProtectHome=yes" "PrivateTmp=yes" "ProtectKernelTunables=yes" "ProtectKernelModules=yes"
  "ProtectKernelLogs=yes" "ProtectControlGroups=yes" "ProtectClock=yes" "ProtectHostname=yes"
  "ProtectProc=invisible" "ProcSubset=pid" "RestrictNamespaces=yes" "RestrictSUIDSGID=yes"
  "LockPersonality=yes" "MemoryDenyWriteExecute=yes" "SystemCallArchitectures=native"
  "SystemCallFilter=@system-service" "SystemCallFilter=~@privileged @resources"
  "SystemCallErrorNumber=EPERM"
)

echo "== offhook.service directives"
for line in "${common[@]}" "DevicePolicy=closed" "DeviceAllow=char-alsa rw" \
  "DeviceAllow=char-gpiochip rw" "DeviceAllow=char-i2c rw" "DeviceAllow=char-spi rw" \
  "DeviceAllow=char-fb rw" "DeviceAllow=char-input r" "UMask=0027" "LimitRTPRIO=40" \
  "SystemCallFilter=sched_setscheduler"; do
  check "has $line" has_line "$handset" "$line"
done
# The audio threads ask for SCHED_FIFO; the device groups would be unmapped in a user namespace.
check_not "no RestrictRealtime= (real-time audio)" has_key "$handset" RestrictRealtime
check_not "no PrivateUsers= (the device groups)" has_key "$handset" PrivateUsers
check_not "no PrivateDevices= (the board's devices)" has_key "$handset" PrivateDevices

echo "== offhook-server.service directives"
for line in "${common[@]}" "PrivateDevices=yes" "PrivateUsers=yes" "RestrictRealtime=yes" "UMask=0077"; do
  check "has $line" has_line "$server" "$line"
done

if ! command -v systemd-analyze >/dev/null; then
  echo "  skip systemd-analyze checks: systemd-analyze missing (package systemd)"
  finish
  exit
fi

# verify wants the programs to exist: point the copies at stand-ins.
for b in offhook offhook-server; do printf '#!/bin/sh\n' >"$work/$b" && chmod +x "$work/$b"; done
# The exposure each unit has now: lower it here when a unit gets tighter, never raise it.
for unit_max in "$handset 1.7" "$server 1.1"; do
  read -r unit max <<<"$unit_max"
  name="$(basename "$unit")"
  echo "== systemd-analyze on $name"
  sed "s|/usr/bin/offhook|$work/offhook|g" "$unit" >"$work/$name"
  out="$(systemd-analyze verify "$work/$name" 2>&1)"
  check_eq "verify: exit status 0" 0 "$?"
  check_eq "verify: no complaint" "" "$out"
  report="$(systemd-analyze security --offline=true "$work/$name" 2>&1)"
  exposure="$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$report")"
  check "security: an exposure level is reported" test -n "$exposure"
  check "security: exposure $exposure at most $max" awk -v e="$exposure" -v m="$max" 'BEGIN { exit !(e != "" && e + 0 <= m + 0) }'
done
report="$(systemd-analyze security --offline=true "$work/offhook.service" 2>&1)"
check "offhook.service: sched_setscheduler stays allowed (SCHED_FIFO audio)" grep -q "sched_setscheduler is allowed" <<<"$report"

finish
