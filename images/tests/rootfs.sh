#!/usr/bin/env bash
# Tests the image's own settings (images/rootfs, customize-rootfs, build-image) in a throw-away
# Debian bookworm root with images/rootfs copied in as build-image does: unattended-upgrades
# takes Debian's security archive and nothing else, apt runs it every day, and
# systemd-time-wait-sync is enabled and waits for NTP for a bounded time, without failing.
# Needs root (chroot). Usage: images/tests/rootfs.sh
source "$(dirname "$0")/lib.sh"
here="$(cd "$(dirname "$0")/.." && pwd)"
[ "$(id -u)" = 0 ] || { echo "$test_name: needs root (chroot)"; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/offhook-rootfs-test.XXXXXX")"
root="$work/root"
cleanup() {
  mountpoint -q "$root/proc" 2>/dev/null && umount "$root/proc"
  rm -rf "$work"
}
trap cleanup EXIT
unpack_test_root "$root" || exit 1
mount -t proc proc "$root/proc"
cp -a "$here/rootfs/." "$root/"
in_root() { chroot "$root" "$@"; }

echo "== security updates by themselves"
check "build-image installs unattended-upgrades" \
  grep -qE '^[[:space:]]+unattended-upgrades$' "$here/build-image"
out="$(in_root unattended-upgrade --dry-run --debug 2>&1)"
check_eq "unattended-upgrade --dry-run succeeds" 0 "$?"
check_eq "it takes the security archive and nothing else" \
  "Allowed origins are: origin=Debian,codename=bookworm-security,label=Debian-Security" \
  "$(grep '^Allowed origins are:' <<<"$out")"
periodic="$(in_root apt-config dump APT::Periodic)"
check "apt refreshes its lists every day" grep -qx 'APT::Periodic::Update-Package-Lists "1";' <<<"$periodic"
check "apt runs unattended-upgrade every day" grep -qx 'APT::Periodic::Unattended-Upgrade "1";' <<<"$periodic"
enables="$(sed -n '/^in_root systemctl enable /,/[^\\]$/p' "$here/customize-rootfs")"
for timer in apt-daily.timer apt-daily-upgrade.timer; do
  check "customize-rootfs enables $timer (it starts apt's daily run)" grep -qw "$timer" <<<"$enables"
  check "... which bookworm's apt has" test -f "$root/lib/systemd/system/$timer"
done

echo "== time-sync.target waits for NTP, for a bounded time"
check "customize-rootfs enables systemd-time-wait-sync.service" grep -qw systemd-time-wait-sync.service <<<"$enables"
in_root systemctl enable systemd-time-wait-sync.service >/dev/null 2>&1
check "... which bookworm's systemd can enable (sysinit.target wants it)" \
  test -L "$root/etc/systemd/system/sysinit.target.wants/systemd-time-wait-sync.service"
dropin="$root/etc/systemd/system/systemd-time-wait-sync.service.d/offhook.conf"
units="$work/units"
mkdir -p "$units/systemd-time-wait-sync.service.d"
cp "$root/lib/systemd/system/systemd-time-wait-sync.service" "$units/"
cp "$dropin" "$units/systemd-time-wait-sync.service.d/"
if command -v systemd-analyze >/dev/null; then
  out="$(systemd-analyze verify "$units/systemd-time-wait-sync.service" 2>&1)"
  check_eq "the unit with its drop-in passes systemd-analyze verify" "" "$out"
else
  echo "  skip systemd-analyze verify: systemd-analyze missing (package systemd)"
fi
exec_start="$(grep '^ExecStart=.' "$dropin")"
check_eq "one ExecStart, replacing Debian's" 1 "$(grep -c '^ExecStart=$' "$dropin")"
check "a wait that runs out is no failure (-)" grep -q '^ExecStart=-' <<<"$exec_start"
wait_secs="$(sed -n 's|^ExecStart=-/usr/bin/timeout \([0-9]*\) /lib/systemd/systemd-time-wait-sync$|\1|p' <<<"$exec_start")"
check "it waits at most 2 minutes (timeout ${wait_secs:-?} s)" test -n "$wait_secs" -a "${wait_secs:-0}" -gt 0 -a "${wait_secs:-0}" -le 120
start_timeout="$(sed -n 's/^TimeoutStartSec=\([0-9]*\)$/\1/p' "$dropin")"
check "systemd's own limit (${start_timeout:-?} s) lies beyond it" test "${start_timeout:-0}" -gt "${wait_secs:-999}"
check "bookworm's waiter is where the drop-in runs it" test -x "$root/lib/systemd/systemd-time-wait-sync"
# The command itself, as systemd would run it with no NTP: a stand-in waiter that never
# returns, and the timeout shortened to 1 s, ends with timeout's status (124), which "-" accepts.
printf '#!/bin/sh\nexec sleep 600\n' >"$work/never-synced" && chmod +x "$work/never-synced"
cmd="${exec_start#ExecStart=-}"
cmd="${cmd/timeout $wait_secs /timeout 1 }"
cmd="${cmd//\/lib\/systemd\/systemd-time-wait-sync/$work/never-synced}"
started=$SECONDS
$cmd
check_eq "with no NTP the wait ends (timeout's status)" 124 "$?"
check "... by its deadline" test "$((SECONDS - started))" -le 5

finish
