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

finish() {
  echo "$test_name: $tests_passed passed, $tests_failed failed"
  [ "$tests_failed" = 0 ]
}
