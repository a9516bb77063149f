#!/usr/bin/env bash
# lb failover: a node killed with SIGKILL is marked down within fall x interval while
# idempotent traffic goes on without a client-visible error; it comes back after rise once it
# listens again on its port; with every node down lb answers 503 with Retry-After.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
. "$here/lb_lib.sh"
T=$SN_TMP

lb_farm 3
INTERVAL=0.2 FALL=2 RISE=2
lb_must_start lb "${LB_NODE_ARGS[@]}" --health-interval 200ms --fall $FALL --rise $RISE
url=http://${LB_ADDR[lb]}/whoami

now() { date +%s.%N; }
# The wall-clock time of a node's last state change, from GET /nodes/NAME .since
since() {
  lb_api lb GET "/nodes/$1"
  date -d "$(printf '%s' "$BODY" | jq -r .since)" +%s.%N
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }
diff_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

# Let every node pass its first checks, so that lb holds keep-alive connections to each.
lb_seq "$url" 6
is "warm-up: 6 requests over three nodes" "$SEQ_ST" "200 200 200 200 200 200"

# --- a node killed under traffic ---------------------------------------------------------------
# 30 GETs, each on a new client connection; web2 gets SIGKILL after the 10th. Requests land
# on web2's dead keep-alive connection and on its closed port before lb notices.
lb_mark lb
statuses='' nodes=''
for i in $(seq 1 30); do
  out=$(curl -sS --max-time 10 -D - -o /dev/null -w '%{http_code}' "$url" 2>&1 | tr -d '\r')
  statuses="$statuses ${out##*$'\n'}"
  nodes="$nodes $(printf '%s\n' "$out" | grep -i '^x-farm-node:' | sed 's/^[^:]*: *//')"
  if [ "$i" = 10 ]; then
    t_kill=$(now)
    kill -KILL "${SN_PID[web2]}"
    sn_wait_exit web2
  fi
done
n200=$(tr ' ' '\n' <<<"$statuses" | grep -c '^200$')
is "kill -9 web2 amid 30 GETs: all 30 answered 200 (got:$statuses)" "$n200" 30
after=$(tr ' ' '\n' <<<"$nodes" | tail -n 20 | sort | uniq -c | awk '{printf "%s ", $2}')
is "after the kill the 20 GETs were served by web1 and web3" "$after" "web1 web3 "
ok_if "lb logs web2 going down" lb_wait_after lb 'event=node-state node=web2 from=up to=down' 5
is "GET /nodes/web2: down" "$(lb_node_state lb web2)" down
t_down=$(since web2)
limit=$(awk -v f=$FALL -v i=$INTERVAL 'BEGIN { print f * i + 0.1 }')
ok_if "web2 marked down $(diff_s "$t_down" "$t_kill") s after the kill (fall x interval = 0.4 s, +0.1 s slack)" \
  le "$(diff_s "$t_down" "$t_kill")" "$limit"
lb_api lb GET /stats
is "no 5xx reached a client" "$(printf '%s' "$BODY" | jq -r '.responses["5xx"]')" 0

# --- a node killed with no traffic: only the health checks can tell -----------------------------
lb_mark lb
t_kill3=$(now)
kill -KILL "${SN_PID[web3]}"
sn_wait_exit web3
ok_if "health checks mark web3 down" lb_wait_after lb 'event=node-state node=web3 from=up to=down' 5
lb_api lb GET /nodes/web3
like "web3's reason names the health check" "$(printf '%s' "$BODY" | jq -r .reason)" '^health check'
t_down3=$(since web3)
ok_if "web3 marked down $(diff_s "$t_down3" "$t_kill3") s after the kill, by health checks alone (<= 0.5 s)" \
  le "$(diff_s "$t_down3" "$t_kill3")" "$limit"
lb_seq "$url" 4
is "web1 alone serves everything meanwhile" "$SEQ" "web1 web1 web1 web1"

# --- they come back after rise ------------------------------------------------------------------
lb_mark lb
old2=${SN_ADDR[web2]}
sn_must_start web2 --name web2 --machine-key "$T/farm.config" --listen "$old2"
t_back=$(now)
is "web2 restarted on its old port" "${SN_ADDR[web2]}" "$old2"
ok_if "lb logs web2 coming up" lb_wait_after lb 'event=node-state node=web2 from=down to=up' 5
lb_api lb GET /nodes/web2
is "GET /nodes/web2: up" "$(printf '%s' "$BODY" | jq -r .state)" up
like "... because checks passed" "$(printf '%s' "$BODY" | jq -r .reason)" 'health check passed'
ok_if "... after at least rise ($RISE) good checks" test "$(printf '%s' "$BODY" | jq -r .check_ok)" -ge $RISE
t_up=$(since web2)
rlimit=$(awk -v r=$RISE -v i=$INTERVAL 'BEGIN { print r * i + 0.1 }')
ok_if "web2 up $(diff_s "$t_up" "$t_back") s after it listened again (rise x interval = 0.4 s, +0.1 s slack)" \
  le "$(diff_s "$t_up" "$t_back")" "$rlimit"
