#!/usr/bin/env bash
# Tests images/flash and images/configure-card without touching a real disk: refusals are
# checked with --dry-run and no confirmation on stdin, against the real root disk and against
# described disks (stand-in lsblk/findmnt on PATH, with /dev/null as the "device"); writing and
# verifying are checked on regular files (--force-file). Usage: images/tests/flash.sh
source "$(dirname "$0")/lib.sh"
here="$(cd "$(dirname "$0")/.." && pwd)"
flash="$here/flash"
configure="$here/configure-card"
[ "$(id -u)" = 0 ] || { echo "$test_name: needs root (flash refuses to run its checks otherwise)"; exit 1; }
for tool in mkfs.vfat sfdisk mcopy xz; do
  command -v "$tool" >/dev/null || { echo "$test_name: $tool missing: .ci/install-deps --images"; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/offhook-flash-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# A small image laid out like the real one: MBR, FAT32 "RASPIFIRM" at 4 MiB, a second partition.
img="$work/offhook-test.img"
truncate -s 48M "$img"
printf 'label: dos\nstart=8192, size=65536, type=c, bootable\nstart=73728, type=83\n' | sfdisk --quiet "$img"
mkfs.vfat -F 16 -n RASPIFIRM --offset 8192 "$img" 32768 >/dev/null 2>&1  # size in KiB
head -c 1M /dev/urandom | dd of="$img" bs=1M seek=40 conv=notrunc status=none
sha256sum "$img" | sed "s|  .*|  $(basename "$img")|" >"$img.sha256"

run_flash() { # ARGS...: output in $out, status in $status (stdin: nothing, so no confirmation)
  out="$("$flash" "$@" </dev/null 2>&1)"
  status=$?
}

echo "== refusals on this machine (dry run, nothing confirmed)"
: >"$work/target.bin"
run_flash --dry-run "$img" "$work/target.bin"
check_eq "a regular file is refused" 1 "$status"
check "... saying it is not a card" grep -q "is a regular file, not a card" <<<"$out"
run_flash --dry-run "$img" "$work/missing"
check "a missing device is refused" grep -q "does not exist" <<<"$out"
run_flash --dry-run "$img" /dev/null
check "a character device is refused" grep -q "is not a block device" <<<"$out"
root_source="$(findmnt -nvo SOURCE /)"
root_disk="$(lsblk -nspo NAME,TYPE "$root_source" 2>/dev/null | awk '$2 == "disk" { print $1; exit }' | sed 's/^[^/]*//')"
if [ -n "$root_disk" ] && [ -b "$root_disk" ]; then
  run_flash --dry-run --allow-fixed "$img" "$root_disk"
  check_eq "the disk holding / ($root_disk) is refused" 1 "$status"
  check "... saying so" grep -q "holds the running system's root file system" <<<"$out"
else
  echo "  skip the root disk check: / is on $root_source, not on a disk"
fi

echo "== refusals on described disks"
mkdir -p "$work/bin" "$work/fake"
cat >"$work/bin/lsblk" <<'EOF'
#!/bin/sh
case "$1" in
  -dnbpPo) cat "$FAKE/info" ;;
  -nPpo) cat "$FAKE/tree" ;;
  -nspPo) cat "$FAKE/rootdeps" ;;
  *) exit 1 ;;
esac
EOF
printf '#!/bin/sh\necho /dev/zero\n' >"$work/bin/findmnt"
chmod +x "$work/bin/lsblk" "$work/bin/findmnt"
export FAKE="$work/fake"
describe() { # TYPE RM TRAN SIZE [tree lines...]
  printf 'NAME="/dev/sdz" TYPE="%s" RM="%s" TRAN="%s" SIZE="%s" MODEL="Card\\x20Reader"\n' "$1" "$2" "$3" "$4" >"$FAKE/info"
  shift 4
  printf 'NAME="/dev/sdz" TYPE="disk" MOUNTPOINT=""\n' >"$FAKE/tree"
  for line in "$@"; do echo "$line" >>"$FAKE/tree"; done
  printf 'NAME="/dev/zero" TYPE="part"\nNAME="/dev/vdq" TYPE="disk"\n' >"$FAKE/rootdeps"
}
fake_flash() { PATH="$work/bin:$PATH" run_flash "$@"; }
big=$((8 * 1024 * 1024 * 1024))

