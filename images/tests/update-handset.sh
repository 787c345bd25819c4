#!/usr/bin/env bash
# Tests images/update-handset: --dry-run prints the plan and sends nothing; a full run goes
# through stand-in ssh/scp that execute the "handset" side locally against stand-in dpkg,
# apt-get, systemctl and sudo, so every step (architecture check, copy, install with the
# owner's configuration kept, version check, service check, clean-up) is exercised, as are
# the refusals: a package that is not offhook's, another architecture, a downgrade unless asked.
# Usage: images/tests/update-handset.sh
source "$(dirname "$0")/lib.sh"
here="$(cd "$(dirname "$0")/.." && pwd)"
update="$here/update-handset"

work="$(mktemp -d "${TMPDIR:-/tmp}/offhook-update-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export FAKE="$work/fake"
mkdir -p "$FAKE/installed" "$FAKE/remote" "$work/bin" "$work/handset-bin"

make_deb() { # NAME VERSION ARCH [FILE] -> path
  local root="$work/pkg-$1-$3-$2" out="${4:-$work/${1}_${2}_${3}.deb}"
  mkdir -p "$root/DEBIAN" "$(dirname "$out")"
  printf 'Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: t <t@t>\nDescription: test\n' "$1" "$2" "$3" >"$root/DEBIAN/control"
  dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
  echo "$out"
}
new_offhook="$(make_deb offhook 0.2.0 arm64)"
new_server="$(make_deb offhook-server 0.2.0 arm64)"
armhf_offhook="$(make_deb offhook 0.2.0 armhf)"
old_offhook="$(make_deb offhook 0.1.5 arm64)"
other_package="$(make_deb ffmpeg 0.2.0 arm64)"
all_offhook="$(make_deb offhook 0.2.0 all)"
# A path with spaces (and a quote) in the folder and the file's own name.
spaced_offhook="$(make_deb offhook 0.2.0 arm64 "$work/my builds/it's offhook 0.2.0.deb")"

# The "handset": ssh runs the command here, with /var/tmp/offhook-update moved into $FAKE.
cat >"$work/bin/ssh" <<'EOF'
#!/bin/bash
args=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    -o) echo "$2" >>"$FAKE/ssh-options.log"; shift 2 ;;
    -p|-i) shift 2 ;;
    -O) exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
echo "${args[*]}" >>"$FAKE/ssh.log"
cmd="${args[*]:1}"
cmd="${cmd//\/var\/tmp\/offhook-update/$FAKE/remote/dir}"
PATH="$FAKE_HANDSET_BIN:$PATH" bash -c "$cmd"
EOF
cat >"$work/bin/scp" <<'EOF'
#!/bin/bash
files=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    -o) echo "$2" >>"$FAKE/scp-options.log"; shift 2 ;;
    -P|-i) shift 2 ;; -q) shift ;; *) files+=("$1"); shift ;;
  esac
done
dest="${files[-1]#*:}"
dest="${dest//\/var\/tmp\/offhook-update/$FAKE/remote/dir}"
unset 'files[-1]'
echo "scp ${files[*]}" >>"$FAKE/scp.log"
cp "${files[@]}" "$dest"
EOF
cat >"$work/handset-bin/dpkg" <<'EOF'
#!/bin/bash
[ "$1" = --print-architecture ] && { echo "$FAKE_ARCH"; exit 0; }
exit 1
EOF
# apt-get records each package's version as installed (read from the copied .deb itself).
cat >"$work/handset-bin/apt-get" <<'EOF'
#!/bin/bash
echo "apt-get $*" >>"$FAKE/apt.log"
for a in "$@"; do
  case "$a" in
    *.deb)
      [ -f "$a" ] || { echo "missing $a" >&2; exit 100; }
      read -r name version <<<"$(dpkg-deb --showformat='${Package} ${Version}' --show "$a")"
      echo "$version" >"$FAKE/installed/$name" ;;
  esac
