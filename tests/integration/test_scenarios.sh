#!/usr/bin/env bash
# Every failover scenario in scripts/scenarios/ and the narrated demo (scripts/farm-demo.sh),
# one after the other, each in its own private run directory (scripts/lib/farm.sh makes
# it). One TAP line per script; a failing script's output follows as diagnostics. Each
# script gets at most 90 s; together they take well under the 4 minutes ctest allows.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
: "${FARM_BIN:=$here/../../build/bin}"
: "${FARM_SOURCE_DIR:=$here/../..}"
export FARM_BIN NO_COLOR=1
scripts=$FARM_SOURCE_DIR/scripts
# The scripts make their scratch and run directories under TMPDIR: a private one, to check
# afterwards that they cleaned up after themselves.
work=$(mktemp -d)
out=$work/out.txt
export TMPDIR=$work/tmp
mkdir -p "$TMPDIR"
trap 'rm -rf "$work"' EXIT

run_script() {
  local script=$1 name rc t0 secs summary
  name=${script#"$scripts"/}
  t0=$EPOCHREALTIME
  timeout -k 5 90 bash "$script" >"$out" 2>&1
  rc=$?
  secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed|checks? (passed|failed)' "$out" | tail -n 1)
  summary=${summary% (*}
  if [ $rc = 0 ] && ! grep -q '^not ok' "$out"; then
    _tap_result 0 "$name (${secs} s: ${summary:-no summary})"
  else
    [ $rc = 124 ] && summary="timed out after 90 s"
    _tap_result 1 "$name (${secs} s, exit $rc: ${summary:-no summary})"
    sed 's/^/#     /' "$out" | tail -n 80
  fi
}

for script in "$scripts"/scenarios/*.sh; do
  run_script "$script"
done
run_script "$scripts/farm-demo.sh"

# Nothing a script started is left running (farmctl starts each process in its run
# directory), and no scratch directory is left behind.
left=0
for pid in $(pgrep -x sim-node) $(pgrep -x lb); do
  case $(readlink "/proc/$pid/cwd" 2>/dev/null) in "$TMPDIR"/*) left=$((left + 1)) ;; esac
done
is "no process is left running in a scenario's run directory" "$left" 0
is "no scratch directory is left behind" "$(find "$TMPDIR" -mindepth 1 -maxdepth 1 | wc -l)" 0

done_testing