describe part 1 usb "$big"
fake_flash --dry-run "$img" /dev/null
check "a partition is refused" grep -q "is a partition: give the whole card" <<<"$out"
describe disk 1 usb "$big" 'NAME="/dev/sdz1" TYPE="part" MOUNTPOINT="/media/me/RASPIFIRM"'
fake_flash --dry-run "$img" /dev/null
check "a card with a mounted partition is refused" grep -q "sdz1 is mounted on /media/me/RASPIFIRM" <<<"$out"
describe disk 1 usb "$big" 'NAME="/dev/sdz2" TYPE="part" MOUNTPOINT="[SWAP]"'
fake_flash --dry-run "$img" /dev/null
check "a disk used as swap is refused" grep -q "is mounted on \[SWAP\]" <<<"$out"
describe disk 1 usb "$big" 'NAME="/dev/sdz1" TYPE="part" MOUNTPOINT=""' 'NAME="/dev/mapper/vg-data" TYPE="lvm" MOUNTPOINT=""'
fake_flash --dry-run "$img" /dev/null
check "a disk under LVM is refused" grep -q "vg-data (lvm) is built on" <<<"$out"
describe disk 0 sata "$big"
fake_flash --dry-run "$img" /dev/null
check "a fixed SATA disk is refused" grep -q "is a fixed disk" <<<"$out"
fake_flash --dry-run --allow-fixed "$img" /dev/null
check_eq "... unless --allow-fixed" 0 "$status"
describe disk 1 usb 1000000
fake_flash --dry-run "$img" /dev/null
check "a card smaller than the image is refused" grep -q "is smaller than the image" <<<"$out"
describe disk 1 usb "$big"
printf 'NAME="/dev/zero" TYPE="part"\nNAME="/dev/sdz" TYPE="disk"\n' >"$FAKE/rootdeps"
fake_flash --dry-run "$img" /dev/null
check "the disk under / is refused" grep -q "holds the running system's root file system" <<<"$out"
describe disk 0 "" "$big"
fake_flash --dry-run "$img" /dev/null
check "an SD slot without a removable flag is a fixed disk unless it is mmcblk" grep -q "is a fixed disk" <<<"$out"
sed -i 's|/dev/sdz|/dev/mmcblk9|' "$FAKE/info" "$FAKE/tree"
fake_flash --dry-run "$img" /dev/null
check_eq "an mmcblk card passes the checks" 0 "$status"
describe disk 1 usb "$big"
fake_flash --dry-run "$img" /dev/null
check_eq "a removable USB card passes every check (dry run)" 0 "$status"
check "... and nothing is written" grep -q "nothing written" <<<"$out"
fake_flash "$img" /dev/null
check "without --yes the device name must be typed" grep -q "refusing: not confirmed" <<<"$out"

echo "== writing and verifying (regular files)"
rm -f "$work/target.bin"
: >"$work/target.bin"
run_flash "$img" "$work/target.bin" --force-file
check "unconfirmed: refused" grep -q "not confirmed" <<<"$out"
check_eq "... and the target is untouched" 0 "$(stat -c %s "$work/target.bin")"
out="$(echo target.bin | "$flash" --force-file "$img" "$work/target.bin" 2>&1)"
check_eq "typing the device name writes" 0 "$?"
check "the written file equals the image" cmp -s "$img" "$work/target.bin"
check "verified" grep -q "verified: sha256 $(cut -d' ' -f1 "$img.sha256")" <<<"$out"

xz -T1 -3 -k "$img"
: >"$work/target.bin"
run_flash --yes --force-file "$img.xz" "$work/target.bin"
check_eq "an .img.xz is written" 0 "$status"
check "... decompressed" cmp -s "$img" "$work/target.bin"

