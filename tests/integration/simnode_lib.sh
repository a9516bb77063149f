# simnode_lib.sh: start sim-nodes and state servers for the integration scripts, talk to
# them, clean up. Source it after tap.sh.
#
#   sn_start NAME [sim-node args...]   start a node (or, with --state-server, a state server)
#                                      on 127.0.0.1:0 unless --listen is given; wait for its
#                                      event=ready line (no sleeping); then
#                                      SN_ADDR[NAME]=127.0.0.1:PORT  SN_PID[NAME]=pid
#                                      SN_LOG[NAME]=file with everything it printed
#   sn_stop NAME [SIGNAL]              signal it (TERM) and wait; SN_RC[NAME]=exit status
#   sn_wait_exit NAME                  wait for it to exit by itself; SN_RC[NAME]
#   sn_wait_log NAME PATTERN [SECS]    wait until its log has a line matching PATTERN
#   sn_req METHOD URL [curl args...]   one request; ST=status, HDR=headers, BODY=body,
#                                      CURL_RC=curl's exit status, TIME=seconds taken.
#                                      Headers and body are kept under $SN_CAP for the
#                                      secrets check.
#   sn_helper NAME COMMAND...          start a helper program (a stand-in node, ...) that
#                                      prints a ready line first; wait for it (no sleeping);
#                                      SN_READY[NAME]=that line; the rest of its output goes
#                                      to $SN_TMP/NAME.out
#   sn_hdr NAME                        a header of the last sn_req (first one, trimmed)
#   sn_cookie NAME                     the value a Set-Cookie of the last sn_req gave NAME
#   sn_keygen FILE [farmctl key generate args]   a fresh <machineKey> in FILE
#   sn_key_hex FILE                    the raw key hex strings in FILE, one per line
#   sn_assert_no_secrets KEYFILE...    no raw key (upper or lower case) in any captured
#                                      response or any log
# Every child is killed on EXIT. Nothing here sleeps; nothing leaves 127.0.0.1.
: "${FARM_BIN:=$here/../../build/bin}"
: "${FARM_TEST_DATA:=$here/../data}"
SIMNODE=$FARM_BIN/sim-node
FARMCTL=$FARM_BIN/farmctl
SN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/simnode-test.XXXXXX")
SN_CAP=$SN_TMP/captured
mkdir -p "$SN_CAP"
declare -A SN_ADDR SN_PID SN_LOG SN_RC SN_CAT SN_READY
_sn_children=()
_sn_n=0

_sn_cleanup() {
  local p
  for p in "${_sn_children[@]}"; do
    kill -KILL "$p" 2>/dev/null
  done
  for p in "${_sn_children[@]}"; do
    wait "$p" 2>/dev/null
  done
  if [ -n "${SN_KEEP:-}" ]; then echo "# kept $SN_TMP"; else rm -rf "$SN_TMP"; fi
}
trap _sn_cleanup EXIT

# Fail the script loudly (a bail-out line is valid TAP).
sn_bail() {
  echo "Bail out! $*"
  exit 1
}

sn_helper() {
  local name=$1; shift
  local fifo=$SN_TMP/$name.fifo fd line
  rm -f "$fifo"
  mkfifo "$fifo" || sn_bail "mkfifo $fifo"
  "$@" >"$fifo" 2>"$SN_TMP/$name.err" &
  _sn_children+=("$!")
  exec {fd}<"$fifo"
  IFS= read -r -t 10 -u "$fd" line || sn_bail "$name did not start: $(cat "$SN_TMP/$name.err")"
  cat <&"$fd" >"$SN_TMP/$name.out" &
  _sn_children+=("$!")
  exec {fd}<&-
  SN_READY[$name]=$line
}

