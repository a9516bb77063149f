# lb_lib.sh: start lb in front of sim-nodes for the integration scripts, drive it, watch its
# log. Source it after tap.sh and simnode_lib.sh (it shares their temp dir, arrays and
# cleanup: an lb is one more child, and sn_stop / sn_wait_exit / sn_wait_log work on it).
#
#   lb_start NAME [lb args...]     start lb; --listen and --admin default to 127.0.0.1:0;
#                                  wait for both ready lines (no sleeping); then
#                                  LB_ADDR[NAME]=proxy address  LB_ADMIN[NAME]=admin address
#                                  SN_PID[NAME], SN_LOG[NAME] (everything it printed)
#   lb_must_start NAME [args...]   the same, bailing out on failure
#   lb_farm N [sim-node args...]   start sim-nodes web1..webN sharing one key ($SN_TMP/farm.config)
#   lb_nodes_args N                "--node web1=ADDR ..." for web1..webN, in LB_NODE_ARGS
#   lb_api NAME METHOD PATH [curl args...]   one admin request (sn_req: ST, HDR, BODY);
#                                  sends LB_TOKEN as a bearer token when it is set
#   lb_node_state NAME NODE        the node's state from GET /nodes/NODE
#   lb_mark NAME                   remember how many lines NAME's log has (LB_MARK[NAME])
#   lb_wait_after NAME PATTERN [SECS]  wait for a log line matching PATTERN printed after
#                                  the last lb_mark (event-driven: tail -f, no polling)
#   lb_seq URL N [curl args...]    N GETs of URL on one keep-alive connection (curl reuses
#                                  it for several URLs); the X-Farm-Node of each answer, in
#                                  order, space-separated, in SEQ; their statuses in SEQ_ST;
#                                  the connections curl opened in SEQ_CONNS
#   lb_node_of URL [curl args...]  one GET; its X-Farm-Node (or "-") on stdout
#   lb_wait_active NAME NODE N [TRIES]  poll GET /nodes/NODE (bounded) until N requests are
#                                  in flight on it
#   lb_finish                      end of script: SIGTERM every lb still running, expect each
#                                  to exit 0 within 10 s, and no sanitizer report (ASan,
#                                  UBSan, LeakSanitizer) in any log of the run; then
#                                  done_testing. Run with FARM_BIN pointing at a
#                                  -DFARM_SANITIZE=ON build to check lb under sanitizers.
# Nothing here sleeps; nothing leaves 127.0.0.1.
LB=$FARM_BIN/lb
declare -A LB_ADDR LB_ADMIN LB_MARK
LB_TOKEN=
_lb_names=()

lb_start() {
  local name=$1; shift
  local log=$SN_TMP/$name.log fifo=$SN_TMP/$name.fifo pre=()
  case " $* " in *" --listen "* | *" --config "*) ;; *) pre+=(--listen 127.0.0.1:0) ;; esac
  case " $* " in *" --admin "* | *" --config "*) ;; *) pre+=(--admin 127.0.0.1:0) ;; esac
  rm -f "$fifo"
  mkfifo "$fifo" || sn_bail "mkfifo $fifo"
  "$LB" "${pre[@]}" "$@" >"$fifo" 2>&1 &
  local pid=$!
  _sn_children+=("$pid")
  local fd line proxy='' admin=''
  exec {fd}<"$fifo"
  : >"$log"
  while IFS= read -r -t 10 -u "$fd" line; do
    printf '%s\n' "$line" >>"$log"
    case $line in
      *"event=ready role=proxy "*)
        proxy=${line##*listen=}
        proxy=${proxy%% *}
        ;;
      *"event=ready role=admin "*)
        admin=${line##*listen=}
        admin=${admin%% *}
        ;;
    esac
    [ -n "$proxy" ] && [ -n "$admin" ] && break
  done
  if [ -z "$proxy" ] || [ -z "$admin" ]; then
    exec {fd}<&-
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    echo "# lb $name did not become ready; it printed:"
    sed 's/^/#   /' "$log"
    return 1
  fi
  cat <&"$fd" >>"$log" &
  _sn_children+=("$!")
  SN_CAT[$name]=$!
  exec {fd}<&-
  LB_ADDR[$name]=$proxy
  LB_ADMIN[$name]=$admin
  _lb_names+=("$name")
  SN_PID[$name]=$pid
  SN_LOG[$name]=$log
  LB_MARK[$name]=0
  return 0
}

lb_must_start() {
  lb_start "$@" || sn_bail "cannot start lb $1"
}

lb_farm() {
  local n=$1 i; shift
  [ -f "$SN_TMP/farm.config" ] || sn_keygen "$SN_TMP/farm.config"
  for ((i = 1; i <= n; i++)); do
    sn_must_start "web$i" --name "web$i" --machine-key "$SN_TMP/farm.config" "$@"
  done
  lb_nodes_args "$n"
}

