#!/usr/bin/env bash
# Tests images/assemble-image and images/check-image --layout-only on a small stand-in root tree:
# the partition layout the Pi boots, labels, boot files on FAT (with a subdirectory), owners
# and modes kept on ext4, and the same bytes from the same tree and SOURCE_DATE_EPOCH.
# Needs root. Usage: images/tests/assemble.sh
source "$(dirname "$0")/lib.sh"
here="$(cd "$(dirname "$0")/.." && pwd)"
[ "$(id -u)" = 0 ] || { echo "$test_name: needs root (file owners)"; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/offhook-assemble-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000

make_tree() { # DIR
  local t="$1"
  rm -rf "$t"
  mkdir -p "$t/boot/firmware/overlays" "$t/etc/offhook" "$t/usr/bin" "$t/var/lib/offhook"
  printf 'arm_64bit=1\nkernel=vmlinuz-6.1.0-test\ninitramfs initrd.img-6.1.0-test\n' >"$t/boot/firmware/config.txt"
  echo "console=tty0 root=LABEL=RASPIROOT rw rootwait" >"$t/boot/firmware/cmdline.txt"
  head -c 300000 /dev/zero | tr '\0' 'k' >"$t/boot/firmware/vmlinuz-6.1.0-test"
  head -c 200000 /dev/zero | tr '\0' 'i' >"$t/boot/firmware/initrd.img-6.1.0-test"
  echo overlay >"$t/boot/firmware/overlays/test.dtbo"
  echo 'secret = "x"' >"$t/etc/offhook/offhook.toml"
  chown 0:990 "$t/etc/offhook/offhook.toml" && chmod 0640 "$t/etc/offhook/offhook.toml"
  chown 991:990 "$t/var/lib/offhook" && chmod 0750 "$t/var/lib/offhook"
  printf '#!/bin/sh\n' >"$t/usr/bin/offhook" && chmod 0755 "$t/usr/bin/offhook"
  ln -s ../run/systemd/resolve/stub-resolv.conf "$t/etc/resolv.conf"
  find "$t" -exec touch --no-dereference --date=@1600000000 {} +
}

make_tree "$work/tree"
"$here/assemble-image" --boot-mib 64 "$work/tree" "$work/a.img" 2>/dev/null
check_eq "assemble-image succeeds" 0 "$?"
out="$("$here/check-image" --layout-only "$work/a.img")"
check "check-image --layout-only passes" grep -q "check-image: [0-9]* passed, 0 failed" <<<"$out"
[ "$tests_failed" = 0 ] || echo "$out"
start="$(sfdisk --dump "$work/a.img" | sed -n 's/^[^:]*2 : start= *\([0-9]*\),.*/\1/p')"
ext="$work/a.img?offset=$((start * 512))"
stat_line() { debugfs -R "stat $1" "$ext" 2>/dev/null | grep -E '^(Inode|User):' | tr '\n' ' '; }
check "offhook.toml keeps 0640 root:990" grep -qE 'Mode: +0640 .*User: +0 +Group: +990' <<<"$(stat_line /etc/offhook/offhook.toml)"
check "/var/lib/offhook keeps 0750 991:990" grep -qE 'Mode: +0750 .*User: +991 +Group: +990' <<<"$(stat_line /var/lib/offhook)"
check "symlinks kept" grep -q 'stub-resolv.conf' <(debugfs -R "stat /etc/resolv.conf" "$ext" 2>/dev/null)
check_eq "boot/firmware is an empty mount point on ext4" "" \
  "$(debugfs -R 'ls -p /boot/firmware' "$ext" 2>/dev/null | awk -F/ 'NF > 5 && $6 != "." && $6 != ".." { print $6 }')"
export MTOOLS_SKIP_CHECK=1
check "the boot files' subdirectory is on FAT" cmp -s <(echo overlay) <(mtype -i "$work/a.img@@$((8192 * 512))" ::overlays/test.dtbo)
check "the kernel on FAT is whole" cmp -s <(head -c 300000 /dev/zero | tr '\0' 'k') <(mtype -i "$work/a.img@@$((8192 * 512))" ::vmlinuz-6.1.0-test)

make_tree "$work/tree"
"$here/assemble-image" --boot-mib 64 "$work/tree" "$work/b.img" 2>/dev/null
check "the same tree gives the same boot partition and partition table" \
  cmp -s <(head -c $(((8192 + 64 * 2048) * 512)) "$work/a.img") <(head -c $(((8192 + 64 * 2048) * 512)) "$work/b.img")
check_eq "... and the same root file system id" "$(blkid -p -O $((start * 512)) -s UUID -o value "$work/a.img")" \
  "$(blkid -p -O $((start * 512)) -s UUID -o value "$work/b.img")"

echo "== check-image catches a broken layout"
cp "$work/a.img" "$work/c.img"
printf 'label: dos\nstart=8192, size=131072, type=83\nstart=139264, type=83\n' | sfdisk --quiet --no-reread "$work/c.img" 2>/dev/null
out="$("$here/check-image" --layout-only "$work/c.img")"
check "a boot partition of the wrong type fails" grep -q "FAIL boot partition type c" <<<"$out"
make_tree "$work/tree"
echo "root=/dev/mmcblk0p2 rw" >"$work/tree/boot/firmware/cmdline.txt"
echo "x" >"$work/tree/boot/firmware/offhook.toml"
"$here/assemble-image" --boot-mib 64 "$work/tree" "$work/d.img" 2>/dev/null
out="$("$here/check-image" --layout-only "$work/d.img")"
check "a cmdline without root=LABEL fails" grep -q "FAIL cmdline.txt mounts the root by label" <<<"$out"
check "a config shipped on the boot partition fails" grep -q "FAIL no offhook.toml shipped" <<<"$out"

finish