sn_start() {
  local name=$1; shift
  local log=$SN_TMP/$name.log fifo=$SN_TMP/$name.fifo listen=()
  case " $* " in *" --listen "*) ;; *) listen=(--listen 127.0.0.1:0) ;; esac
  rm -f "$fifo"
  mkfifo "$fifo" || sn_bail "mkfifo $fifo"
  "$SIMNODE" "${listen[@]}" "$@" >"$fifo" 2>&1 &
  local pid=$!
  _sn_children+=("$pid")
  local fd line addr=
  exec {fd}<"$fifo"
  : >"$log"
  while IFS= read -r -t 10 -u "$fd" line; do
    printf '%s\n' "$line" >>"$log"
    case $line in
      *event=ready*)
        addr=${line##*listen=}
        addr=${addr%% *}
        break
        ;;
    esac
  done
  if [ -z "$addr" ]; then
    exec {fd}<&-
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "# sim-node $name did not become ready; it printed:"
    sed 's/^/#   /' "$log"
    return 1
  fi
  cat <&"$fd" >>"$log" &
  _sn_children+=("$!")
  SN_CAT[$name]=$!
  exec {fd}<&-
  SN_ADDR[$name]=$addr
  SN_PID[$name]=$pid
  SN_LOG[$name]=$log
  return 0
}

# Like sn_start but a failure to start ends the script: later tests need the node.
sn_must_start() {
  sn_start "$@" || sn_bail "cannot start sim-node $1"
}

sn_wait_exit() {
  local name=$1
  { wait "${SN_PID[$name]}"; } 2>/dev/null
  SN_RC[$name]=$?
  # The log is complete once cat has seen end of file.
  wait "${SN_CAT[$name]}" 2>/dev/null
}

sn_stop() {
  local name=$1 sig=${2:-TERM}
  kill -"$sig" "${SN_PID[$name]}" 2>/dev/null
  sn_wait_exit "$name"
}

# Wait (up to SECS, default 10) for a log line matching the grep -E PATTERN.
sn_wait_log() {
  local name=$1 pat=$2 secs=${3:-10} fd tp line rc=1
  exec {fd}< <(exec tail -n +1 -f "${SN_LOG[$name]}")
  tp=$!
  local deadline=$((SECONDS + secs))
  while [ "$SECONDS" -le "$deadline" ] && IFS= read -r -t "$secs" -u "$fd" line; do
    if printf '%s\n' "$line" | grep -Eq -- "$pat"; then rc=0; break; fi
  done
  kill "$tp" 2>/dev/null
  exec {fd}<&-
  return $rc
}

sn_req() {
  local method=$1 url=$2; shift 2
  _sn_n=$((_sn_n + 1))
  local h=$SN_CAP/$_sn_n.head b=$SN_CAP/$_sn_n.body out
  out=$(curl -sS --max-time 10 -X "$method" -D "$h" -o "$b" \
             -w '%{http_code} %{time_total}' "$@" "$url" 2>"$SN_CAP/$_sn_n.err")
  CURL_RC=$?
  ST=${out%% *}
  TIME=${out#* }
  HDR=$(tr -d '\r' <"$h" 2>/dev/null)
  BODY=$(cat "$b" 2>/dev/null)
}

sn_hdr() {
  printf '%s\n' "$HDR" | grep -i "^$1:" | head -n 1 | cut -d: -f2- | sed 's/^ *//; s/ *$//'
}

sn_cookie() {
  printf '%s\n' "$HDR" | grep -i '^set-cookie:' | sed 's/^[^:]*: *//' |
    grep "^$1=" | head -n 1 | cut -d';' -f1 | cut -d= -f2-
}

sn_keygen() {
  local file=$1; shift
  "$FARMCTL" key generate "$@" >"$file" || sn_bail "farmctl key generate failed"
}

sn_key_hex() {
  grep -ohE '(validation|decryption)Key="[0-9A-Fa-f]{16,}"' "$@" | cut -d'"' -f2
}

sn_assert_no_secrets() {
  local files=() k hits=0 what=
  local n=0
  for f in "$SN_CAP"/* "$SN_TMP"/*.log; do [ -f "$f" ] && files+=("$f"); done
  for k in $(sn_key_hex "$@" | sort -u); do
    n=$((n + 1))
    local up lo
    up=$(printf '%s' "$k" | tr a-f A-F)
    lo=$(printf '%s' "$k" | tr A-F a-f)
    if grep -lF -e "$up" -e "$lo" "${files[@]}" >/dev/null 2>&1; then
      hits=$((hits + 1))
      what="$what $(grep -lF -e "$up" -e "$lo" "${files[@]}" | head -n 3 | tr '\n' ' ')"
    fi
  done
  ok_if "secrets: checked $n raw keys against ${#files[@]} captured files" test "$n" -gt 0 -a "${#files[@]}" -gt 0
  is "secrets: no raw validationKey/decryptionKey hex in any response or log${what:+ (found in$what)}" "$hits" 0
}