ok_if "... and not before $((RISE - 1)) interval(s)" \
  le "$(awk -v r=$RISE -v i=$INTERVAL 'BEGIN { print (r - 1) * i - 0.05 }')" "$(diff_s "$t_up" "$t_back")"
sn_must_start web3 --name web3 --machine-key "$T/farm.config" --listen "${SN_ADDR[web3]}"
ok_if "web3 comes back too" lb_wait_after lb 'event=node-state node=web3 from=down to=up' 5
lb_seq "$url" 6
is "all three serve again" "$(tr ' ' '\n' <<<"$SEQ" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')" \
  "web1=2 web2=2 web3=2 "

# --- all nodes down: 503 with Retry-After --------------------------------------------------------
# health-down: /health answers 503 while the pages still work; lb must believe the checks.
lb_mark lb
for n in web1 web2 web3; do
  sn_req POST "http://${SN_ADDR[$n]}/_farm/fault?spec=health-down"
done
for n in web1 web2 web3; do
  ok_if "health-down: lb marks $n down" lb_wait_after lb "event=node-state node=$n from=up to=down" 5
done
sn_req GET "$url"
is "every node down: 503" "$ST" 503
like "every node down: Retry-After" "$(sn_hdr Retry-After)" '^[0-9]+$'
sn_req GET "$url" --http1.0
is "every node down, HTTP/1.0 client: 503 too" "$ST" 503
lb_api lb GET /stats
ok_if "GET /stats counts the 503s" test "$(printf '%s' "$BODY" | jq -r .no_node_503)" -ge 2
lb_mark lb
sn_req POST "http://${SN_ADDR[web2]}/_farm/fault?spec=clear"
ok_if "web2's /health recovers: lb marks it up" lb_wait_after lb 'event=node-state node=web2 from=down to=up' 5
lb_seq "$url" 3
is "one node back: it serves again" "$SEQ/$SEQ_ST" "web2 web2 web2/200 200 200"

# --- a node killed while its answer's head trickles in -------------------------------------------
# web1 sends 20 bytes every 100 ms. Once lb holds some of the head (GET /nodes/web1
# .bytes_from grows) but has passed nothing on, web1 is killed: no answer byte reached the
# client and GET is idempotent, so lb must retry it on another node.
for n in web2 web3; do sn_req POST "http://${SN_ADDR[$n]}/_farm/fault?spec=clear"; done
lb_must_start kh "${LB_NODE_ARGS[@]}" --health-interval 200ms
lb_seq "http://${LB_ADDR[kh]}/whoami" 3
is "kill mid-head: all three nodes serve first ($SEQ)" "$SEQ" "web1 web2 web3"
sn_req POST "http://${SN_ADDR[web1]}/_farm/fault?spec=slow=200"
lb_api kh GET /nodes/web1
from0=$(printf '%s' "$BODY" | jq -r .bytes_from)
( curl -sS --max-time 10 -D "$T/mid.head" -o /dev/null -w '%{http_code}' "http://${LB_ADDR[kh]}/whoami" \
    >"$T/mid.out" 2>"$T/mid.err" ) &
mid=$!
got=
for i in $(seq 1 300); do
  b=$(curl -sS --max-time 5 "http://${LB_ADMIN[kh]}/nodes/web1" | jq -r '.bytes_from')
  if [ "$b" -gt "$from0" ]; then got=$b; break; fi
done
ok_if "kill mid-head: lb has part of web1's head (bytes_from $from0 -> ${got:-?})" test -n "$got"
kill -KILL "${SN_PID[web1]}"
sn_wait_exit web1
wait "$mid"
is "kill mid-head: the client still gets 200 (retried elsewhere; curl: $(cat "$T/mid.err"))" \
  "$(cat "$T/mid.out")" 200
like "kill mid-head: ... from another node" \
  "$(tr -d '\r' <"$T/mid.head" | grep -i '^x-farm-node:')" 'web[23]'

# --- a node that never answers: 504 after --timeout-server ------------------------------------------
sn_must_start hang --name hang --machine-key "$T/farm.config" --fault hang
lb_must_start to --node "hang=${SN_ADDR[hang]}" --timeout-server 300ms --health-path ''
sn_req GET "http://${LB_ADDR[to]}/whoami"
is "a hanging node: 504" "$ST" 504
ok_if "... after --timeout-server 300ms (took $TIME s)" \
  awk -v t="$TIME" 'BEGIN { exit !(t >= 0.29 && t < 1.5) }'
sn_req POST "http://${LB_ADDR[to]}/form" --data 'a=1'
is "a hanging node, POST: 504" "$ST" 504

lb_finish
