# Shared helpers for the images/ tests (sourced). Each test file prints one line per check and
# exits non-zero when any check failed.
set -uo pipefail
tests_failed=0
tests_passed=0
test_name="$(basename "${BASH_SOURCE[1]:-$0}")"

pass() { tests_passed=$((tests_passed + 1)); echo "  ok   $*"; }
fail() { tests_failed=$((tests_failed + 1)); echo "  FAIL $*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() { local what="$1"; shift; if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi; }
# check_not DESCRIPTION COMMAND...: passes when the command fails.
check_not() { local what="$1"; shift; if "$@" >/dev/null 2>&1; then fail "$what"; else pass "$what"; fi; }
# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1 (expected '$2', got '$3')"; fi
}
mode_of() { stat -c %a "$1" 2>/dev/null; }
owner_of() { stat -c %u:%g "$1" 2>/dev/null; }
file_contains() { grep -qF -- "$2" "$1"; }

# The throw-away Debian bookworm amd64 root for the tests that need one (debs.sh, rootfs.sh):
# made once with mmdebstrap (from the Debian mirror) and cached as a tarball in
# images/out/cache, whose name changes with the package list. What the offhook packages need
# besides the minimal system, and what the image's own settings are checked with.
test_root_packages="systemd,udev,libasound2,unattended-upgrades"
unpack_test_root() { # DIR: fills DIR with the root; non-zero with a message when it cannot
  local repo cache
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  cache="$repo/images/out/cache/test-root-bookworm-amd64-$(printf '%s' "$test_root_packages" | sha256sum | cut -c1-8).tar"
  command -v mmdebstrap >/dev/null || { echo "$test_name: mmdebstrap missing: .ci/install-deps --images"; return 1; }
  if [ ! -f "$cache" ]; then
    echo "== making the throw-away root (once; cached in $cache)"
    mkdir -p "$(dirname "$cache")"
    mmdebstrap --quiet --format=tar --variant=minbase --include="$test_root_packages" bookworm "$cache.tmp" >/dev/null \
      && mv "$cache.tmp" "$cache" || { echo "$test_name: mmdebstrap failed"; return 1; }
  fi
  mkdir -p "$1"
  tar -C "$1" -xf "$cache" || { echo "$test_name: cannot unpack $cache"; return 1; }
  [ -x "$1/usr/bin/dpkg" ] || { echo "$test_name: $cache is not a Debian root"; return 1; }
}

finish() {
  echo "$test_name: $tests_passed passed, $tests_failed failed"
  [ "$tests_failed" = 0 ]
}