lb_nodes_args() {
  local i
  LB_NODE_ARGS=()
  for ((i = 1; i <= $1; i++)); do LB_NODE_ARGS+=(--node "web$i=${SN_ADDR[web$i]}"); done
}

lb_api() {
  local name=$1 method=$2 path=$3; shift 3
  local auth=()
  [ -n "$LB_TOKEN" ] && auth=(-H "Authorization: Bearer $LB_TOKEN")
  sn_req "$method" "http://${LB_ADMIN[$name]}$path" "${auth[@]}" "$@"
}

lb_node_state() {
  lb_api "$1" GET "/nodes/$2"
  printf '%s' "$BODY" | jq -r .state 2>/dev/null
}

lb_mark() {
  LB_MARK[$1]=$(wc -l <"${SN_LOG[$1]}")
}

lb_wait_after() {
  local name=$1 pat=$2 secs=${3:-10} fd tp line rc=1
  exec {fd}< <(exec tail -n "+$((${LB_MARK[$name]:-0} + 1))" -f "${SN_LOG[$name]}")
  tp=$!
  local deadline=$((SECONDS + secs))
  while [ "$SECONDS" -le "$deadline" ] && IFS= read -r -t "$secs" -u "$fd" line; do
    if printf '%s\n' "$line" | grep -Eq -- "$pat"; then rc=0; break; fi
  done
  kill "$tp" 2>/dev/null
  exec {fd}<&-
  return $rc
}

# All heads go to one stream; each answer starts with its status line. num_connects tells
# how many connections curl opened (1: every request rode one keep-alive connection).
lb_seq() {
  local url=$1 n=$2 i; shift 2
  local f=$SN_TMP/seq.$RANDOM$RANDOM urls=()
  for ((i = 1; i <= n; i++)); do urls+=("$url"); done
  SEQ_CONNS=$(curl -sS --max-time 20 -D "$f.head" -o /dev/null -w '%{num_connects}\n' \
                   "$@" "${urls[@]}" 2>"$f.err" | awk '{ s += $1 } END { print s + 0 }')
  SEQ=$(tr -d '\r' <"$f.head" | awk '
    /^HTTP\// { if (started) printf "%s ", (node == "" ? "-" : node); started = 1; node = "" }
    tolower($0) ~ /^x-farm-node:/ { sub(/^[^:]*: */, ""); node = $0 }
    END { if (started) printf "%s", (node == "" ? "-" : node) }')
  SEQ_ST=$(tr -d '\r' <"$f.head" | awk '/^HTTP\// { printf "%s%s", sep, $2; sep = " " }')
  rm -f "$f.head" "$f.err"
}

lb_node_of() {
  local url=$1; shift
  local node
  node=$(curl -sS --max-time 10 -D - -o /dev/null "$@" "$url" 2>/dev/null | tr -d '\r' |
         grep -i '^x-farm-node:' | tail -n 1 | sed 's/^[^:]*: *//')
  printf '%s\n' "${node:--}"
}

# Wait until NODE has at least N requests in flight (GET /nodes/NODE .active), polling the
# admin API at most TRIES times (default 300: each call is a round trip, a few ms, no sleep).
lb_wait_active() {
  local name=$1 node=$2 n=$3 tries=${4:-300} i auth=() got
  [ -n "$LB_TOKEN" ] && auth=(-H "Authorization: Bearer $LB_TOKEN")
  for ((i = 0; i < tries; i++)); do
    got=$(curl -sS --max-time 5 "${auth[@]}" "http://${LB_ADMIN[$name]}/nodes/$node" 2>/dev/null |
          jq -r '.active // 0' 2>/dev/null)
    [ "${got:-0}" -ge "$n" ] 2>/dev/null && return 0
  done
  return 1
}

lb_finish() {
  local name bad='' n=0
  for name in "${_lb_names[@]}"; do
    kill -0 "${SN_PID[$name]}" 2>/dev/null || continue
    n=$((n + 1))
    kill -TERM "${SN_PID[$name]}"
    if ! timeout 10 tail --pid="${SN_PID[$name]}" -f /dev/null; then
      bad="$bad $name:hung"
      kill -KILL "${SN_PID[$name]}" 2>/dev/null
    fi
    sn_wait_exit "$name"
    [ "${SN_RC[$name]}" = 0 ] || bad="$bad $name:exit=${SN_RC[$name]}"
  done
  is "SIGTERM: the $n lb(s) still running exit 0${bad:+ (not:$bad)}" "$bad" ""
  local reports
  reports=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$SN_TMP"/*.log 2>/dev/null |
            xargs -r -n 1 basename | tr '\n' ' ')
  is "no sanitizer report in any log${reports:+ (in: $reports)}" "$reports" ""
  done_testing
}
