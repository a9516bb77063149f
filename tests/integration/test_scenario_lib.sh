#!/usr/bin/env bash
# scripts/lib/farm.sh, the scenarios' library, against real farms: a scenario never touches
# a farm it did not start (not even one named by an inherited FARM_RUN_DIR), its checks fail
# when there was nothing to check, and settings given on its command line mean what they
# say. Small scripts that source the library run here, each in a private TMPDIR; farms on
# 127.0.0.1, free ports; nothing sleeps.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
: "${FARM_BIN:=$here/../../build/bin}"
: "${FARM_SOURCE_DIR:=$here/../..}"
export FARM_BIN NO_COLOR=1
farmctl=$FARM_BIN/farmctl
lib=$FARM_SOURCE_DIR/scripts/lib/farm.sh
work=$(mktemp -d)
export TMPDIR=$work/tmp
mkdir -p "$TMPDIR"
unset FARM_RUN_DIR

cleanup() {
  [ -f "$work/user-run/farm.json" ] && "$farmctl" down --run-dir "$work/user-run" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# scenario NAME BODY: run BODY as a scenario script (the library sourced first, finish
# last) from $work/cwd; its output in $out, its exit status in $rc.
mkdir -p "$work/cwd"
scenario() {
  printf '. %q\n%s\nfinish\n' "$lib" "$2" >"$work/$1.sh"
  out=$(cd "$work/cwd" && timeout -k 5 60 bash "$work/$1.sh" 2>&1)
  rc=$?
}

# tap_line N: line "ok N - ..." or "not ok N - ..." of the scenario's output, as "ok" or
# "not ok" ("none" when there is no such line).
tap_line() {
  printf '%s\n' "$out" | awk -v n="$1" '
    $1 == "ok" && $2 == n { r = "ok" } $1 == "not" && $3 == n { r = "not ok" }
    END { print (r == "" ? "none" : r) }'
}

# --- a scenario leaves the caller's farm alone ----------------------------------------------
# The user's own farm, in the FARM_RUN_DIR the scenarios inherit.
export FARM_RUN_DIR=$work/user-run
out=$("$farmctl" up "$FARM_SOURCE_DIR/farms/healthy.ini" 2>&1); rc=$?
is "the user's farm is up" "$rc" 0
user_pids=$(jq -r '[.lb.pid, (.nodes[] | .pid)] | .[]' "$FARM_RUN_DIR/farm.json" | tr '\n' ' ')
# Every one of them runs (a zombie does not: nobody may be reaping it).
all_alive() {
  local p st
  for p in $user_pids; do
    st=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$p/stat" 2>/dev/null)
    case $st in '' | Z | X) return 1 ;; esac
  done
}

out=$(timeout -k 5 90 bash "$FARM_SOURCE_DIR/scripts/scenarios/clock-drift.sh" 2>&1); rc=$?
is "clock-drift.sh with FARM_RUN_DIR set to the user's farm: exit 0" "$rc" 0
ok_if "... the user's farm.json is still there" test -f "$FARM_RUN_DIR/farm.json"
ok_if "... every process of the user's farm still runs ($user_pids)" all_alive
"$farmctl" status >/dev/null 2>&1; rc=$?
is "... farmctl status on the user's farm: exit 0" "$rc" 0

scenario before-farm-up '
farm status; check "farm status before farm_up finds no farm (exit $?)" test $? = 2
farm_down
check "farm_down before farm_up: the inherited FARM_RUN_DIR is not used" test "$FARM_RUN_DIR" != "'"$work"'/user-run"
farm_up healthy
farm_down
farm_up healthy'
is "a scenario that calls farm before farm_up, and farm_down: exit 0" "$rc" 0
is "... farm status found no farm (not the user's)" "$(tap_line 1)" ok
ok_if "... the user's farm still runs" all_alive

"$farmctl" down >/dev/null
unset FARM_RUN_DIR