: >"$work/target.bin"
OFFHOOK_FLASH_TEST_CORRUPT=5000000 run_flash --yes --force-file "$img" "$work/target.bin"
check_eq "a card that reads back differently fails" 1 "$status"
check "... with VERIFY FAILED" grep -q "VERIFY FAILED" <<<"$out"

head -c "$(($(stat -c %s "$img.xz") / 2))" "$img.xz" >"$work/truncated.img.xz"
rm -f "$work/target.bin"; : >"$work/target.bin"
run_flash --yes --force-file "$work/truncated.img.xz" "$work/target.bin"
check_eq "a truncated download is refused" 1 "$status"
check_eq "... before writing anything" 0 "$(stat -c %s "$work/target.bin")"

cp "$img" "$work/other.img"
rm -f "$work/target.bin"; : >"$work/target.bin"
echo "0000000000000000000000000000000000000000000000000000000000000000  other.img" >"$work/other.img.sha256"
run_flash --yes --force-file "$work/other.img" "$work/target.bin"
check "an image that does not match its .sha256 is refused" grep -q "does not match its .sha256" <<<"$out"
check_eq "... before writing anything" 0 "$(stat -c %s "$work/target.bin")"
run_flash --yes --force-file "$img" "$img"
check "the image itself as target is refused" grep -q "is the image itself" <<<"$out"

echo "== settings on the boot partition"
printf '[server]\nurl = "https://x"\n' >"$work/offhook.toml"
printf 'ssid=Home\npsk=password123\n' >"$work/wifi.conf"
echo "ssh-ed25519 AAAAkey1 a@b" >"$work/a.pub"
echo "ssh-ed25519 AAAAkey2 c@d" >"$work/b.pub"
mkdir -p "$work/extra"; echo secret >"$work/extra/device-secret"
: >"$work/target.bin"
run_flash --yes --force-file --config "$work/offhook.toml" --wifi "$work/wifi.conf" \
  --ssh-key "$work/a.pub" --ssh-key "$work/b.pub" --hostname desk-2 --extra "$work/extra" \
  "$img" "$work/target.bin"
check_eq "flash with settings" 0 "$status"
fat="$work/target.bin@@$((8192 * 512))"
export MTOOLS_SKIP_CHECK=1
check "offhook.toml on the card" cmp -s "$work/offhook.toml" <(mtype -i "$fat" ::offhook.toml)
check "wifi.conf on the card" cmp -s "$work/wifi.conf" <(mtype -i "$fat" ::wifi.conf)
check_eq "both keys in authorized_keys" 2 "$(mtype -i "$fat" ::authorized_keys | wc -l)"
check_eq "hostname" desk-2 "$(mtype -i "$fat" ::hostname | tr -d '\r\n')"
check "extra files in offhook/" cmp -s "$work/extra/device-secret" <(mtype -i "$fat" ::offhook/device-secret)
printf 'network={\n ssid="Corp"\n}\n' >"$work/corp.conf"
"$configure" --wifi "$work/corp.conf" --ssh "$work/target.bin" >/dev/null 2>&1
check "a wpa_supplicant.conf keeps its name" mtype -i "$fat" ::wpa_supplicant.conf
check "--ssh without keys leaves the ssh marker" mtype -i "$fat" ::ssh
truncate -s 8M "$work/plain.bin"
out="$("$configure" --config "$work/offhook.toml" "$work/plain.bin" 2>&1)"
check "configure-card refuses a disk without a partition table" grep -q "no partition table" <<<"$out"
printf 'label: dos\nstart=2048, type=c\n' | sfdisk --quiet "$work/plain.bin"
mkfs.vfat -n OTHER --offset 2048 "$work/plain.bin" 3072 >/dev/null 2>&1
out="$("$configure" --config "$work/offhook.toml" "$work/plain.bin" 2>&1)"
check "configure-card refuses a FAT that is not RASPIFIRM" grep -q "not the offhook boot partition" <<<"$out"
out="$("$configure" --hostname "bad_name" "$work/target.bin" 2>&1)"
check "configure-card refuses a bad host name" grep -q "is not a host name" <<<"$out"

finish
