#!/usr/bin/env bash
# Tests images/rootfs/usr/lib/offhook-image/firstboot against a throw-away root: settings from
# a fake boot partition end up in place with the right owners and modes, secrets leave the
# boot partition, the report never holds a secret, and bad input is refused with a message.
# Needs root (the script sets owners). Usage: images/tests/firstboot.sh
source "$(dirname "$0")/lib.sh"
here="$(cd "$(dirname "$0")/.." && pwd)"
firstboot="$here/rootfs/usr/lib/offhook-image/firstboot"
[ "$(id -u)" = 0 ] || { echo "$test_name: needs root (it sets file owners)"; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/offhook-firstboot-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
gid=990
secret="s3cret-device-Secret-value"
wifi_pass='pa"ss w0rd#1'

# A root with what the image has: the offhook group, /etc/hosts, an empty /etc/ssh.
new_root() {
  rm -rf "$work/root"
  mkdir -p "$work/root/etc/ssh" "$work/root/etc/offhook" "$work/root/boot/firmware" "$work/root/root"
  printf 'root:x:0:\noffhook:x:%d:\n' "$gid" >"$work/root/etc/group"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\toffhook\n' >"$work/root/etc/hosts"
  echo offhook >"$work/root/etc/hostname"
  boot="$work/root/boot/firmware"
}
# A stand-in for `offhook check-config`: fails (quoting the secret, as a TOML error would) when
# the config says so, passes otherwise.
cat >"$work/offhook" <<'EOF'
#!/bin/sh
if grep -q 'broken' "$2"; then
  echo "$2:3:1: invalid value \"$(sed -n 's/^device_secret = "\(.*\)"/\1/p' "$2")\" for \`device_secret\`"
  echo '    device_secret = "the secret line"'
  exit 1
fi
exit 0
EOF
chmod +x "$work/offhook"
run_firstboot() {
  OFFHOOK_FIRSTBOOT_ROOT="$work/root" OFFHOOK_BIN="$work/offhook" "$firstboot" 2>"$work/stderr"
}

echo "== everything at once"
new_root
printf '[server]\nurl = "https://phone.example.com"\ndevice_id = "desk-1"\ndevice_secret = "%s"\n' "$secret" >"$boot/offhook.toml"
mkdir -p "$boot/offhook"
echo "$secret" >"$boot/offhook/device-secret"
echo "-----BEGIN CERTIFICATE-----" >"$boot/offhook/server-ca.pem"
printf '# my Wi-Fi\r\nssid = "Home Net"\r\npsk=%s\r\ncountry=gb\r\n' "$wifi_pass" >"$boot/wifi.conf"
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey1 alice@laptop\n# comment\nnot a key\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQKey2 bob\n' >"$boot/authorized_keys"
: >"$boot/ssh"
echo "kitchen-phone" >"$boot/hostname"
mkdir -p "$boot/network"
printf '[Match]\nName=end0\n[Network]\nAddress=192.168.1.50/24\n' >"$boot/network/10-static.network"
run_firstboot
check_eq "exit status 1 (a junk line in authorized_keys is reported)" 1 "$?"
etc="$work/root/etc"
check "offhook.toml installed" cmp -s <(printf '[server]\nurl = "https://phone.example.com"\ndevice_id = "desk-1"\ndevice_secret = "%s"\n' "$secret") "$etc/offhook/offhook.toml"
check_eq "offhook.toml mode 0640" 640 "$(mode_of "$etc/offhook/offhook.toml")"
check_eq "offhook.toml owner root:offhook" "0:$gid" "$(owner_of "$etc/offhook/offhook.toml")"
check_eq "device-secret mode 0640" 640 "$(mode_of "$etc/offhook/device-secret")"
check_eq "device-secret owner root:offhook" "0:$gid" "$(owner_of "$etc/offhook/device-secret")"
check "server-ca.pem installed" test -f "$etc/offhook/server-ca.pem"
check_not "offhook.toml gone from the boot partition" test -e "$boot/offhook.toml"
check_not "offhook/ gone from the boot partition" test -e "$boot/offhook"
check_not "wifi.conf gone from the boot partition" test -e "$boot/wifi.conf"
check_not "authorized_keys gone from the boot partition" test -e "$boot/authorized_keys"
check_not "ssh marker gone" test -e "$boot/ssh"
check_not "hostname gone" test -e "$boot/hostname"
wpa="$etc/wpa_supplicant/wpa_supplicant-wlan0.conf"
check_eq "wpa_supplicant config mode 0600" 600 "$(mode_of "$wpa")"
check "SSID written in hex" file_contains "$wpa" "ssid=$(printf 'Home Net' | od -An -tx1 | tr -d ' \n')"
check "passphrase quoted, with its own quote kept" file_contains "$wpa" "psk=\"$wifi_pass\""
check "country upper-cased" file_contains "$wpa" "country=GB"
check_not "no scan_ssid for a visible network" file_contains "$wpa" "scan_ssid"
keys="$work/root/root/.ssh/authorized_keys"
check_eq "/root/.ssh mode 0700" 700 "$(mode_of "$work/root/root/.ssh")"
check_eq "authorized_keys mode 0600" 600 "$(mode_of "$keys")"
check_eq "two keys, junk and comments left out" 2 "$(wc -l <"$keys")"
check_eq "hostname" kitchen-phone "$(cat "$etc/hostname")"
check "hosts names the new hostname" grep -qP '^127\.0\.1\.1\tkitchen-phone$' "$etc/hosts"
check "static network installed" test -f "$etc/systemd/network/10-static.network"
actions="$work/root/firstboot-actions"
check "Wi-Fi enabled" grep -qx 'systemctl --no-reload enable wpa_supplicant@wlan0.service' "$actions"
check "SSH enabled" grep -qx 'systemctl --no-reload enable ssh.service' "$actions"
check "SSH started without waiting" grep -qx 'systemctl --no-block start ssh.service' "$actions"
check "host keys made" grep -qx 'ssh-keygen -A' "$actions"
check "root grown" grep -qx 'grow-root-partition' "$actions"
check "hostname applied" grep -qx 'hostname kitchen-phone' "$actions"
report="$boot/offhook-setup.txt"
check "report written" test -f "$report"
check "report says check-config passed" file_contains "$report" "check-config: ok"
check "report names the junk line" file_contains "$report" "not an SSH public key"
check_not "report holds no device secret" grep -qF "$secret" "$report"
check_not "report holds no Wi-Fi passphrase" grep -qF "$wifi_pass" "$report"

echo "== the next boot: nothing new"
touch "$etc/ssh/ssh_host_ed25519_key"
rm -f "$actions" "$report"
run_firstboot
check_eq "exit status 0" 0 "$?"
check_not "no actions (already grown, host keys present)" test -s "$actions"
check_not "no report when nothing was imported" test -e "$report"
check "config kept" file_contains "$etc/offhook/offhook.toml" "$secret"

echo "== the same keys again are not duplicated"
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey1 alice@laptop\r\n' >"$boot/authorized_keys"
run_firstboot
check_eq "still two keys" 2 "$(wc -l <"$keys")"

echo "== a config that fails check-config"
printf '[server]\ndevice_id = "desk-1"\ndevice_secret = "%s-broken"\n' "$secret" >"$boot/offhook.toml"
run_firstboot
check_eq "exit status 1" 1 "$?"
check "the bad config is installed anyway (its secret leaves the card)" file_contains "$etc/offhook/offhook.toml" broken
check_not "offhook.toml gone from the boot partition" test -e "$boot/offhook.toml"
check "report has the error location" grep -qF "/etc/offhook/offhook.toml:3:1: invalid value" "$report"
check_not "report holds no secret" grep -qF "$secret" "$report"
check_not "report holds no quoted source line" file_contains "$report" "the secret line"

echo "== bad Wi-Fi, host name and file names"
new_root
printf 'ssid=Cafe\npsk=short\n' >"$boot/wifi.conf"
echo "bad_name!" >"$boot/hostname"
mkdir -p "$boot/offhook"
echo x >"$boot/offhook/bad name"
run_firstboot
check_eq "exit status 1" 1 "$?"
check_not "no Wi-Fi config from a short passphrase" test -e "$etc/wpa_supplicant/wpa_supplicant-wlan0.conf"
check_not "the rejected wifi.conf (a secret) still leaves the card" test -e "$boot/wifi.conf"
check "report explains the passphrase" file_contains "$boot/offhook-setup.txt" "8 to 63 characters"
check "report explains the host name" file_contains "$boot/offhook-setup.txt" "is not a host name"
check "report explains the file name" file_contains "$boot/offhook-setup.txt" "skipped offhook/bad name"
check_eq "hostname unchanged" offhook "$(cat "$etc/hostname")"
check_not "Wi-Fi not enabled" grep -q wpa_supplicant "$work/root/firstboot-actions"

echo "== open and hidden networks; unknown keys"
new_root
printf 'ssid=Guest\nhidden=yes\n' >"$boot/wifi.conf"
run_firstboot
check_eq "exit status 0" 0 "$?"
wpa="$etc/wpa_supplicant/wpa_supplicant-wlan0.conf"
check "open network" file_contains "$wpa" "key_mgmt=NONE"
check "hidden network scanned for" file_contains "$wpa" "scan_ssid=1"
printf 'ssid=Guest\nchannel=6\n' >"$boot/wifi.conf"
run_firstboot
check_eq "unknown key: exit status 1" 1 "$?"
check "report names the unknown key" file_contains "$boot/offhook-setup.txt" "unknown setting channel"

echo "== a full wpa_supplicant.conf is taken as it is"
new_root
printf 'network={\n  ssid="Corp"\n  key_mgmt=WPA-EAP\n}\n' >"$boot/wpa_supplicant.conf"
run_firstboot
check "copied" file_contains "$etc/wpa_supplicant/wpa_supplicant-wlan0.conf" "WPA-EAP"
check_eq "mode 0600" 600 "$(mode_of "$etc/wpa_supplicant/wpa_supplicant-wlan0.conf")"
check_not "gone from the boot partition" test -e "$boot/wpa_supplicant.conf"

echo "== imported files reach the card before their FAT copies are shredded"
# Stand-in sync and shred that log, in order, what they were given (then do the real thing).
mkdir -p "$work/logbin"
printf '#!/bin/sh\necho "sync $*" >>"%s/order"\n[ -z "$FAIL_SYNC" ] || exit 1\nexec /bin/sync "$@"\n' "$work" >"$work/logbin/sync"
printf '#!/bin/sh\necho "shred $*" >>"%s/order"\nexec /usr/bin/shred "$@"\n' "$work" >"$work/logbin/shred"
chmod +x "$work/logbin/sync" "$work/logbin/shred"
# first_line PATTERN: the number of the first line of the log holding PATTERN (0: none).
first_line() { grep -nF -- "$1" "$work/order" | head -n1 | cut -d: -f1 | grep . || echo 0; }
synced_before_shred() { # DEST FAT-COPY
  local synced shredded
  synced="$(first_line "sync -- $1 $(dirname "$1")")"
  shredded="$(first_line "$2")"
  [ "$synced" -gt 0 ] && [ "$shredded" -gt "$synced" ]
}
new_root
rm -f "$work/order"
printf '[server]\ndevice_secret = "%s"\n' "$secret" >"$boot/offhook.toml"
mkdir -p "$boot/offhook"
echo "$secret" >"$boot/offhook/device-secret"
printf 'ssid=Home\npsk=%s\n' "$wifi_pass" >"$boot/wifi.conf"
PATH="$work/logbin:$PATH" run_firstboot
check_eq "exit status 0" 0 "$?"
check "offhook.toml and /etc/offhook synced before the FAT copy is shredded" \
  synced_before_shred "$etc/offhook/offhook.toml" "$boot/offhook.toml"
check "offhook/device-secret synced before its FAT copy is shredded" \
  synced_before_shred "$etc/offhook/device-secret" "$boot/offhook/device-secret"
check "the Wi-Fi settings synced before wifi.conf is shredded" \
  synced_before_shred "$etc/wpa_supplicant/wpa_supplicant-wlan0.conf" "$boot/wifi.conf"
new_root
printf '[server]\ndevice_secret = "%s"\n' "$secret" >"$boot/offhook.toml"
FAIL_SYNC=1 PATH="$work/logbin:$PATH" run_firstboot
check_eq "a copy that cannot be flushed: exit status 1" 1 "$?"
check "... and the FAT copy stays, to try again" test -f "$boot/offhook.toml"
check "... and the report says so" file_contains "$boot/offhook-setup.txt" "could not install offhook.toml"

echo "== without the offhook group (package missing) nothing is half-installed"
new_root
printf 'root:x:0:\n' >"$etc/group"
echo "x" >"$boot/offhook.toml"
run_firstboot
check_eq "exit status 1" 1 "$?"
check "offhook.toml stays on the card to try again" test -f "$boot/offhook.toml"
check_not "nothing installed" test -e "$etc/offhook/offhook.toml"

finish
