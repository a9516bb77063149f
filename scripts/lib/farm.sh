# scripts/lib/farm.sh: a small library for failover scenarios. Source it from bash:
#
#   . "$(dirname "$0")/../lib/farm.sh"
#   farm_up healthy                      # farms/healthy.ini in a private run directory
#   user alice login
#   expect_ticket valid
#   finish
#
# A scenario brings a farm up (farm_up), drives simulated users through its load balancer
# (user), breaks and repairs it (farm drain web2, farm kill web3, ...), and checks what
# happened with readable assertions that print TAP ("ok 3 - ..."). finish prints the plan
# and the totals and sets the exit status. Everything the farm started is stopped, and the
# run directories are removed, when the script exits, whatever the reason.
#
# farmctl is $FARM_BIN/farmctl when FARM_BIN is set, else this repository's build/bin.
# Colour only when standard output is a terminal and NO_COLOR is unset.
# Nothing here sleeps: waits follow lb's event stream (GET /events?follow=1) with a
# deadline, or poll lb's admin API a bounded number of times.
#
# The full list of functions is in docs/scenarios.md.

# ---- where things are ------------------------------------------------------------------

FARM_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FARM_BIN=${FARM_BIN:-$FARM_REPO/build/bin}
FARMCTL=$FARM_BIN/farmctl
FARMS=$FARM_REPO/farms
export FARM_BIN FARMCTL

if [ ! -x "$FARMCTL" ]; then
  echo "Bail out! no farmctl at $FARMCTL (build first: make build, or set FARM_BIN)"
  exit 1
fi
for _farm_tool in jq curl; do
  command -v "$_farm_tool" >/dev/null || { echo "Bail out! $_farm_tool is not installed (scripts/install-deps.sh)"; exit 1; }
done
unset _farm_tool

# Private scratch space for this script: run directories, key files, answers.
FARM_TMP=$(mktemp -d "${TMPDIR:-/tmp}/farmlab-scenario.XXXXXX")
_FARM_RUNS=()        # every run directory farm_up made: the only ones farm_down may stop
_FARM_BG=()          # background pids to stop at exit (loads, event followers)
_FARM_N=0            # assertions so far
_FARM_FAILED=0
_FARM_T0=$EPOCHREALTIME

# farmctl finds the farm through FARM_RUN_DIR (else ./.farm). A FARM_RUN_DIR inherited from
# the caller names the caller's own farm: a scenario never uses it, and never stops it.
# Until farm_up, farmctl is pointed at a directory that does not exist, so a command that
# comes too early finds no farm rather than someone else's.
FARM_RUN_DIR=$FARM_TMP/no-farm-yet
export FARM_RUN_DIR

# ---- colour ----------------------------------------------------------------------------

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  _C_OK=$'\033[32m' _C_BAD=$'\033[31m' _C_STEP=$'\033[1;36m' _C_DIM=$'\033[2m' _C_OFF=$'\033[0m'
else
  _C_OK='' _C_BAD='' _C_STEP='' _C_DIM='' _C_OFF=''
fi

# Presentation. TAP by default: narration and answers are comments ("# ..."), results
# "ok N - ...". FARM_STYLE=story (set it before sourcing; scripts/farm-demo.sh does) prints
# for people instead: no "#", results as "  ✓ ..." / "  ✗ ...", and finish prints a
# one-line total. Exit statuses are the same in both.
if [ "${FARM_STYLE:-tap}" = story ]; then
  _P_STEP='' _P_NOTE='    '
else
  _P_STEP='# ' _P_NOTE='#   '
fi

# ---- narration -------------------------------------------------------------------------

# step "text": a line of narration (a TAP comment).
step() {
  [ "${FARM_STYLE:-tap}" = story ] && echo
  printf '%s%s%s%s\n' "$_C_STEP" "$_P_STEP" "$*" "$_C_OFF"
}

# note "text": a quieter comment, indented.
note() {
  printf '%s%s%s%s\n' "$_C_DIM" "$_P_NOTE" "$*" "$_C_OFF"
}

# quietly CMD...: run CMD (user, farm, load, ...) without printing its answer lines.
quietly() {
  local FARM_QUIET=1
  "$@"
}

# Print a command's output as indented comments (unless quiet).
_farm_show() {
  [ -n "${FARM_QUIET:-}" ] && return 0
  local line
  while IFS= read -r line; do
    [ -n "$line" ] && printf '%s%s%s%s\n' "$_C_DIM" "$_P_NOTE" "$line" "$_C_OFF"
  done
}

# ---- TAP -------------------------------------------------------------------------------

# _farm_result 0|1 DESCRIPTION [DIAGNOSTIC...]
_farm_result() {
  local rc=$1 desc=$2 line
  shift 2
  _FARM_N=$((_FARM_N + 1))
  [ "$rc" = 0 ] || _FARM_FAILED=$((_FARM_FAILED + 1))
  if [ "${FARM_STYLE:-tap}" = story ]; then
    if [ "$rc" = 0 ]; then
      printf '%s  \xe2\x9c\x93 %s%s\n' "$_C_OK" "$desc" "$_C_OFF"
    else
      printf '%s  \xe2\x9c\x97 %s%s\n' "$_C_BAD" "$desc" "$_C_OFF"
    fi
  elif [ "$rc" = 0 ]; then
    printf '%sok %d - %s%s\n' "$_C_OK" "$_FARM_N" "$desc" "$_C_OFF"
  else
    printf '%snot ok %d - %s%s\n' "$_C_BAD" "$_FARM_N" "$desc" "$_C_OFF"
  fi
  if [ "$rc" != 0 ]; then
    for line in "$@"; do
      printf '#   %s\n' "$line"
    done
  fi
  return "$rc"
}

# pass DESC / fail DESC [DIAG...]: record a result yourself.
pass() { _farm_result 0 "$1"; }
fail() { local d=$1; shift; _farm_result 1 "$d" "$@"; }

# check DESC CMD...: passes when CMD succeeds.
check() {
  local desc=$1 out
  shift
  if out=$("$@" 2>&1); then
    _farm_result 0 "$desc"
  else
    _farm_result 1 "$desc" "command failed: $*" "${out:0:300}"
  fi
}

# jqt ARGS...: jq -r ARGS (input on stdin) printed exactly "true". (jq -e passes on an
# empty input, which is what a dead farm answers.)
jqt() {
  [ "$(jq -r "$@" 2>/dev/null)" = true ]
}

# expect_jq DESC JSON FILTER [jq args...]: passes when FILTER gives true on JSON.
expect_jq() {
  local desc=$1 json=$2 filter=$3
  shift 3
  if jqt "$@" "$filter" <<<"$json"; then
    _farm_result 0 "$desc"
  else
    _farm_result 1 "$desc" "$filter gave: $(jq -c "$@" "$filter" <<<"$json" 2>&1 | head -c 200)" \
      "on: $(head -c 200 <<<"$json")"
  fi
}

