#!/usr/bin/env bash
# lb node control and the admin API: drain (no new clients, affinity-bound users and
# in-flight requests finish), stop (no traffic, in-flight requests cut), start, add and
# remove at run time; JSON errors with the right status; the bearer token; /metrics as
# Prometheus text; /stats.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
. "$here/lb_lib.sh"
T=$SN_TMP

lb_farm 3
lb_must_start rr "${LB_NODE_ARGS[@]}"
lb_must_start aff "${LB_NODE_ARGS[@]}" --affinity single
rr=${LB_ADDR[rr]}
aff=${LB_ADDR[aff]}
w2=${SN_ADDR[web2]}

count() { tr ' ' '\n' <<<"$1" | grep -c "^$2\$"; }
# A background GET through lb; its status, node and curl exit status land in $T/$2.*
bg_get() {
  local url=$1 tag=$2; shift 2
  ( curl -sS --max-time 10 -D "$T/$tag.head" -o /dev/null -w '%{http_code} %{time_total}' "$@" \
      "$url" >"$T/$tag.out" 2>"$T/$tag.err"
    echo $? >"$T/$tag.rc" ) &
  BG=$!
}
bg_result() { # tag -> BG_ST BG_NODE BG_RC BG_TIME
  wait "$BG" 2>/dev/null
  BG_RC=$(cat "$T/$1.rc")
  read -r BG_ST BG_TIME <"$T/$1.out"
  BG_NODE=$(tr -d '\r' <"$T/$1.head" 2>/dev/null | grep -i '^x-farm-node:' | sed 's/^[^:]*: *//')
}
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }

