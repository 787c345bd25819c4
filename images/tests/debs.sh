#!/usr/bin/env bash
# Tests the Debian packages from images/build-debs.
#  1. Contents: for the newest of each package in images/out/debs (arm64/armhf builds, if any) and
#     for amd64 test builds: files, modes, conffiles, control fields, maintainer scripts.
#  2. Life cycle in a throw-away Debian bookworm root (mmdebstrap, amd64, cached as a tarball in
#     images/out/cache): install, upgrade with a changed configuration, an administrator's
#     disabled service, remove, purge; the same maintainer scripts as the Pi's packages.
# Needs root and the Debian mirror the first time (the root is cached). The amd64 packages are
# made from the debug binaries (cargo build -p offhook -p offhook-server, run when missing).
# Usage: images/tests/debs.sh
source "$(dirname "$0")/lib.sh"
here="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(dirname "$here")"
[ "$(id -u)" = 0 ] || { echo "$test_name: needs root (chroot)"; exit 1; }
command -v mmdebstrap >/dev/null || { echo "$test_name: mmdebstrap missing: .ci/install-deps --images"; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/offhook-debs-test.XXXXXX")"
root="$work/root"
cleanup() {
  for m in proc; do mountpoint -q "$root/$m" 2>/dev/null && umount "$root/$m"; done
  rm -rf "$work"
}
trap cleanup EXIT

# `cargo test --workspace` links target/debug/offhook with the `demo` feature (the e2e tests
# need it; features unify across the workspace), and a package must not carry the lab. Building
# only these two packages leaves the feature off; cargo reuses every dependency already built.
if [ ! -x "$repo/target/debug/offhook" ] || [ ! -x "$repo/target/debug/offhook-server" ] \
   || grep -aqF 'offhook demo: a local Twilio stand-in' "$repo/target/debug/offhook"; then
  echo "building the debug offhook (without the demo feature) and offhook-server"
  (cd "$repo" && cargo build -q -p offhook --bin offhook -p offhook-server --bin offhook-server) \
    || { echo "$test_name: cargo build failed"; exit 1; }
fi
for v in 1.0 1.1; do
  "$here/build-debs" --arch amd64 --debug --no-build --version "$v" --out "$work/debs" >/dev/null \
    || { echo "$test_name: build-debs failed"; exit 1; }
done

head="$(git -C "$repo" rev-parse --short=7 HEAD 2>/dev/null || echo none)"
# ---- 1. contents -------------------------------------------------------------------------
inspect() { # DEB
  local deb="$1" name arch files ctrl
  name="$(dpkg-deb -f "$deb" Package)"
  arch="$(dpkg-deb -f "$deb" Architecture)"
  echo "== contents of $(basename "$deb")"
  files="$(dpkg-deb -c "$deb" | awk '{ print $1, $2, $6 }')"
  ctrl="$work/ctrl-$name-$arch"
  rm -rf "$ctrl"; mkdir -p "$ctrl"
  dpkg-deb -e "$deb" "$ctrl"
  check "owned by root" test -z "$(awk '$2 != "root/root"' <<<"$files")"
  check "Depends names libc6" grep -q 'libc6 (>= ' <(dpkg-deb -f "$deb" Depends)
  check "Depends names passwd (useradd in postinst)" grep -qw passwd <(dpkg-deb -f "$deb" Depends)
  check "Installed-Size set" grep -qE '^[0-9]+$' <(dpkg-deb -f "$deb" Installed-Size)
  check "binary /usr/bin/$name 0755" grep -qx -- "-rwxr-xr-x root/root ./usr/bin/$name" <<<"$files"
  check "copyright" grep -q "./usr/share/doc/$name/copyright" <<<"$files"
  for s in postinst prerm postrm; do
    check "$s is a valid sh script" sh -n "$ctrl/$s"
    check_eq "$s mode 0755" 755 "$(mode_of "$ctrl/$s")"
  done
  check "md5sums cover every file" test "$(wc -l <"$ctrl/md5sums")" = "$(grep -c '^-' <<<"$files")"
  case "$name" in
    offhook)
      check_eq "conffiles" /etc/offhook/offhook.toml "$(cat "$ctrl/conffiles")"
      check "unit in /usr/lib/systemd/system" grep -q './usr/lib/systemd/system/offhook.service' <<<"$files"
      # Only a package of this tree (test builds, or version ...+gitN.<HEAD>) must carry today's
      # unit; one built from an older commit carries that commit's.
      if [[ "$(dpkg-deb -f "$deb" Version)" != *+git* || "$(dpkg-deb -f "$deb" Version)" == *".$head" ]]; then
        check "the unit is the firmware's" cmp -s "$repo/firmware/offhook.service" \
          <(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/offhook.service)
      else
        echo "  note: built from an older commit than $head: its unit is not compared"
      fi
      check "the default config is the documented example" cmp -s "$repo/firmware/offhook.example.toml" \
        <(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./etc/offhook/offhook.toml)
      check "udev rules for gpio/i2c/spi" grep -q './usr/lib/udev/rules.d/60-offhook.rules' <<<"$files"
      check "i2c-dev loaded at boot" grep -q './usr/lib/modules-load.d/offhook.conf' <<<"$files"
      check "the binary is for $arch" binary_is "$deb" "$arch" offhook ;;
    offhook-server)
      check_eq "conffiles" "$(printf '/etc/offhook-server/env\n/etc/offhook-server/handsets.toml')" "$(cat "$ctrl/conffiles")"
      check "unit in /usr/lib/systemd/system" grep -q './usr/lib/systemd/system/offhook-server.service' <<<"$files"
      check "the binary is for $arch" binary_is "$deb" "$arch" offhook-server ;;
  esac
}
binary_is() { # DEB ARCH BIN
  local want
  case "$2" in arm64) want=AArch64 ;; armhf) want=ARM ;; amd64) want="X86-64" ;; esac
  dpkg-deb --fsys-tarfile "$1" | tar -xO "./usr/bin/$3" >"$work/bin.check"
  readelf -h "$work/bin.check" | grep -q "Machine:.*$want"
}
# Of the builds in images/out/debs, the newest of each package and architecture: older ones
# were made from older trees (their unit may differ from the firmware's today).
newest_builds() {
  local deb key
  declare -A newest=()
  for deb in "$repo"/images/out/debs/*.deb; do
    [ -f "$deb" ] || continue
    key="$(dpkg-deb -f "$deb" Package)_$(dpkg-deb -f "$deb" Architecture)"
    if [ -z "${newest[$key]:-}" ] || dpkg --compare-versions \
         "$(dpkg-deb -f "$deb" Version)" gt "$(dpkg-deb -f "${newest[$key]}" Version)"; then
      newest[$key]="$deb"
    fi
  done
  [ "${#newest[@]}" = 0 ] || printf '%s\n' "${newest[@]}" | sort
}
mapfile -t built < <(newest_builds)
for deb in "${built[@]}" "$work"/debs/*_1.0_amd64.deb; do
  [ -f "$deb" ] && inspect "$deb"
done

# ---- 2. life cycle in a throw-away root -------------------------------------------------
unpack_test_root "$root" || exit 1
mount -t proc proc "$root/proc"
cp "$work"/debs/*.deb "$root/tmp/"
in_root() { chroot "$root" "$@"; }
dpkg_in() {
  in_root env DEBIAN_FRONTEND=noninteractive dpkg --force-confdef --force-confold "$@" >"$work/dpkg.log" 2>&1 \
    || { local s=$?; sed 's/^/      dpkg: /' "$work/dpkg.log"; return "$s"; }
}
status_of() { in_root dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$1" 2>/dev/null | tr -s ' '; }
stat_in() { in_root stat -c '%a %U:%G' "$1" 2>/dev/null; }

echo "== install offhook 1.0"
dpkg_in -i /tmp/offhook_1.0_amd64.deb
check_eq "dpkg -i succeeds" 0 "$?"
check_eq "installed" "ii 1.0" "$(status_of offhook)"
check "system user offhook" in_root getent passwd offhook
check_eq "its shell" /usr/sbin/nologin "$(in_root getent passwd offhook | cut -d: -f7)"
for g in audio gpio i2c spi video input; do
  check "offhook in group $g" grep -qw "$g" <(in_root id -nG offhook)
done
check_eq "/etc/offhook 0750 root:offhook" "750 root:offhook" "$(stat_in /etc/offhook)"
check_eq "offhook.toml 0640 root:offhook" "640 root:offhook" "$(stat_in /etc/offhook/offhook.toml)"
check_eq "/var/lib/offhook 0750 offhook:offhook" "750 offhook:offhook" "$(stat_in /var/lib/offhook)"
check "service enabled" test -L "$root/etc/systemd/system/multi-user.target.wants/offhook.service"
check "statoverride recorded" grep -q 'root offhook 640 /etc/offhook/offhook.toml' <(in_root dpkg-statoverride --list)

echo "== upgrade to 1.1 with the owner's configuration"
echo "# the owner's line" >>"$root/etc/offhook/offhook.toml"
dpkg_in -i /tmp/offhook_1.1_amd64.deb
check_eq "upgrade succeeds" 0 "$?"
check_eq "now 1.1" "ii 1.1" "$(status_of offhook)"
check "the owner's configuration kept" grep -q "the owner's line" "$root/etc/offhook/offhook.toml"
check_eq "... still 0640 root:offhook" "640 root:offhook" "$(stat_in /etc/offhook/offhook.toml)"
check "still enabled" test -L "$root/etc/systemd/system/multi-user.target.wants/offhook.service"
check_eq "one offhook user" 1 "$(grep -c '^offhook:' "$root/etc/passwd")"

echo "== an administrator's disabled service stays disabled across upgrades"
in_root systemctl disable offhook.service >/dev/null 2>&1
dpkg_in -i /tmp/offhook_1.0_amd64.deb
check_eq "downgrade succeeds" 0 "$?"
check_not "still disabled" test -e "$root/etc/systemd/system/multi-user.target.wants/offhook.service"
in_root systemctl enable offhook.service >/dev/null 2>&1

echo "== remove keeps the configuration, state and user"
touch "$root/var/lib/offhook/history.json"
dpkg_in -r offhook
check_eq "remove succeeds" 0 "$?"
check_eq "config-files state" "rc 1.0" "$(status_of offhook)"
check_not "binary gone" test -e "$root/usr/bin/offhook"
check "configuration kept" grep -q "the owner's line" "$root/etc/offhook/offhook.toml"
check "state kept" test -f "$root/var/lib/offhook/history.json"
check "user kept" in_root getent passwd offhook

echo "== reinstall finds everything as it was"
dpkg_in -i /tmp/offhook_1.1_amd64.deb
check "configuration still the owner's" grep -q "the owner's line" "$root/etc/offhook/offhook.toml"
check "enabled again" test -L "$root/etc/systemd/system/multi-user.target.wants/offhook.service"

echo "== purge removes configuration and state"
dpkg_in -P offhook
check_eq "purge succeeds" 0 "$?"
check_eq "gone from dpkg" "" "$(status_of offhook)"
check_not "/etc/offhook gone" test -e "$root/etc/offhook"
check_not "/var/lib/offhook gone" test -e "$root/var/lib/offhook"
check_not "statoverrides gone" grep -q offhook <(in_root dpkg-statoverride --list)
check_not "no enable link left" test -e "$root/etc/systemd/system/multi-user.target.wants/offhook.service"

echo "== offhook-server: install, upgrade, purge"
dpkg_in -i /tmp/offhook-server_1.0_amd64.deb
check_eq "install succeeds" 0 "$?"
check "system user offhook-server" in_root getent passwd offhook-server
check_eq "env 0640 root:offhook-server (Twilio secrets)" "640 root:offhook-server" "$(stat_in /etc/offhook-server/env)"
check_eq "handsets.toml 0640 root:offhook-server" "640 root:offhook-server" "$(stat_in /etc/offhook-server/handsets.toml)"
check "service enabled" test -L "$root/etc/systemd/system/multi-user.target.wants/offhook-server.service"
out="$(in_root /usr/bin/offhook-server --env-file /etc/offhook-server/env check 2>&1)"
check_eq "the empty settings fail the server's check (so postinst does not start it)" 2 "$?"
check "... naming the first missing setting" grep -q TWILIO_ACCOUNT_SID <<<"$out"
sed -i 's/^TWILIO_ACCOUNT_SID=$/TWILIO_ACCOUNT_SID=ACowner/' "$root/etc/offhook-server/env"
dpkg_in -i /tmp/offhook-server_1.1_amd64.deb
check_eq "upgrade succeeds" 0 "$?"
check "the owner's settings kept" grep -q '^TWILIO_ACCOUNT_SID=ACowner' "$root/etc/offhook-server/env"
check_eq "... still 0640" "640 root:offhook-server" "$(stat_in /etc/offhook-server/env)"

echo "== offhook-server: the first start makes the database; add-handset writes into it"
# As the service would run it: the package's settings with Twilio values filled in, as the
# offhook-server user (no systemd in this root). chroot execs the server itself, so $! is it.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
sed -i -e 's/^TWILIO_ACCOUNT_SID=.*/TWILIO_ACCOUNT_SID=AC0123456789abcdef0123456789abcdef/' \
  -e 's/^TWILIO_AUTH_TOKEN=$/TWILIO_AUTH_TOKEN=0123456789abcdef0123456789abcdef/' \
  -e 's/^TWILIO_API_KEY=$/TWILIO_API_KEY=SK0123456789abcdef0123456789abcdef/' \
  -e 's/^TWILIO_API_SECRET=$/TWILIO_API_SECRET=0123456789abcdef0123456789abcdef/' \
  -e 's/^TWILIO_APP_SID=$/TWILIO_APP_SID=AP0123456789abcdef0123456789abcdef/' \
  -e 's/^TWILIO_PHONE_NUMBER=$/TWILIO_PHONE_NUMBER=+12025550199/' \
  -e "s/^OFFHOOK_LISTEN=.*/OFFHOOK_LISTEN=127.0.0.1:$port/" "$root/etc/offhook-server/env"
check "the filled-in settings pass the check" in_root /usr/bin/offhook-server --env-file /etc/offhook-server/env check
db=/var/lib/offhook-server/offhook.db
out="$(in_root /usr/bin/offhook-server --env-file /etc/offhook-server/env add-handset --id early \
  --extension 100 --name Early 2>&1)"
check_not "add-handset before the first start is refused (no database yet)" test -e "$root$db"
check "... saying to start the server first" grep -q "start offhook-server once" <<<"$out"
serve_as_service() { # the server as the service user, in the background; sets server_pid
  chroot --userspec="$(in_root id -u offhook-server):$(in_root id -g offhook-server)" "$root" /usr/bin/offhook-server \
    --env-file /etc/offhook-server/env serve >>"$work/server.log" 2>&1 &
  server_pid=$!
}
healthy() { # waits (up to 20 s) for /health; non-zero if the server never answers
  local _
  for _ in $(seq 200); do
    curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
stop_server() { kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; }
serve_as_service
check "the server starts as the service user" healthy
stop_server
check_eq "... and made its database, the service user's" "offhook-server" "$(in_root stat -c %U "$db" 2>/dev/null)"
out="$(in_root /usr/bin/offhook-server --env-file /etc/offhook-server/env add-handset --id desk-1 \
  --identity desk --extension 101 --name Desk 2>&1)"
check_eq "add-handset as documented succeeds" 0 "$?"
check "... into the database" grep -q "Added handset desk-1 (identity desk, extension 101) to the database sqlite:///var/lib/offhook-server/offhook.db" <<<"$out"
check_eq "... printing the new secret once" 1 "$(grep -cE '^[A-Za-z0-9_-]{20,}$' <<<"$out")"
check_eq "nothing in the state directory became root's" "" \
  "$(in_root find /var/lib/offhook-server ! -user offhook-server 2>/dev/null)"
serve_as_service
check "the service user's server opens the database again" healthy
out="$(in_root /usr/bin/offhook-server --env-file /etc/offhook-server/env add-handset --id desk-1 \
  --extension 102 --name Again 2>&1)"
check_not "... which has the handset (the same id again is refused)" test "$?" = 0
check "... saying so" grep -qi "desk-1" <<<"$out"
stop_server
check_eq "still nothing of root's in the state directory" "" \
  "$(in_root find /var/lib/offhook-server ! -user offhook-server 2>/dev/null)"

dpkg_in -P offhook-server
check_eq "purge succeeds" 0 "$?"
check_not "/etc/offhook-server gone" test -e "$root/etc/offhook-server"

finish