# --- expect_keys_differ checks something, or fails ------------------------------------------
scenario keys-differ '
farm_up healthy
expect_keys_differ
for n in web1 web2 web3; do quietly farm kill $n; done
expect_keys_differ
farm_down
expect_keys_differ
farm_up autogenerate
expect_keys_differ web3
expect_keys_differ'
is "expect_keys_differ on a healthy farm: ok" "$(tap_line 1)" ok
is "expect_keys_differ with every node killed (no node reported a key): not ok" "$(tap_line 2)" "not ok"
like "... says which nodes gave no key" "$out" "not every node reported a key \\(none from: web1, web2, web3\\)"
is "expect_keys_differ after farm_down (farmctl status failed): not ok" "$(tap_line 3)" "not ok"
like "... says farmctl status failed" "$out" "farmctl status exited 2: farmctl: no farm running"
is "expect_keys_differ web3 on farms/autogenerate.ini: ok" "$(tap_line 4)" ok
is "expect_keys_differ (nobody) on farms/autogenerate.ini: not ok" "$(tap_line 5)" "not ok"
is "... and the script exits 1" "$rc" 1

# --- numbers with fractions -----------------------------------------------------------------
scenario fractions '
gap=$(seconds_between 2026-01-02T03:04:05.9900000Z 2026-01-02T03:04:08.0000000Z)
expect_eq "seconds_between keeps the fractions" "$gap" 2.010
expect_at_least "2.01 s is not 3 s" "$gap" 3
expect_at_least "3.001 s is 3 s or more" "$(seconds_between 2026-01-02T03:04:05Z 2026-01-02T03:04:08.001Z)" 3
expect_at_least "no number is not 3 s" "$(seconds_between never 2026-01-02T03:04:08Z)" 3'
is "seconds_between: 2.010" "$(tap_line 1)" ok
is "expect_at_least 2.01 3: not ok" "$(tap_line 2)" "not ok"
is "expect_at_least 3.001 3: ok" "$(tap_line 3)" ok
is "expect_at_least '' 3: not ok" "$(tap_line 4)" "not ok"

# --- expect_load_errors_in_flight_on checks lb's access log, or fails --------------------------
scenario in-flight '
farm_up healthy no-passive=yes
expect_load_errors_in_flight_on web3
quietly load --users 10 --requests 100
expect_load_errors_in_flight_on web3
quietly farm fault web3 error=0.3
quietly load --users 10 --requests 200
expect_load_errors_in_flight_on web3'
is "expect_load_errors_in_flight_on before any load: not ok" "$(tap_line 1)" "not ok"
like "... says there is no load report" "$out" "no load report: run load or load_bg first"
is "expect_load_errors_in_flight_on after a load without errors: ok" "$(tap_line 2)" ok
is "expect_load_errors_in_flight_on when web3 answers 500 itself: not ok" "$(tap_line 3)" "not ok"
like "... the load's errors are not requests lb gave up on" "$out" \
  "the load counted [1-9][0-9]* errors; lb's access log has 0 requests it gave up on"

# --- a relative machine-key override is the caller's file -----------------------------------
"$farmctl" key generate >"$work/cwd/mine.config"
scenario override '
f=$(farm_file healthy web3.machine-key=mine.config)
check "farm_file: web3.machine-key=mine.config is the caller'"'"'s mine.config" grep -qx "machine-key = $PWD/mine.config" "$f"
farm_up healthy web3.machine-key=mine.config
expect_keys_differ web3'
is "farm_up healthy web3.machine-key=mine.config (relative to the caller): exit 0" "$rc" 0
is "... the farm file names the caller's file" "$(tap_line 1)" ok
is "... and web3 runs with that key" "$(tap_line 2)" ok

# Nothing is left running in the scenarios' run directories.
left=0
for pid in $(pgrep -x sim-node) $(pgrep -x lb); do
  case $(readlink "/proc/$pid/cwd" 2>/dev/null) in "$TMPDIR"/* | "$work"/*) left=$((left + 1)) ;; esac
done
is "no process is left running" "$left" 0

done_testing