done
EOF
# dpkg-query -W -f=FORMAT NAME: "installed VERSION" for the status format, VERSION otherwise.
cat >"$work/handset-bin/dpkg-query" <<'EOF'
#!/bin/bash
f="$FAKE/installed/${@: -1}"
[ -f "$f" ] || { echo "dpkg-query: no packages found matching ${@: -1}" >&2; exit 1; }
case "$*" in *Status-Status*) echo "installed $(cat "$f")" ;; *) cat "$f" ;; esac
EOF
cat >"$work/handset-bin/systemctl" <<'EOF'
#!/bin/bash
[ "$1" = is-active ] && { echo "${FAKE_STATE:-active}"; exit 0; }
EOF
printf '#!/bin/bash\necho "journal of $2"\n' >"$work/handset-bin/journalctl"
printf '#!/bin/bash\necho "sudo $*" >>"$FAKE/sudo.log"\n"$@"\n' >"$work/handset-bin/sudo"
printf '#!/bin/bash\nexit 0\n' >"$work/handset-bin/sleep"
# install -o USER: the handset's user need not exist here.
printf '#!/bin/bash\nargs=(); while [ "$#" -gt 0 ]; do case "$1" in -o) shift 2 ;; *) args+=("$1"); shift ;; esac; done\n/usr/bin/install "${args[@]}"\n' >"$work/handset-bin/install"
chmod +x "$work/bin/"* "$work/handset-bin/"*
export FAKE_HANDSET_BIN="$work/handset-bin"
reset_fake() { rm -rf "$FAKE"; mkdir -p "$FAKE/installed" "$FAKE/remote"; }
run() { # ARGS...: output in $out, status in $status
  out="$(PATH="$work/bin:$PATH" "$update" "$@" 2>&1)"
  status=$?
}

echo "== dry run"
reset_fake
run --dry-run offhook.local "$new_offhook" "$new_server"
check_eq "exit status 0" 0 "$status"
check "user defaults to root" grep -q "ssh root@offhook.local rm -rf /var/tmp/offhook-update" <<<"$out"
check "prints the copy" grep -q "scp .*offhook_0.2.0_arm64.deb .*offhook-server_0.2.0_arm64.deb root@offhook.local:/var/tmp/offhook-update/" <<<"$out"
check "prints an install that keeps the owner's configuration" grep -q "apt-get install .*--force-confold /var/tmp/offhook-update/offhook_0.2.0_arm64.deb /var/tmp/offhook-update/offhook-server_0.2.0_arm64.deb" <<<"$out"
check "prints the version check" grep -q "dpkg-query .* offhook   # expect 0.2.0" <<<"$out"
check_not "nothing sent" test -e "$FAKE/ssh.log"
run --dry-run --arch arm64 pi@desk "$armhf_offhook"
check_eq "a package for another architecture is refused" 1 "$status"
check "... naming both" grep -q "is for armhf, but pi@desk is arm64" <<<"$out"
echo "not a package" >"$work/junk.deb"
run --dry-run desk "$work/junk.deb"
check "a file that is not a package is refused" grep -q "is not a Debian package" <<<"$out"
run --dry-run desk "$work/none.deb"
check "a missing file is refused" grep -q "is not a file" <<<"$out"
run --dry-run desk
check "no package and no --build is refused" grep -q "give .deb files, or --build" <<<"$out"
run --dry-run desk "$other_package"
check_eq "a package that is not offhook's is refused" 1 "$status"
check "... naming it" grep -q "is the package 'ffmpeg', not an offhook package (offhook offhook-server)" <<<"$out"
run --dry-run desk "$all_offhook"
check "an Architecture: all package is refused (offhook's are per architecture)" grep -q "is for all, but root@desk is arm64" <<<"$out"
run --dry-run desk "$spaced_offhook"
check_eq "a path with spaces: dry run passes" 0 "$status"
check "... and prints the install with the name quoted" grep -qF "/var/tmp/offhook-update/it\'s\ offhook\ 0.2.0.deb" <<<"$out"
check "... and prints the downgrade check" grep -q "dpkg-query .* offhook   # refuse if newer than 0.2.0" <<<"$out"

echo "== a full update through the stand-in handset"
reset_fake
echo "0.1.0" >"$FAKE/installed/offhook"
FAKE_ARCH=arm64 run root@offhook.local "$new_offhook" "$new_server"
check_eq "exit status 0" 0 "$status"
check "asked the handset's architecture first" grep -qx "root@offhook.local dpkg --print-architecture" <(head -n1 "$FAKE/ssh.log")
check "copied both packages" grep -q "offhook_0.2.0_arm64.deb .*offhook-server_0.2.0_arm64.deb" "$FAKE/scp.log"
check "installed both with --force-confold" grep -q -- "--force-confold .*offhook_0.2.0_arm64.deb .*offhook-server_0.2.0_arm64.deb" "$FAKE/apt.log"
check_eq "offhook now 0.2.0" 0.2.0 "$(cat "$FAKE/installed/offhook")"
check "reports the installed versions" grep -q "offhook 0.2.0 installed" <<<"$out"
check "reports the service running" grep -q "offhook.service is running" <<<"$out"
check_not "the copies are removed from the handset" test -e "$FAKE/remote/dir"
check_not "root needs no sudo" test -e "$FAKE/sudo.log"
check_not "an upgrade needs no --allow-downgrades" grep -q -- "--allow-downgrades" "$FAKE/apt.log"