# expect_eq DESC GOT WANT
expect_eq() {
  if [ "$2" = "$3" ]; then _farm_result 0 "$1"; else _farm_result 1 "$1" "got '$2', want '$3'"; fi
}

# expect_at_least DESC GOT MIN: passes when the number GOT is MIN or more, fractions
# included (2.01 is less than 3). GOT that is not a number fails.
expect_at_least() {
  if awk -v g="$2" -v m="$3" 'BEGIN { exit !(g ~ /^-?[0-9]+(\.[0-9]+)?$/ && g + 0 >= m + 0) }'; then
    _farm_result 0 "$1"
  else
    _farm_result 1 "$1" "got '$2', want at least $3"
  fi
}

# seconds_between ISO8601 ISO8601: the seconds from the first time to the second, to the
# millisecond ("2.010"), as lb writes times (2026-01-02T03:04:05.0100000Z). Prints nothing
# when either is not such a time.
seconds_between() {
  jq -rn --arg a "$1" --arg b "$2" '
    def t: capture("^(?<s>[0-9-]+T[0-9:]+)(?<f>\\.[0-9]+)?Z$")
           | [(.s + "Z" | fromdate), ("0" + (.f // "") | tonumber)];
    ($a | t) as $x | ($b | t) as $y | ($y[0] - $x[0]) + ($y[1] - $x[1])' 2>/dev/null |
    awk 'NF { printf "%.3f\n", $1 }'
}

# finish: the plan, the totals, the time; exit status 1 when anything failed.
finish() {
  local secs
  secs=$(awk -v a="$_FARM_T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  if [ "${FARM_STYLE:-tap}" = story ]; then
    if [ "$_FARM_FAILED" = 0 ]; then
      printf '%s%d checks passed%s in %s s\n' "$_C_OK" "$_FARM_N" "$_C_OFF" "$secs"
      exit 0
    fi
    printf '%s%d of %d checks failed%s in %s s\n' "$_C_BAD" "$_FARM_FAILED" "$_FARM_N" "$_C_OFF" "$secs"
    exit 1
  fi
  echo "1..$_FARM_N"
  if [ "$_FARM_FAILED" = 0 ]; then
    printf '%s%d passed, %d failed%s (%s s)\n' "$_C_OK" "$_FARM_N" 0 "$_C_OFF" "$secs"
    exit 0
  fi
  printf '%s%d passed, %d failed%s (%s s)\n' "$_C_BAD" "$((_FARM_N - _FARM_FAILED))" \
    "$_FARM_FAILED" "$_C_OFF" "$secs"
  exit 1
}

# bail_out REASON: stop the scenario at once (the EXIT trap still cleans up).
bail_out() {
  echo "Bail out! $*"
  exit 1
}

# ---- the farm --------------------------------------------------------------------------

# farm_file FILE [--as NAME] [SETTING=VALUE | NODE.SETTING=VALUE ...]: print the path of a
# farm file. FILE is a path, or a name in farms/ ("healthy", "autogenerate.ini"). With
# settings (or --as), a copy is written to the scratch directory (as NAME.ini, so farmctl
# calls the farm NAME): SETTING=VALUE sets a [farm] setting,
# NODE.SETTING=VALUE one of [node NODE], stateserver.SETTING=VALUE one of [stateserver];
# a setting already there is replaced, otherwise added. Relative machine-key paths keep
# pointing where they did: those in FILE at FILE's folder, those given as
# NODE.machine-key=PATH at the caller's working directory.
farm_file() {
  local file=$1 dir base out as=
  shift
  if [ "${1:-}" = --as ]; then as=$2; shift 2; fi
  if [ ! -f "$file" ]; then
    if [ -f "$FARMS/$file" ]; then file=$FARMS/$file
    elif [ -f "$FARMS/$file.ini" ]; then file=$FARMS/$file.ini
    else echo "farm_file: no farm file '$file' (nor in $FARMS)" >&2; return 2
    fi
  fi
  [ $# = 0 ] && [ -z "$as" ] && { printf '%s\n' "$file"; return 0; }
  dir=$(cd "$(dirname "$file")" && pwd)
  base=$(basename "$file")
  out=$FARM_TMP/files/${as:-${base%.ini}}.ini
  mkdir -p "$FARM_TMP/files"
  local kv sect key value overrides=()
  for kv in "$@"; do
    key=${kv%%=*}
    value=${kv#*=}
    if [ "$key" = "$kv" ]; then echo "farm_file: '$kv' is not SETTING=VALUE" >&2; return 2; fi
    case $key in
      stateserver.*) sect="stateserver" key=${key#stateserver.} ;;
      *.*) sect="node ${key%.*}" key=${key##*.} ;;
      *) sect="farm" ;;
    esac
    # The copy lives in the scratch folder, against which farmctl would resolve it.
    if [ "$key" = machine-key ] && [ -n "$value" ] && [ "${value#/}" = "$value" ]; then
      value=$PWD/$value
    fi
    overrides+=("$sect"$'\t'"$key"$'\t'"$value")
  done
  printf '%s\n' "${overrides[@]}" | awk -F'\t' -v dir="$dir" '
    function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
    function flush(   k, p) {   # settings of the section that ends, not seen in it
      for (k in want) {
        split(k, p, SUBSEP)
        if (p[1] == cur && !(k in done)) { print p[2] " = " want[k]; done[k] = 1 }
      }
    }
    NR == FNR { want[$1 SUBSEP $2] = $3; sections[$1] = 1; next }
    /^[ \t]*\[/ {
      if (cur != "") flush()
      s = $0; sub(/^[ \t]*\[[ \t]*/, "", s); sub(/[ \t]*\].*$/, "", s); gsub(/[ \t]+/, " ", s)
      cur = s; seen[s] = 1; print; next
    }
    match($0, /^[ \t]*[A-Za-z0-9_-]+[ \t]*[=:]/) {
      k = trim(substr($0, RSTART, RLENGTH - 1))
      if ((cur SUBSEP k) in want) { print k " = " want[cur SUBSEP k]; done[cur SUBSEP k] = 1; next }
      if (k == "machine-key") {
        v = trim(substr($0, RSTART + RLENGTH)); sub(/[ \t]+;.*$/, "", v)
        if (v !~ /^\//) { print "machine-key = " dir "/" v; next }
      }
    }
    { print }
    END {
      if (cur != "") flush()
      for (s in sections) if (!(s in seen)) {
        print ""; print "[" s "]"
        for (k in want) { split(k, p, SUBSEP); if (p[1] == s) print p[2] " = " want[k] }
      }
    }' - "$file" >"$out" || return 2
  printf '%s\n' "$out"
}

# farm_up FILE [--as NAME] [SETTING=VALUE ...]: start the farm in a new private run directory
# (FARM_RUN_DIR is exported, so every farmctl command finds it). Sets FARM_URL and
# FARM_ADMIN (lb's admin API). A farm this script brought up before is brought down first.
# Bails out when the farm does not start.
farm_up() {
  local file out rc
  file=$(farm_file "$@") || bail_out "farm_up: bad farm file or settings: $*"
  farm_down
  FARM_RUN_DIR=$(mktemp -d "$FARM_TMP/run.XXXXXX") || bail_out "mktemp failed"
  export FARM_RUN_DIR
  _FARM_RUNS+=("$FARM_RUN_DIR")
  out=$("$FARMCTL" up "$file" 2>&1)
  rc=$?
  if [ $rc != 0 ]; then
    printf '%s\n' "$out" | sed 's/^/# /'
    bail_out "farmctl up $(basename "$file") failed (exit $rc)"
  fi
  FARM_URL=$(jq -r .lb.url "$FARM_RUN_DIR/farm.json")
  FARM_ADMIN=$(jq -r .lb.admin "$FARM_RUN_DIR/farm.json")
  printf '%s\n' "$out" | _farm_show
}

# _farm_is_ours DIR: did farm_up make the run directory DIR?
_farm_is_ours() {
  local d
  for d in "${_FARM_RUNS[@]}"; do
    [ "$d" = "$1" ] && return 0
  done
  return 1
}

# farm_down: stop the current farm (the EXIT trap does this for you). Only ever a farm that
# farm_up started: anything else FARM_RUN_DIR may name is left alone.
farm_down() {
  _farm_is_ours "${FARM_RUN_DIR:-}" || return 0
  [ -f "$FARM_RUN_DIR/farm.json" ] || return 0
  "$FARMCTL" down --run-dir "$FARM_RUN_DIR" >/dev/null 2>&1
}

# farm CMD ARGS...: any farmctl command against the current farm (drain, stop, start,
# kill, restart, rekey, fault, add, remove, keys, status), its output shown as comments.
# Returns farmctl's exit status. `farm drain NODE --wait` returns when lb has drained the
# node, showing what held it meanwhile.
farm() {
  local out rc
  out=$("$FARMCTL" "$@" 2>&1)
  rc=$?
  printf '%s\n' "$out" | _farm_show
  return $rc
}

# node_addr NODE: the node's HOST:PORT, from farm.json.
node_addr() {
  jq -r --arg n "$1" '.nodes[$n].listen // empty' "$FARM_RUN_DIR/farm.json"
}

# stateserver_addr: the state server's HOST:PORT.
stateserver_addr() {
  jq -r '.stateserver.listen // empty' "$FARM_RUN_DIR/farm.json"
}

# node_info NODE: the node's /_farm/info (JSON).
node_info() {
  curl -s --max-time 5 "http://$(node_addr "$1")/_farm/info"
}

# node_clock NODE advance=31m | set=ISO8601: move a node's clock (sim-node §10).
node_clock() {
  curl -s --max-time 5 -X POST "http://$(node_addr "$1")/_farm/clock?$2" | _farm_show
}

# new_key NAME: make a fresh <machineKey> with farmctl key generate, made here and seen by
# nobody else, in the scratch directory; prints its path: B=$(new_key rotated).
new_key() {
  local f=$FARM_TMP/keys/$1.config
  mkdir -p "$FARM_TMP/keys"
  if ! "$FARMCTL" key generate >"$f"; then
    echo "farmctl key generate failed" >&2
    return 1
  fi
  printf '%s\n' "$f"
}

# ---- users -----------------------------------------------------------------------------

# The last answer, set by user, user_at, form and postback:
#   LAST          the whole answer (farmctl client --json)
#   LAST_STATUS   HTTP status (0: no answer)     LAST_NODE      X-Farm-Node ('-' if none)
#   LAST_TICKET   X-Farm-Ticket                  LAST_SESSION   X-Farm-Session
#   LAST_USER     X-Farm-User                    LAST_LOCATION  Location
#   LAST_WHO      the simulated user             LAST_ACTION    what it did
#   LAST_VIEWSTATE  X-Farm-ViewState (form and postback only)
LAST='{}' LAST_STATUS=0 LAST_NODE=- LAST_TICKET=- LAST_SESSION=- LAST_USER=- LAST_LOCATION=-
LAST_WHO=- LAST_ACTION=- LAST_VIEWSTATE=-

_farm_parse_last() {
  IFS=$'\t' read -r LAST_STATUS LAST_NODE LAST_TICKET LAST_SESSION LAST_USER LAST_LOCATION < <(
    jq -r '[(.status // 0), (.node // "-"), (.ticket // "-"), (.session // "-"), (.user // "-"),
            (.location // "-")] | map(tostring) | @tsv' <<<"$LAST" 2>/dev/null)
  : "${LAST_STATUS:=0}" "${LAST_NODE:=-}" "${LAST_TICKET:=-}" "${LAST_SESSION:=-}" "${LAST_USER:=-}" "${LAST_LOCATION:=-}"
}

# One line about the last answer, as farmctl client prints it.
last_line() {
  local extra='' cart err
  [ "$LAST_USER" != - ] && extra+=" user=$LAST_USER"
  [ "$LAST_LOCATION" != - ] && extra+=" location=$LAST_LOCATION"
  [ "$LAST_VIEWSTATE" != - ] && extra+=" viewstate=$LAST_VIEWSTATE"
  cart=$(jq -r '.body | objects | .cart // empty | arrays | join(",")' <<<"$LAST" 2>/dev/null)
  [ -n "$cart" ] && extra+=" cart=$cart"
  err=$(jq -r '.error // (if (.status // 0) >= 400 then (.body | objects | .error) else null end)
               // empty' <<<"$LAST" 2>/dev/null)
  [ -n "$err" ] && extra+=" error=\"$err\""
  printf '%s %s: %s node=%s ticket=%s session=%s%s\n' "$LAST_WHO" "$LAST_ACTION" \
    "$LAST_STATUS" "$LAST_NODE" "$LAST_TICKET" "$LAST_SESSION" "$extra"
}

# user NAME ACTION [ARG]: one request as NAME through lb (farmctl client NAME ACTION
# --json): login, logout, whoami, account, cart, add ITEM, get PATH, post PATH. The answer
# becomes LAST_*; a line about it is printed unless quiet. Always returns 0.
user() {
  local name=$1 err
  shift
  LAST_WHO=$name LAST_ACTION="$*" LAST_VIEWSTATE=-
  LAST=$("$FARMCTL" client "$name" "$@" --json 2>"$FARM_TMP/client.err")
  if [ -z "$LAST" ]; then
    err=$(head -c 300 "$FARM_TMP/client.err")
    LAST=$(jq -cn --arg e "$err" '{status: 0, node: null, ticket: null, session: null,
                                   user: null, location: null, body: null, error: $e}')
  fi
  _farm_parse_last
  [ -n "${FARM_QUIET:-}" ] || last_line | _farm_show
  return 0
}

# user_bg NAME ACTION [ARG]: the same request in the background (say, one that a latency
# fault keeps in flight); user_wait collects its answer into LAST_* and prints it.
user_bg() {
  mark_events
  _FARM_USER_BG_WHO=$1
  _FARM_USER_BG_ACTION="${*:2}"
  ( local FARM_QUIET=1; user "$@"; printf '%s\n' "$LAST" >"$FARM_TMP/user_bg.json" ) &
  _FARM_USER_BG=$!
  _FARM_BG+=("$_FARM_USER_BG")
}
user_wait() {
  wait "$_FARM_USER_BG"
  LAST=$(cat "$FARM_TMP/user_bg.json" 2>/dev/null)
  [ -n "$LAST" ] || LAST='{"status":0,"error":"no answer recorded"}'
  LAST_WHO=$_FARM_USER_BG_WHO LAST_ACTION=$_FARM_USER_BG_ACTION LAST_VIEWSTATE=-
  _farm_parse_last
  [ -n "${FARM_QUIET:-}" ] || last_line | _farm_show
}

# user_until NODE NAME ACTION [ARG]: repeat the request until NODE answers it (at most
# 12 times), so the next assertions are about NODE. Returns 1 if NODE never answered.
user_until() {
  local node=$1 i
  shift
  for i in $(seq 1 12); do
    quietly user "$@"
    if [ "$LAST_NODE" = "$node" ]; then
      [ -n "${FARM_QUIET:-}" ] || last_line | _farm_show
      return 0
    fi
  done
  note "$1 $2: $node never answered in 12 requests"
  return 1
}

# _farm_hdr FILE NAME: the value of header NAME in the header dump FILE (the last one).
_farm_hdr() {
  tr -d '\r' <"$1" | awk -v k="$2" 'BEGIN { k = tolower(k) ":" }
    tolower($1) == k { sub(/^[^:]*:[ \t]*/, ""); v = $0 } END { print v }'
}

# _farm_curl URL [curl args...]: one request with the current user's jar (curl reads and
# writes farmctl's Netscape jars); LAST from the status, the X-Farm-* headers and the body.
_farm_curl() {
  local url=$1 jar=$FARM_RUN_DIR/jars/$LAST_WHO.txt hdr=$FARM_TMP/h.txt body=$FARM_TMP/b.txt
  shift
  mkdir -p "$FARM_RUN_DIR/jars"
  : >"$hdr"
  : >"$body"
  curl -s --max-time 30 -b "$jar" -c "$jar" -D "$hdr" -o "$body" "$@" "$url" 2>/dev/null
  LAST=$(jq -cn --arg st "$(tr -d '\r' <"$hdr" | awk 'NR == 1 { print $2 }')" \
    --arg node "$(_farm_hdr "$hdr" X-Farm-Node)" --arg ticket "$(_farm_hdr "$hdr" X-Farm-Ticket)" \
    --arg session "$(_farm_hdr "$hdr" X-Farm-Session)" --arg user "$(_farm_hdr "$hdr" X-Farm-User)" \
    --arg loc "$(_farm_hdr "$hdr" Location)" --rawfile body "$body" '
    def n: if . == "" then null else . end;
    {status: ($st | tonumber? // 0), node: ($node | n), ticket: ($ticket | n),
     session: ($session | n), user: ($user | n), location: ($loc | n),
     body: ($body | fromjson? // $body)}')
  LAST_VIEWSTATE=$(_farm_hdr "$hdr" X-Farm-ViewState)
  : "${LAST_VIEWSTATE:=-}"
  _farm_parse_last
  [ -n "${FARM_QUIET:-}" ] || last_line | _farm_show
}

# user_at NODE NAME ACTION [ARG]: the same request as `user`, straight to NODE, bypassing
# lb (what a user whose NLB host is NODE would send). Uses NAME's cookie jar.
user_at() {
  local node=$1 name=$2 action=$3 arg=${4:-} path method=GET
  LAST_WHO=$name LAST_ACTION="$action${arg:+ $arg} @$node" LAST_VIEWSTATE=-
  case $action in
    login) path="/login?user=$(jq -rn --arg v "$name" '$v | @uri')" ;;
    logout|whoami|account|cart) path="/$action" ;;
    add) path="/cart/add?item=$(jq -rn --arg v "$arg" '$v | @uri')" method=POST ;;
    get) path=$arg ;;
    post) path=$arg method=POST ;;
    *) bail_out "user_at: unknown action '$action'" ;;
  esac
  if [ $method = POST ]; then
    _farm_curl "http://$(node_addr "$node")$path" -X POST -d ''
  else
    _farm_curl "http://$(node_addr "$node")$path"
  fi
}

# form NAME [NODE]: NAME fetches the Web Forms page GET /form (through lb, or from NODE)
# and keeps its __VIEWSTATE for postback. LAST_NODE is the node that made the form.
form() {
  local name=$1 node=${2:-} url
  LAST_WHO=$name LAST_ACTION="GET /form${node:+ @$node}" LAST_VIEWSTATE=-
  if [ -n "$node" ]; then url="http://$(node_addr "$node")/form"; else url="${FARM_URL}form"; fi
  _farm_curl "$url"
  jq -r '.body | strings' <<<"$LAST" |
    sed -n 's/.*id="__VIEWSTATE" value="\([^"]*\)".*/\1/p' | head -n 1 >"$FARM_TMP/viewstate.$name"
}

# postback NAME [NODE]: NAME posts the form back (through lb, or to NODE). Sets
# LAST_VIEWSTATE (valid, mac-failed, invalid, malformed).
postback() {
  local name=$1 node=${2:-} url
  LAST_WHO=$name LAST_ACTION="POST /form${node:+ @$node}"
  if [ -n "$node" ]; then url="http://$(node_addr "$node")/form"; else url="${FARM_URL}form"; fi
  _farm_curl "$url" --data-urlencode "__VIEWSTATE=$(cat "$FARM_TMP/viewstate.$name" 2>/dev/null)"
}

# ---- assertions on the last answer -----------------------------------------------------
# Each takes an optional last argument: the description to print instead of the default.

_farm_diag() {
  printf 'last answer: %s\n' "$(last_line)"
}

# expect_status CODE
expect_status() {
  local d=${2:-"$LAST_WHO $LAST_ACTION: HTTP $1"}
  if [ "$LAST_STATUS" = "$1" ]; then _farm_result 0 "$d"; else _farm_result 1 "$d" "$(_farm_diag)"; fi
}

# expect_node NODE: the last answer came from NODE.
expect_node() {
  local d=${2:-"$LAST_WHO $LAST_ACTION: answered by $1"}
  if [ "$LAST_NODE" = "$1" ]; then _farm_result 0 "$d"; else _farm_result 1 "$d" "$(_farm_diag)"; fi
}

# expect_not_node NODE: the last answer came from a node, and not from NODE.
expect_not_node() {
  local d=${2:-"$LAST_WHO $LAST_ACTION: answered by $LAST_NODE, not $1"}
  if [ "$LAST_NODE" != "$1" ] && [ "$LAST_NODE" != - ]; then _farm_result 0 "$d"
  else _farm_result 1 "$d" "$(_farm_diag)"; fi
}

# expect_ticket VERDICT: valid, expired, mac-mismatch, bad-ticket, malformed, absent.
expect_ticket() {
  local d=${2:-"$LAST_WHO $LAST_ACTION: ticket $1 on $LAST_NODE"}
  if [ "$LAST_TICKET" = "$1" ]; then _farm_result 0 "$d"; else _farm_result 1 "$d" "$(_farm_diag)"; fi
}

# expect_session VERDICT: found, new, lost, off, error.
expect_session() {
  local d=${2:-"$LAST_WHO $LAST_ACTION: session $1 on $LAST_NODE"}
  if [ "$LAST_SESSION" = "$1" ]; then _farm_result 0 "$d"; else _farm_result 1 "$d" "$(_farm_diag)"; fi
}

# expect_logged_in: a node answered, the ticket is valid and names the user.
expect_logged_in() {
  local d=${1:-"$LAST_WHO $LAST_ACTION: logged in on $LAST_NODE"}
  if [ "$LAST_TICKET" = valid ] && [ "$LAST_USER" = "$LAST_WHO" ] &&
     [ "$LAST_STATUS" -ge 200 ] && [ "$LAST_STATUS" -lt 400 ]; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "$(_farm_diag)"
  fi
}

# expect_logged_out: a node answered and did not accept the ticket (any verdict but
# valid); on a protected page that is a 302 to the login page.
expect_logged_out() {
  local d=${1:-"$LAST_WHO $LAST_ACTION: logged out on $LAST_NODE (ticket $LAST_TICKET)"} ok=1
  if [ "$LAST_NODE" != - ] && [ "$LAST_TICKET" != valid ] && [ "$LAST_TICKET" != - ]; then
    ok=0
    case $LAST_ACTION in
      account*) [ "$LAST_STATUS" = 302 ] && [[ $LAST_LOCATION == /login* ]] || ok=1 ;;
    esac
  fi
  if [ $ok = 0 ]; then _farm_result 0 "$d"; else _farm_result 1 "$d" "$(_farm_diag)"; fi
}

# expect_cart_has ITEM / expect_cart_lacks ITEM: the cart in the last answer (cart, add).
expect_cart_has() {
  local d=${2:-"$LAST_WHO $LAST_ACTION: the cart on $LAST_NODE has '$1'"}
  if jqt --arg i "$1" '.body.cart | arrays | index($i) != null' <<<"$LAST" >/dev/null 2>&1; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "$(_farm_diag)"
  fi
}
expect_cart_lacks() {
  local d=${2:-"$LAST_WHO $LAST_ACTION: the cart on $LAST_NODE has no '$1'"}
  if jqt --arg i "$1" '.body.cart | arrays | index($i) == null' <<<"$LAST" >/dev/null 2>&1; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "$(_farm_diag)"
  fi
}

# expect_viewstate VERDICT: the post-back's X-Farm-ViewState (valid, mac-failed, ...).
expect_viewstate() {
  local d=${2:-"$LAST_WHO $LAST_ACTION: ViewState $1 on $LAST_NODE"}
  if [ "$LAST_VIEWSTATE" = "$1" ]; then _farm_result 0 "$d"; else _farm_result 1 "$d" "$(_farm_diag)"; fi
}

# expect_body_has TEXT: the last answer's body contains TEXT.
expect_body_has() {
  local d=${2:-"$LAST_WHO $LAST_ACTION: the answer says '$1'"}
  if jq -r '.body | if type == "string" then . else tojson end' <<<"$LAST" | grep -qF -- "$1"; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "$(_farm_diag)" "body: $(jq -c .body <<<"$LAST" | head -c 200)"
  fi
}

# ---- lb: node states, events, the matrix -----------------------------------------------

# node_state NODE: its state in lb (up, draining, stopped, down).
node_state() {
  curl -s --max-time 5 "http://$FARM_ADMIN/nodes/$1" | jq -r '.state // "?"'
}

# node_stat NODE FIELD: a number from lb's GET /nodes/NODE (requests, active, ...).
node_stat() {
  curl -s --max-time 5 "http://$FARM_ADMIN/nodes/$1" | jq -r --arg f "$2" '.[$f] // 0'
}

# expect_node_state NODE STATE
expect_node_state() {
  local got d=${3:-"lb has $1 $2"}
  got=$(node_state "$1")
  if [ "$got" = "$2" ]; then _farm_result 0 "$d"; else _farm_result 1 "$d" "lb says $1 is '$got'"; fi
}

# expect_node_reason NODE REASON: why lb put NODE in its state ("drained", "admin stop",
# "drain timeout", ...).
expect_node_reason() {
  local got d=${3:-"lb says why $1 is $(node_state "$1"): $2"}
  got=$(curl -s --max-time 5 "http://$FARM_ADMIN/nodes/$1" | jq -r '.reason // "?"')
  if [ "$got" = "$2" ]; then _farm_result 0 "$d"; else _farm_result 1 "$d" "lb says '$got'"; fi
}

# The last event sequence number lb has (the follow stream replays what it keeps).
_farm_last_seq() {
  curl -s --max-time 5 "http://$FARM_ADMIN/events" | jq -r '(.events | last | .seq) // 0'
}

# _farm_follow TEXT: open lb's event stream, only the lines that contain TEXT (grep does
# the filtering: under load lb sends thousands of events a second), on fd _FARM_EV.
# _FARM_EV_SEQ is the newest event before it (or the mark_events mark), so events the
# stream replays from before are skipped.
_farm_follow() {
  _FARM_EV_SEQ=${_FARM_MARK:-$(_farm_last_seq)}
  unset _FARM_MARK
  rm -f "$FARM_TMP/follow.pid"
  exec {_FARM_EV}< <(exec grep --line-buffered -F -e "$1" < <(
    curl -sN "http://$FARM_ADMIN/events?follow=1" 2>/dev/null &
    echo $! >"$FARM_TMP/follow.pid"
    wait))
  _FARM_EV_PID=$!
  _FARM_BG+=("$_FARM_EV_PID")
}
_farm_unfollow() {
  local curl_pid
  curl_pid=$(cat "$FARM_TMP/follow.pid" 2>/dev/null)
  [ -n "$curl_pid" ] && kill "$curl_pid" 2>/dev/null
  kill "$_FARM_EV_PID" 2>/dev/null
  exec {_FARM_EV}<&-
}

# _farm_usec: now, in microseconds (bash's EPOCHREALTIME, no fork).
_farm_usec() {
  local t=${EPOCHREALTIME/[.,]/}
  printf '%s\n' "$((10#$t))"
}

# _farm_deadline SECS: the microsecond time SECS from now.
_farm_deadline() {
  local t=${EPOCHREALTIME/[.,]/}
  printf '%s\n' "$((10#$t + $1 * 1000000))"
}

# _farm_next_event DEADLINE: read the next new event's data line into _FARM_EVENT before
# DEADLINE (from _farm_deadline). Returns 1 at the deadline or at the end of the stream.
_farm_next_event() {
  local line left seq t tmo
  while :; do
    t=${EPOCHREALTIME/[.,]/}
    left=$(($1 - 10#$t))
    [ "$left" -gt 0 ] || return 1
    printf -v tmo '%d.%06d' $((left / 1000000)) $((left % 1000000))
    IFS= read -r -t "$tmo" -u "$_FARM_EV" line || return 1
    [[ $line == data:* ]] || continue
    [[ $line =~ \"seq\":([0-9]+) ]] || continue
    seq=${BASH_REMATCH[1]}
    [ "$seq" -gt "$_FARM_EV_SEQ" ] || continue
    _FARM_EVENT=${line#data: }
    return 0
  done
}

# mark_events: the next wait_* counts lb's events from now on, not from the moment it
# starts waiting. load_bg and user_bg mark for you, so nothing they cause is missed.
mark_events() {
  _FARM_MARK=$(_farm_last_seq)
}

# wait_node_state NODE STATE [SECS=5]: wait until lb has NODE in STATE, following lb's
# events. Returns 1 after SECS.
wait_node_state() {
  local node=$1 want=$2 secs=${3:-5} deadline rc=1
  deadline=$(_farm_deadline "$secs")
  _farm_follow '"kind":"node-state"'
  if [ "$(node_state "$node")" = "$want" ]; then
    rc=0
  else
    while _farm_next_event "$deadline"; do
      if [[ $_FARM_EVENT == *'"kind":"node-state","node":"'$node'","state":"'$want'"'* ]]; then
        rc=0
        break
      fi
    done
  fi
  _farm_unfollow
  if [ -z "${FARM_QUIET:-}" ]; then
    if [ $rc = 0 ]; then note "lb: $node is $want"; else note "lb: $node still $(node_state "$node") after ${secs}s"; fi
  fi
  return $rc
}

# wait_events TEXT COUNT [SECS=5]: wait until COUNT new lb events contain TEXT (e.g.
# '"kind":"issued","session"' ... or '"cookie":".ASPXAUTH"'). Returns 1 after SECS.
wait_events() {
  local text=$1 count=$2 secs=${3:-5} seen=0 deadline
  deadline=$(_farm_deadline "$secs")
  _farm_follow "$text"
  while [ $seen -lt "$count" ] && _farm_next_event "$deadline"; do
    [[ $_FARM_EVENT == *"$text"* ]] && seen=$((seen + 1))
  done
  _farm_unfollow
  [ $seen -ge "$count" ]
}

# wait_logins COUNT [SECS=5]: wait until lb has seen COUNT more forms tickets issued.
wait_logins() {
  local want=$1 secs=${2:-5} seen=0 deadline
  deadline=$(_farm_deadline "$secs")
  _farm_follow '"kind":"issued"'
  while [ $seen -lt "$want" ] && _farm_next_event "$deadline"; do
    [[ $_FARM_EVENT == *'"kind":"issued"'*'"cookie":".ASPXAUTH"'* ]] && seen=$((seen + 1))
  done
  _farm_unfollow
  [ $seen -ge "$want" ]
}

# expect_node_becomes NODE STATE [SECS=5]: lb puts NODE in STATE within SECS (it may
# have left it again by the time you look: a flapping node).
expect_node_becomes() {
  local d="lb puts $1 $2 within ${3:-5} s"
  if FARM_QUIET=1 wait_node_state "$1" "$2" "${3:-5}"; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "lb says $1 is '$(node_state "$1")'"
  fi
}

# lb_requests: the requests lb has received so far (GET /stats).
lb_requests() {
  local st
  st=$(curl -s --max-time 5 "http://$FARM_ADMIN/stats")
  [[ $st =~ \"requests\":([0-9]+) ]] && printf '%s\n' "${BASH_REMATCH[1]}" || echo 0
}

# wait_requests N [TRIES=2000]: poll lb until it has received N more requests (a load in
# the background makes progress). Returns 1 after TRIES polls.
wait_requests() {
  local start i
  start=$(lb_requests)
  for i in $(seq 1 "${2:-2000}"); do
    [ "$(lb_requests)" -ge $((start + $1)) ] && return 0
  done
  return 1
}

# wait_health_checks NODE N [TRIES=3000]: poll lb until it has run N more health checks
# on NODE (passed or failed). Returns 1 after TRIES polls.
wait_health_checks() {
  local start i now
  _checks() { curl -s --max-time 5 "http://$FARM_ADMIN/nodes/$1" | jq -r '(.check_ok // 0) + (.check_fail // 0)'; }
  start=$(_checks "$1")
  for i in $(seq 1 "${3:-3000}"); do
    now=$(_checks "$1")
    [ "$now" -ge $((start + $2)) ] && return 0
  done
  return 1
}

# wait_in_flight NODE [TRIES=500]: poll lb until NODE has a request in flight (active > 0).
wait_in_flight() {
  local i
  for i in $(seq 1 "${2:-500}"); do
    [ "$(node_stat "$1" active)" -gt 0 ] 2>/dev/null && return 0
  done
  return 1
}

# matrix: lb's GET /matrix (issuer x checker, per cookie).
matrix() {
  curl -s --max-time 5 "http://$FARM_ADMIN/matrix"
}

# lb_sessions: lb's GET /sessions (the sessions it traced, most recent first).
lb_sessions() {
  curl -s --max-time 5 "http://$FARM_ADMIN/sessions"
}

# Print lb's forms-ticket matrix as comments.
show_matrix() {
  matrix | jq -r '.cells[] | select(.cookie == ".ASPXAUTH") |
    "\(.issuer) -> \(.checker): \(.accepted) accepted, \(.rejected) rejected (\(.last_verdict))"' |
    _farm_show
}

# expect_matrix_rejects ISSUER CHECKER: lb saw CHECKER reject a ticket ISSUER issued.
expect_matrix_rejects() {
  local d=${3:-"lb's matrix: $2 rejected tickets issued by $1"}
  if matrix | jqt --arg i "$1" --arg c "$2" 'any(.cells[]; .cookie == ".ASPXAUTH" and
       .issuer == $i and .checker == $c and .rejected > 0)' >/dev/null 2>&1; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "cells: $(matrix | jq -c --arg i "$1" --arg c "$2" '[.cells[] |
      select(.cookie == ".ASPXAUTH" and .issuer == $i and .checker == $c)]' 2>/dev/null)"
  fi
}

# expect_matrix_accepts ISSUER CHECKER: lb saw CHECKER accept ISSUER's tickets, never reject.
expect_matrix_accepts() {
  local d=${3:-"lb's matrix: $2 accepted tickets issued by $1"}
  if matrix | jqt --arg i "$1" --arg c "$2" 'any(.cells[]; .cookie == ".ASPXAUTH" and
       .issuer == $i and .checker == $c and .accepted > 0 and .rejected == 0)' >/dev/null 2>&1; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "cells: $(matrix | jq -c --arg i "$1" --arg c "$2" '[.cells[] |
      select(.cookie == ".ASPXAUTH" and .issuer == $i and .checker == $c)]' 2>/dev/null)"
  fi
}

# expect_matrix_names NODE: lb's matrix has rejected tickets, and NODE is an end of every
# rejected pair: the matrix names NODE as the odd one out.
expect_matrix_names() {
  local d=${2:-"lb's matrix names $1: it is an end of every rejected pair"}
  if matrix | jqt --arg n "$1" '[.cells[] | select(.cookie == ".ASPXAUTH" and .rejected > 0)]
       | length > 0 and all(.[]; .issuer == $n or .checker == $n)' >/dev/null 2>&1; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "rejected pairs: $(matrix | jq -c '[.cells[] | select(.cookie == ".ASPXAUTH"
      and .rejected > 0) | "\(.issuer)->\(.checker)"]' 2>/dev/null)"
  fi
}

# expect_keys_differ NODE...: farmctl status groups the fingerprints and names exactly
# these nodes as the ones that differ (none given: one group, nobody differs). Fails unless
# status succeeded and every node of the farm reported a key: nodes that said nothing
# prove nothing.
expect_keys_differ() {
  local want got st rc d unknown
  want=$(printf '%s\n' "$@" | sort | paste -sd, -)
  d="farmctl status: ${want:-no node} differs"
  [ -n "$want" ] || d="farmctl status: every node has the same key"
  st=$("$FARMCTL" status --json 2>&1)
  rc=$?
  if [ $rc != 0 ]; then
    _farm_result 1 "$d" "farmctl status exited $rc: $(head -c 200 <<<"$st")"
    return
  fi
  if ! jqt '(.nodes | length > 0) and all(.nodes[]; .key != null)' <<<"$st"; then
    unknown=$(jq -r '[.nodes[]? | select(.key == null) | .name] | join(", ")' <<<"$st" 2>/dev/null)
    _farm_result 1 "$d" "not every node reported a key (none from: ${unknown:-no node at all})"
    return
  fi
  got=$(jq -r '.differs | sort | join(",")' <<<"$st")
  expect_eq "$d" "$got" "$want"
}

# ---- load ------------------------------------------------------------------------------

# load ARGS...: farmctl load ARGS --json against the current farm; the report is kept
# (LOAD) for the expect_load_* assertions and its verdict printed.
load() {
  _farm_access_mark
  LOAD=$("$FARMCTL" load "$@" --json 2>"$FARM_TMP/load.err")
  LOAD_RC=$?
  [ -n "$LOAD" ] || LOAD='{}'
  _farm_load_show
  return 0
}

# load_bg ARGS...: the same in the background; load_wait collects it.
load_bg() {
  mark_events
  _farm_access_mark
  "$FARMCTL" load "$@" --json >"$FARM_TMP/load.json" 2>"$FARM_TMP/load.err" &
  _FARM_LOAD_PID=$!
  _FARM_BG+=("$_FARM_LOAD_PID")
}
load_wait() {
  wait "$_FARM_LOAD_PID"
  LOAD_RC=$?
  LOAD=$(cat "$FARM_TMP/load.json")
  [ -n "$LOAD" ] || LOAD='{}'
  _farm_load_show
}

_farm_load_show() {
  [ -n "${FARM_QUIET:-}" ] && return 0
  jq -r '"load: \(.users) users, \(.requests) requests in \(.elapsed_s) s, \(.hops.total) hops, \(.errors.total) errors",
         "verdict: \(.verdict)"' <<<"$LOAD" 2>/dev/null | fold -s -w 100 | _farm_show
  [ "$LOAD_RC" = 0 ] || note "farmctl load exited $LOAD_RC: $(head -c 200 "$FARM_TMP/load.err")"
}

_farm_load_diag() {
  jq -r '"verdict: \(.verdict // "none")"' <<<"$LOAD" 2>/dev/null
  head -c 200 "$FARM_TMP/load.err" 2>/dev/null
}

# expect_load_no_lost_session: nobody was logged out, nobody lost the cart.
expect_load_no_lost_session() {
  local d=${1:-"load: no session lost ($(jq -r '.users' <<<"$LOAD") users, $(jq -r '.hops.total' <<<"$LOAD") hops)"}
  if [ "$LOAD_RC" = 0 ] && jqt '.logged_out.events == 0 and .carts_lost.events == 0' <<<"$LOAD" >/dev/null 2>&1; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "$(_farm_load_diag)"
  fi
}

# expect_load_no_logout: nobody was logged out (carts may be lost).
expect_load_no_logout() {
  local d=${1:-"load: nobody logged out"}
  if [ "$LOAD_RC" = 0 ] && jqt '.logged_out.events == 0' <<<"$LOAD" >/dev/null 2>&1; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "$(_farm_load_diag)"
  fi
}

# expect_load_logouts: some users were logged out.
expect_load_logouts() {
  local d=${1:-"load: users were logged out ($(jq -r '.logged_out.users' <<<"$LOAD") of $(jq -r '.users' <<<"$LOAD"))"}
  if jqt '.logged_out.events > 0' <<<"$LOAD" >/dev/null 2>&1; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "$(_farm_load_diag)"
  fi
}

# expect_load_carts_lost / expect_load_no_cart_lost
expect_load_carts_lost() {
  local d=${1:-"load: carts were lost ($(jq -r '.carts_lost.users' <<<"$LOAD") of $(jq -r '.users' <<<"$LOAD") users)"}
  if jqt '.carts_lost.events > 0' <<<"$LOAD" >/dev/null 2>&1; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "$(_farm_load_diag)"
  fi
}
expect_load_no_cart_lost() {
  local d=${1:-"load: no cart lost"}
  if [ "$LOAD_RC" = 0 ] && jqt '.carts_lost.events == 0' <<<"$LOAD" >/dev/null 2>&1; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "$(_farm_load_diag)"
  fi
}

# expect_load_lost_hops_to NODE: hops to NODE lost sessions, and the report blames NODE
# (it is an end of every pair that lost a ticket, or of every pair that lost a cart).
expect_load_lost_hops_to() {
  local d=${2:-"load: hops to $1 lose sessions, and the report names $1"}
  if jqt --arg n "$1" '(.nodes[] | select(.node == $n) | .hops_to.lost > 0) and
       ((.logged_out.blame + .carts_lost.blame) | index($n) != null)' <<<"$LOAD" >/dev/null 2>&1; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "$(_farm_load_diag)"
  fi
}

# expect_load_lost_hop FROM TO: a user was logged out (or lost the cart) on a hop FROM -> TO.
expect_load_lost_hop() {
  local d=${3:-"load: sessions lost on the hop $1 -> $2"}
  if jqt --arg f "$1" --arg t "$2" 'any((.logged_out.by_hop + .carts_lost.by_hop)[];
       .from == $f and .to == $t)' <<<"$LOAD" >/dev/null 2>&1; then
    _farm_result 0 "$d"
  else
    _farm_result 1 "$d" "$(_farm_load_diag)"
  fi
}

# expect_load_errors_at_most N: no more than N answers were errors (non-2xx/3xx, none).
expect_load_errors_at_most() {
  local got d
  got=$(jq -r '.errors.total // "?"' <<<"$LOAD")
  d=${2:-"load: at most $1 errors (got $got)"}
  if [ "$got" != "?" ] && [ "$got" -le "$1" ]; then _farm_result 0 "$d"; else _farm_result 1 "$d" "$(_farm_load_diag)"; fi
}

# lb's access log (farmctl always gives lb one: logs/access.log in the run directory). load
# and load_bg note how many lines it has when they start; lb_access_log prints the lines
# written since, the requests of that load (and of anything else sent meanwhile). lb writes
# a failed request's line before its client sees the failure, so once the load has ended,
# the lines of its failures are all there.
_farm_access_mark() {
  _FARM_ACCESS_MARK=0
  if [ -f "$FARM_RUN_DIR/logs/access.log" ]; then
    _FARM_ACCESS_MARK=$(wc -l <"$FARM_RUN_DIR/logs/access.log")
  fi
}

# lb_access_log: lb's access log lines since the last load or load_bg started.
lb_access_log() {
  [ -f "$FARM_RUN_DIR/logs/access.log" ] || return 1
  tail -n +"$((${_FARM_ACCESS_MARK:-0} + 1))" "$FARM_RUN_DIR/logs/access.log"
}

# expect_load_errors_in_flight_on NODE [DESC]: NODE died during the last load, and the only
# requests that failed are those lb could not save, as lb's access log shows them: a
# request whose bytes reached NODE and that is not idempotent (lb's own 502, tried on NODE
# alone), or an answer NODE cut short (end=node-closed). Everything else lb retries
# elsewhere: a refused connect, an idempotent request (GET), a kept-alive connection that
# turned out closed. Each such request was in flight on NODE when it died, and a user has
# one request in flight at a time, so no user has two. Passes when the load's errors are
# exactly these (as many, none of another kind) and no user has two; a count that
# depends on timing, from 0 to one per user with a request on NODE, is not checked.
expect_load_errors_in_flight_on() {
  local node=$1 d got failed fails justified dup lines bad=()
  got=$(jq -r '.errors.total // "?"' <<<"${LOAD:-}" 2>/dev/null)
  got=${got:-?}
  d=${2:-"load: the $got failed requests were in flight on $node when it died, one per user at most"}
  if ! lines=$(lb_access_log); then
    _farm_result 1 "$d" "no access log in $FARM_RUN_DIR/logs"
    return
  fi
  # One line per failed request: "ok" or "bad", the session, the line.
  failed=$(awk -v node="$node" '
    {
      delete kv
      for (i = 1; i <= NF; i++) { k = $i; sub(/=.*/, "", k); v = $i; sub(/^[^=]*=/, "", v); kv[k] = v }
      lb_own = kv["node"] == "-" && kv["status"] + 0 >= 500  # lb gave up: 502, 503, 504
      cut = ("end" in kv) && kv["end"] != "client-closed"  # a node cut the answer short
      if (!lb_own && !cut) next
      idem = kv["method"] ~ /^(GET|HEAD|PUT|DELETE|OPTIONS|TRACE)$/
      only_node = 1                                          # tried NODE and nothing else
      n = split(kv["tried"], t, ",")
      for (i = 1; i <= n; i++) if (t[i] != node) only_node = 0
      if (lb_own) ok = kv["status"] == 502 && !idem && only_node
      else ok = kv["node"] == node && kv["end"] == "node-closed"
      print (ok ? "ok" : "bad"), kv["session"], $0
    }' <<<"$lines")
  fails=$(grep -c . <<<"$failed")
  justified=$(grep -c '^ok ' <<<"$failed")
  mapfile -t bad < <(grep '^bad ' <<<"$failed" | cut -d' ' -f3- | cut -c1-300 | head -n 5)
  dup=$(awk '$2 != "-" { n[$2]++ } END { for (s in n) if (n[s] > 1) k++; print k + 0 }' <<<"$failed")
  if [ "$got" = "?" ]; then
    _farm_result 1 "$d" "no load report: run load or load_bg first"
  elif [ "$LOAD_RC" != 0 ]; then
    _farm_result 1 "$d" "$(_farm_load_diag)"
  elif [ "$got" != "$fails" ] || [ ${#bad[@]} != 0 ] || [ "$dup" != 0 ]; then
    _farm_result 1 "$d" "the load counted $got errors; lb's access log has $fails requests it gave up on or a node cut short" \
      "$justified of them were in flight on $node and could not be retried; users with more than one: $dup" \
      ${bad[0]+"lb should have retried (first ${#bad[@]}):"} "${bad[@]}"
  else
    _farm_result 0 "$d"
  fi
}

# ---- cleanup ---------------------------------------------------------------------------

_farm_cleanup() {
  local p d
  for p in "${_FARM_BG[@]}"; do kill "$p" 2>/dev/null; done
  for d in "${_FARM_RUNS[@]}"; do
    [ -f "$d/farm.json" ] && FARM_RUN_DIR=$d "$FARMCTL" down >/dev/null 2>&1
  done
  [ -n "${FARM_KEEP:-}" ] && { echo "# kept $FARM_TMP"; return; }
  rm -rf "$FARM_TMP"
}
trap _farm_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
