# tap.sh: a tiny TAP producer for the integration scripts. Source it.
#   ok_if "description" command...   passes when the command succeeds
#   is "description" GOT WANT        passes when the strings are equal
#   like "description" GOT PATTERN   passes when GOT matches the grep -E pattern
#   unlike "description" GOT PATTERN passes when it does not
#   done_testing                     prints the plan and the summary, sets the exit code
_tap_n=0
_tap_failed=0

_tap_result() {
  _tap_n=$((_tap_n + 1))
  if [ "$1" = 0 ]; then
    echo "ok $_tap_n - $2"
  else
    echo "not ok $_tap_n - $2"
    _tap_failed=$((_tap_failed + 1))
    [ -n "${3:-}" ] && printf '#   %s\n' "$3"
  fi
}

ok_if() {
  local desc=$1; shift
  if "$@" >/dev/null 2>&1; then _tap_result 0 "$desc"; else _tap_result 1 "$desc" "command failed: $*"; fi
}

# Passes when the command fails (something that must not happen did not).
ok_unless() {
  local desc=$1; shift
  if "$@" >/dev/null 2>&1; then _tap_result 1 "$desc" "command succeeded: $*"; else _tap_result 0 "$desc"; fi
}

is() {
  if [ "$2" = "$3" ]; then _tap_result 0 "$1"; else _tap_result 1 "$1" "got '$2', want '$3'"; fi
}

like() {
  if printf '%s\n' "$2" | grep -Eq -- "$3"; then _tap_result 0 "$1"; else
    _tap_result 1 "$1" "'$(printf '%s' "$2" | head -c 300)' does not match /$3/"; fi
}

unlike() {
  if printf '%s\n' "$2" | grep -Eq -- "$3"; then
    _tap_result 1 "$1" "'$(printf '%s' "$2" | head -c 300)' matches /$3/"; else _tap_result 0 "$1"; fi
}

done_testing() {
  echo "1..$_tap_n"
  echo "$((_tap_n - _tap_failed)) passed, $_tap_failed failed"
  [ "$_tap_failed" = 0 ]
}