echo "== a fresh handset (nothing installed yet)"
reset_fake
FAKE_ARCH=arm64 run offhook.local "$new_offhook"
check_eq "exit status 0" 0 "$status"
check_eq "offhook now 0.2.0" 0.2.0 "$(cat "$FAKE/installed/offhook" 2>/dev/null)"

echo "== a path with spaces and a quote"
reset_fake
echo "0.1.0" >"$FAKE/installed/offhook"
FAKE_ARCH=arm64 run offhook.local "$spaced_offhook"
check_eq "exit status 0" 0 "$status"
check_eq "installed from the spaced name" 0.2.0 "$(cat "$FAKE/installed/offhook")"
check "apt-get got it as one file" grep -qF "/remote/dir/it's offhook 0.2.0.deb" "$FAKE/apt.log"

echo "== a downgrade"
reset_fake
echo "0.2.0" >"$FAKE/installed/offhook"
FAKE_ARCH=arm64 run offhook.local "$old_offhook"
check_eq "refused without --allow-downgrade" 1 "$status"
check "... saying why and what to do" grep -q "offhook 0.1.5 is older than the 0.2.0 on root@offhook.local: not installed (--allow-downgrade installs it anyway)" <<<"$out"
check_not "... before copying" test -e "$FAKE/scp.log"
check_eq "... the handset keeps 0.2.0" 0.2.0 "$(cat "$FAKE/installed/offhook")"
echo "0.1.10" >"$FAKE/installed/offhook"
FAKE_ARCH=arm64 run offhook.local "$old_offhook"
check_eq "versions compare as Debian's (0.1.5 < 0.1.10)" 1 "$status"
reset_fake
echo "0.2.0" >"$FAKE/installed/offhook"
FAKE_ARCH=arm64 run --allow-downgrade offhook.local "$old_offhook"
check_eq "installed with --allow-downgrade" 0 "$status"
check_eq "... now 0.1.5" 0.1.5 "$(cat "$FAKE/installed/offhook")"
check "... apt-get allowed to downgrade" grep -q -- "--allow-downgrades" "$FAKE/apt.log"
reset_fake
echo "0.2.0" >"$FAKE/installed/offhook"
FAKE_ARCH=arm64 run offhook.local "$new_offhook"
check_eq "the same version again is a reinstall, not a downgrade" 0 "$status"

echo "== ssh options reach ssh and scp"
reset_fake
FAKE_ARCH=arm64 run --ssh-option "UserKnownHostsFile=$work/known_hosts" --ssh-option StrictHostKeyChecking=yes \
  offhook.local "$new_offhook"
check_eq "exit status 0" 0 "$status"
for tool in ssh scp; do
  check "$tool got UserKnownHostsFile" grep -qx "UserKnownHostsFile=$work/known_hosts" "$FAKE/$tool-options.log"
  check "$tool got StrictHostKeyChecking" grep -qx "StrictHostKeyChecking=yes" "$FAKE/$tool-options.log"
done
run --ssh-option
check_eq "--ssh-option without a value is refused" 1 "$status"

echo "== a handset of another architecture"
reset_fake
FAKE_ARCH=armhf run offhook.local "$new_offhook"
check_eq "refused" 1 "$status"
check "... before copying" test ! -e "$FAKE/scp.log"
reset_fake
FAKE_ARCH="" run offhook.local "$new_offhook"
check "a handset that names no architecture is refused" grep -q "answered '' to dpkg --print-architecture" <<<"$out"

echo "== a service that does not come back"
reset_fake
FAKE_ARCH=arm64 FAKE_STATE=failed run offhook.local "$new_offhook"
check_eq "exit status 1" 1 "$status"
check "prints the service's journal" grep -q "journal of offhook.service" <<<"$out"

echo "== a non-root user goes through sudo"
reset_fake
FAKE_ARCH=arm64 run pi@offhook.local "$new_offhook"
check_eq "exit status 0" 0 "$status"
check "apt-get through sudo" grep -q "sudo env DEBIAN_FRONTEND=noninteractive apt-get install" "$FAKE/sudo.log"

finish