# Which client addresses does affinity single map to web2? The hash depends only on the
# address and the node names, so a second lb with the same names tells without binding
# those clients on "aff".
lb_must_start probe "${LB_NODE_ARGS[@]}" --affinity single
A='' B=''
for i in $(seq 2 60); do
  if [ "$(lb_node_of "http://${LB_ADDR[probe]}/whoami" --interface 127.0.0.$i)" = web2 ]; then
    if [ -z "$A" ]; then A=127.0.0.$i; else B=127.0.0.$i; break; fi
  fi
done
sn_stop probe
ok_if "two client addresses that affinity single maps to web2 ($A, $B)" test -n "$A" -a -n "$B"

# --- drain -----------------------------------------------------------------------------------
lb_seq "http://$aff/whoami" 2 --interface "$A"
is "before drain: client $A is on web2 (twice)" "$SEQ" "web2 web2"

sn_req POST "http://$w2/_farm/fault?spec=latency=1500ms"
is "web2 answers slowly (latency=1500ms)" "$ST" 200
bg_get "http://$aff/whoami" drainfly --interface "$A"
ok_if "a request of $A is in flight on web2" lb_wait_active aff web2 1
lb_api aff POST /nodes/web2/drain
is "POST /nodes/web2/drain: 200" "$ST" 200
is "POST /nodes/web2/drain: state draining" "$(printf '%s' "$BODY" | jq -r .state)" draining
lb_api rr POST /nodes/web2/drain
is "drain on the round-robin lb too: draining" "$(printf '%s' "$BODY" | jq -r .state)" draining
bg_result drainfly
is "drain: the in-flight request finishes with 200" "$BG_ST" 200
is "drain: ... answered by web2" "$BG_NODE" web2
sn_req POST "http://$w2/_farm/fault?spec=clear"

lb_seq "http://$aff/whoami" 3 --interface "$A"
is "drain: affinity-bound client $A keeps going to web2" "$SEQ" "web2 web2 web2"
b=$(lb_node_of "http://$aff/whoami" --interface "$B")
like "drain: new client $B, which hashes to web2, goes elsewhere (got $b)" "$b" '^web[13]$'
lb_seq "http://$rr/whoami" 6
is "drain, round robin: 6 requests all 200" "$SEQ_ST" "200 200 200 200 200 200"
is "drain, round robin: web2 gets none of 6 ($SEQ)" "$(count "$SEQ" web2)" 0
is "drain, round robin: web1 and web3 share them ($SEQ)" \
  "$(count "$SEQ" web1) $(count "$SEQ" web3)" "3 3"
lb_api aff GET /nodes/web2
is "GET /nodes/web2 says draining" "$(printf '%s' "$BODY" | jq -r .state)" draining
is "GET /nodes/web2 gives the reason" "$(printf '%s' "$BODY" | jq -r .reason)" "admin drain"

# --- stop ------------------------------------------------------------------------------------
lb_api aff POST /nodes/web2/start
is "POST /nodes/web2/start: up" "$(printf '%s' "$BODY" | jq -r .state)" up
sn_req POST "http://$w2/_farm/fault?spec=latency=2s"
bg_get "http://$aff/whoami" stopfly --interface "$A"
ok_if "a slow request of $A is in flight on web2" lb_wait_active aff web2 1
lb_api aff POST /nodes/web2/stop
is "POST /nodes/web2/stop: 200" "$ST" 200
is "POST /nodes/web2/stop: state stopped" "$(printf '%s' "$BODY" | jq -r .state)" stopped
bg_result stopfly
if [ "$BG_RC" != 0 ] || [ "$BG_ST" != 200 ]; then cut=yes; else cut=no; fi
is "stop: the in-flight request is cut (curl exit $BG_RC, status $BG_ST)" "$cut" yes
ok_if "stop: ... at once, not after web2's 2 s (took $BG_TIME s)" lt "$BG_TIME" 1.5
sn_req POST "http://$w2/_farm/fault?spec=clear"
lb_api aff GET /nodes/web2
is "stop: GET /nodes/web2 says 0 in flight" "$(printf '%s' "$BODY" | jq -r .active)" 0
a=$(lb_node_of "http://$aff/whoami" --interface "$A")
like "stop: web2's client $A now goes elsewhere (got $a)" "$a" '^web[13]$'
lb_api rr POST /nodes/web2/stop
is "stop on the round-robin lb: stopped" "$(printf '%s' "$BODY" | jq -r .state)" stopped
w2_req=$(printf '%s' "$BODY" | jq -r .requests)
lb_seq "http://$rr/whoami" 6
is "stop, round robin: 6 requests all 200" "$SEQ_ST" "200 200 200 200 200 200"
is "stop, round robin: web2 gets no traffic ($SEQ)" "$(count "$SEQ" web2)" 0
lb_api rr GET /nodes/web2
is "stop: web2's request count did not move on the round-robin lb" \
  "$(printf '%s' "$BODY" | jq -r .requests)" "$w2_req"

# --- start -----------------------------------------------------------------------------------
lb_api rr POST /nodes/web2/start
is "POST /nodes/web2/start: 200" "$ST" 200
is "POST /nodes/web2/start: up" "$(printf '%s' "$BODY" | jq -r .state)" up
lb_seq "http://$rr/whoami" 6
is "start: web2 is back in the rotation (twice in 6: $SEQ)" "$(count "$SEQ" web2)" 2
lb_api aff POST /nodes/web2/start
lb_seq "http://$aff/whoami" 2 --interface "$A"
is "start: client $A is back on web2" "$SEQ" "web2 web2"

# --- add and remove --------------------------------------------------------------------------
sn_must_start web4 --name web4 --machine-key "$T/farm.config"
lb_api rr POST /nodes --data "name=web4&address=${SN_ADDR[web4]}&weight=1"
is "POST /nodes (add web4): 201" "$ST" 201
is "POST /nodes: the answer describes web4" \
  "$(printf '%s' "$BODY" | jq -r '"\(.name) \(.address) \(.weight) \(.state)"')" \
  "web4 ${SN_ADDR[web4]} 1 up"
lb_api rr GET /nodes
is "GET /nodes lists four nodes" "$(printf '%s' "$BODY" | jq -r '[.nodes[].name] | join(" ")')" \
  "web1 web2 web3 web4"
lb_seq "http://$rr/whoami" 8
is "add: 8 requests, each of four nodes twice ($SEQ)" \
  "$(count "$SEQ" web1)$(count "$SEQ" web2)$(count "$SEQ" web3)$(count "$SEQ" web4)" 2222
lb_api rr DELETE /nodes/web4
is "DELETE /nodes/web4: 200" "$ST" 200
is "DELETE /nodes/web4: says removed" "$(printf '%s' "$BODY" | jq -r .removed)" web4
lb_api rr GET /nodes/web4
is "GET /nodes/web4 after removal: 404" "$ST" 404
lb_seq "http://$rr/whoami" 6
is "remove: web4 gets nothing ($SEQ)" "$(count "$SEQ" web4)" 0
is "remove: the three others share 6 requests" \
  "$(count "$SEQ" web1)$(count "$SEQ" web2)$(count "$SEQ" web3)" 222
lb_api rr POST /nodes --data "name=web4&address=${SN_ADDR[web4]}"
is "web4 can be added again (weight defaults to 1): 201" "$ST" 201
is "... with weight 1" "$(printf '%s' "$BODY" | jq -r .weight)" 1
lb_api rr DELETE /nodes/web4

# --- dispatch connection: a keep-alive connection stays on its draining node ---------------------
lb_must_start kc "${LB_NODE_ARGS[@]}" --dispatch connection
kc=${LB_ADDR[kc]}
# One connection: a request, then drain the node that answered, then two more requests.
kept=$(python3 - "${kc%:*}" "${kc##*:}" "${LB_ADMIN[kc]}" <<'EOF'
import re, socket, sys, urllib.request
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
def get():
    s.sendall(b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return "closed"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    n = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < n:
        body += s.recv(65536)
    return re.search(rb"(?i)x-farm-node: *(\S+)", head).group(1).decode()
first = get()
urllib.request.urlopen(urllib.request.Request(
    "http://%s/nodes/%s/drain" % (sys.argv[3], first), method="POST"), timeout=5).read()
print(first, get(), get())
EOF
)
set -- $kept
like "dispatch connection: a connection's first request lands somewhere ($kept)" "${1:-}" '^web[123]$'
is "dispatch connection: after its node is drained the connection stays on it" "$kept" "${1:-} ${1:-} ${1:-}"
fresh=
for i in 1 2 3 4 5 6; do fresh="$fresh $(lb_node_of "http://$kc/whoami")"; done
is "dispatch connection: no new connection goes to the draining ${1:-} (${fresh# })" \
  "$(count "$fresh" "${1:-x}")" 0

# --- drain timeout --------------------------------------------------------------------------------
lb_must_start dt "${LB_NODE_ARGS[@]}" --drain-timeout 300ms --health-interval 100ms
lb_mark dt
lb_api dt POST /nodes/web3/drain
ok_if "--drain-timeout 300ms: a draining node is stopped after it" \
  lb_wait_after dt 'event=node-state node=web3 from=draining to=stopped reason="drain timeout"' 3
is "--drain-timeout: GET /nodes/web3 says stopped" "$(lb_node_state dt web3)" stopped

# --- the end of a drain (NLB drainstop): stopped once nothing is left -------------------------------
lb_must_start dq "${LB_NODE_ARGS[@]}" --drain-quiet 300ms --health-interval 100ms
lb_mark dq
lb_api dq POST /nodes/web3/drain
is "--drain-quiet 300ms: web3 is draining at first" "$(printf '%s' "$BODY" | jq -r .state)" draining
ok_if "--drain-quiet 300ms: with nothing left on it, web3 stops by itself" \
  lb_wait_after dq 'event=node-state node=web3 from=draining to=stopped reason="drained"' 3
lb_api dq GET /nodes/web3
is "... GET /nodes/web3: stopped" "$(printf '%s' "$BODY" | jq -r .state)" stopped
is "... the reason says drained" "$(printf '%s' "$BODY" | jq -r .reason)" drained
lb_api dq POST /nodes/web3/start
is "a drained node starts again" "$(printf '%s' "$BODY" | jq -r .state)" up

# A keep-alive connection bound to the draining node (dispatch=connection) holds the drain
# open, however long it is idle; its close ends it.
lb_must_start dk "${LB_NODE_ARGS[@]}" --dispatch connection --drain-quiet 200ms --health-interval 100ms
lb_mark dk
mkfifo "$SN_TMP/held.out" "$SN_TMP/held.ctl"
python3 -c '
import re, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n")
data = b""
while b"\r\n\r\n" not in data:
    data += s.recv(65536)
print(re.search(rb"(?i)x-farm-node: *(\S+)", data).group(1).decode(), flush=True)
open(sys.argv[3]).readline()  # hold the connection until told
s.close()
print("closed", flush=True)
' "${LB_ADDR[dk]%:*}" "${LB_ADDR[dk]##*:}" "$SN_TMP/held.ctl" >"$SN_TMP/held.out" &
held_pid=$!
exec {held_out}<"$SN_TMP/held.out"
read -r -t 10 -u "$held_out" bound || bound=
like "dispatch connection: the held connection is on a node ($bound)" "$bound" '^web[123]$'
bound=${bound:-web1}
lb_api dk POST "/nodes/$bound/drain"
lb_api dk GET "/nodes/$bound"
is "... GET /nodes/$bound counts the bound connection" \
  "$(printf '%s' "$BODY" | jq -r .bound_connections)" 1
# A check that something does not happen needs time to pass: 5 quiet periods, connection idle.
ok_unless "... while the connection is open, $bound stays draining past the quiet period" \
  lb_wait_after dk "event=node-state node=$bound .*to=stopped" 1
is "... GET /nodes/$bound: still draining" "$(lb_node_state dk "$bound")" draining
timeout 5 sh -c 'echo >"$1"' sh "$SN_TMP/held.ctl" || true
read -r -t 10 -u "$held_out" closed || closed=
is "... the client closes its connection" "$closed" closed
ok_if "... then $bound is drained and stops" \
  lb_wait_after dk "event=node-state node=$bound from=draining to=stopped reason=\"drained\"" 3
wait "$held_pid" 2>/dev/null || true
exec {held_out}<&-

# --- a drain outlives a health blip ---------------------------------------------------------------
# Drain is the operator's decision; health is the node's. A drained node that fails its
# checks and recovers must come back draining, not up (HAProxy keeps DRAIN across DOWN/UP).
lb_must_start hc "${LB_NODE_ARGS[@]}" --health-interval 100ms --fall 2 --rise 2
lb_api hc POST /nodes/web2/drain
lb_mark hc
sn_req POST "http://$w2/_farm/fault?spec=health-down"
ok_if "drained web2 fails its checks: down" lb_wait_after hc 'event=node-state node=web2 .*to=down' 3
lb_mark hc
sn_req POST "http://$w2/_farm/fault?spec=clear"
ok_if "web2's checks pass again: it changes state" lb_wait_after hc 'event=node-state node=web2 from=down' 3
is "after the blip web2 is draining again, not up" "$(lb_node_state hc web2)" draining
lb_seq "http://${LB_ADDR[hc]}/whoami" 6
is "after the blip round robin still skips web2 ($SEQ)" "$(count "$SEQ" web2)" 0

# --- errors are JSON with the right status ----------------------------------------------------
api_error() { # description method path want-status [curl args]
  local desc=$1 m=$2 p=$3 want=$4; shift 4
  lb_api rr "$m" "$p" "$@"
  is "$desc: $want" "$ST" "$want"
  like "$desc: JSON content type" "$(sn_hdr Content-Type)" '^application/json'
  like "$desc: a JSON error message" "$(printf '%s' "$BODY" | jq -r '.error | type' 2>/dev/null)" '^string$'
}
api_error "GET /nodes/nope (unknown node)" GET /nodes/nope 404
api_error "POST /nodes/nope/drain (unknown node)" POST /nodes/nope/drain 404
api_error "DELETE /nodes/nope (unknown node)" DELETE /nodes/nope 404
api_error "POST /nodes/web1/frobnicate (unknown action)" POST /nodes/web1/frobnicate 404
api_error "POST /nodes/web1/weight?w=abc (bad weight)" POST '/nodes/web1/weight?w=abc' 400
api_error "POST /nodes/web1/weight?w=257 (weight too large)" POST '/nodes/web1/weight?w=257' 400
api_error "POST /nodes/web1/weight?w=-1 (negative weight)" POST '/nodes/web1/weight?w=-1' 400
api_error "POST /nodes/web1/weight (no w)" POST /nodes/web1/weight 400
api_error "POST /nodes name=web1 (duplicate add)" POST /nodes 409 \
  --data "name=web1&address=${SN_ADDR[web1]}"
api_error "POST /nodes without address" POST /nodes 400 --data "name=web9"
api_error "POST /nodes with weight=abc" POST /nodes 400 \
  --data "name=web9&address=${SN_ADDR[web1]}&weight=abc"
api_error "POST /nodes with address=nowhere (not HOST:PORT)" POST /nodes 400 \
  --data "name=web9&address=nowhere"
api_error "POST /nodes with a bad name" POST /nodes 400 \
  --data "name=bad%20name&address=${SN_ADDR[web1]}"
api_error "GET /nodes/web1/drain (actions are POST)" GET /nodes/web1/drain 405
api_error "PUT /nodes" PUT /nodes 405
api_error "POST /stats" POST /stats 405
api_error "GET /nope (unknown path)" GET /nope 404
api_error "GET /sessions/0123456789abcdef (unknown session)" GET /sessions/0123456789abcdef 404
lb_api rr GET /nodes/web1
is "after the bad weights web1 still has weight 1" "$(printf '%s' "$BODY" | jq -r .weight)" 1
lb_api rr GET /nodes
is "after the failed adds the pool is still web1 web2 web3" \
  "$(printf '%s' "$BODY" | jq -r '[.nodes[].name] | join(" ")')" "web1 web2 web3"

# --- /stats and /metrics -----------------------------------------------------------------------
lb_api rr GET /stats
is "GET /stats: 200" "$ST" 200
like "GET /stats: JSON" "$(sn_hdr Content-Type)" '^application/json'
stats_req=$(printf '%s' "$BODY" | jq -r .requests)
ok_if "GET /stats: requests counted (32 proxied so far: $stats_req)" test "$stats_req" -eq 32
is "GET /stats: no 5xx so far" "$(printf '%s' "$BODY" | jq -r '.responses["5xx"]')" 0
is "GET /stats: dispatch and listen named" "$(printf '%s' "$BODY" | jq -r '"\(.dispatch) \(.listen)"')" \
  "request $rr"
lb_api rr GET /metrics
is "GET /metrics: 200" "$ST" 200
like "GET /metrics: Prometheus text format content type" "$(sn_hdr Content-Type)" \
  '^text/plain; *version=0\.0\.4'
# Every line is a HELP, a TYPE or a sample; every sample's metric has a TYPE line before it.
bad=$(printf '%s\n' "$BODY" | awk '
  /^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* / { next }
  /^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$/ { typed[$3] = 1; next }
  /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? [-+0-9.eE]+$/ {
    name = $0; sub(/[{ ].*/, "", name); if (!(name in typed)) { print "untyped: " $0 } ; next }
  /^$/ { next }
  { print "bad: " $0 }')
is "GET /metrics: every line is valid exposition format${bad:+ ($bad)}" "$bad" ""
samples=$(printf '%s\n' "$BODY" | grep -c '^farmlb_')
ok_if "GET /metrics: has samples ($samples)" test "$samples" -gt 5
like "GET /metrics: farmlb_requests_total" "$(printf '%s\n' "$BODY" | grep '^farmlb_requests_total ')" \
  '^farmlb_requests_total [0-9]+$'
like "GET /metrics: a farmlb_node_up sample per node" \
  "$(printf '%s\n' "$BODY" | grep -c '^farmlb_node_up{node="web[123]"')" '^3$'
m_req=$(printf '%s\n' "$BODY" | awk '$1 == "farmlb_requests_total" { print $2 }')
ok_if "GET /metrics: farmlb_requests_total ($m_req) agrees with /stats ($stats_req)" \
  test "$m_req" -ge "$stats_req"

# --- the bearer token --------------------------------------------------------------------------
lb_must_start tok "${LB_NODE_ARGS[@]}" --admin-token s3cret-t0ken
like "ready line: token=required" "$(grep 'role=admin' "${SN_LOG[tok]}")" 'token=required'
lb_api tok GET /nodes
is "--admin-token: no Authorization: 401" "$ST" 401
like "--admin-token: 401 says WWW-Authenticate: Bearer" "$(sn_hdr WWW-Authenticate)" '^Bearer'
like "--admin-token: 401 is a JSON error" "$(printf '%s' "$BODY" | jq -r '.error | type' 2>/dev/null)" '^string$'
lb_api tok GET /nodes -H "Authorization: Bearer wrong"
is "--admin-token: a wrong token: 401" "$ST" 401
lb_api tok GET /nodes -H "Authorization: Bearer s3cret-t0kenX"
is "--admin-token: the token with a suffix: 401" "$ST" 401
lb_api tok GET /nodes -H "Authorization: Basic czNjcmV0LXQwa2Vu"
is "--admin-token: Basic instead of Bearer: 401" "$ST" 401
lb_api tok POST /nodes/web1/stop
is "--admin-token: POST stop without the token: 401" "$ST" 401
LB_TOKEN=s3cret-t0ken
lb_api tok GET /nodes/web1
is "--admin-token: the right token: 200" "$ST" 200
is "--admin-token: the unauthorised stop did nothing" "$(printf '%s' "$BODY" | jq -r .state)" up
lb_api tok GET /metrics
is "--admin-token: /metrics with the token: 200" "$ST" 200
LB_TOKEN=
is "the proxy itself needs no token" "$(lb_node_of "http://${LB_ADDR[tok]}/whoami")" web1
unlike "the token is not in lb's log" "$(cat "${SN_LOG[tok]}")" 's3cret-t0ken'

"$LB" --listen 127.0.0.1:0 --admin 0.0.0.0:0 "${LB_NODE_ARGS[@]}" >"$T/open.out" 2>&1
is "an admin address off loopback without --admin-token: exit 2" "$?" 2
like "... and says why" "$(cat "$T/open.out")" 'admin-token'

lb_finish
