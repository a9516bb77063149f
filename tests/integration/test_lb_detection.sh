#!/usr/bin/env bash
# How lb finds out about nodes and sessions while traffic flows: a node that fails its
# health check goes down after --fall checks even under load; passive detection trips on a
# node that answers 500 and closes every connection; a connection bound to a node
# (--dispatch connection) moves to the node that took its retry; a sliding-expiration
# renewal after a hop is a check that passed, not a rejection; a request whose kept-alive
# connections all turn out closed gets its fresh try on a new connection.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
. "$here/lb_lib.sh"
T=$SN_TMP

lb_farm 3 --sliding --ticket-timeout 10m
lb_must_start lb "${LB_NODE_ARGS[@]}" --health-interval 200ms --fall 2 --rise 2 \
  --session-cookie .ASPXAUTH --access-log "$T/access.log"
addr=${LB_ADDR[lb]}
admin=${LB_ADMIN[lb]}

# --- a failing health check under load ---------------------------------------------------------
# Traffic keeps flowing (and web2 keeps answering it); only the health check fails.
sn_req POST "http://${SN_ADDR[web2]}/_farm/fault?spec=health-down"
under_load=$(python3 - "$addr" "$admin" <<'EOF'
import http.client, json, sys, time
lb, admin = sys.argv[1], sys.argv[2]
c = http.client.HTTPConnection(lb, timeout=5)
start = time.monotonic()
state = 'up'
while time.monotonic() - start < 5:
    for _ in range(20):
        c.request('GET', '/whoami')
        c.getresponse().read()
    a = http.client.HTTPConnection(admin, timeout=5)
    a.request('GET', '/nodes/web2')
    state = json.loads(a.getresponse().read())['state']
    a.close()
    if state == 'down':
        break
print('%s after %.1f s' % (state, time.monotonic() - start))
EOF
)
like "web2's health check fails under load: down within fall x interval (+ slack) ($under_load)" \
  "$under_load" '^down after [0-1]\.[0-9] s$'
sn_req POST "http://${SN_ADDR[web2]}/_farm/fault?spec=clear"

# --- a sliding renewal after a hop -------------------------------------------------------------
# Log in (on some node), then move every node's clock past half the ticket's life: the next
# request, on another node, renews the ticket. A renewal is a check that passed.
jar=$T/jar
sn_req GET "http://$addr/login?user=alice" -c "$jar"
login_node=$(sn_hdr X-Farm-Node)
for n in web1 web2 web3; do
  sn_req POST "http://${SN_ADDR[$n]}/_farm/clock?advance=6m"
done
renewed=''
for i in 1 2 3 4; do
  sn_req GET "http://$addr/whoami" -b "$jar" -c "$jar"
  if [ "$(sn_hdr X-Farm-Node)" != "$login_node" ]; then
    renewed=$(printf '%s' "$HDR" | grep -ci '^Set-Cookie: \.ASPXAUTH=')
    break
  fi
done
is "after a hop, the other node renews the ticket (Set-Cookie)" "$renewed" 1
lb_api lb GET /matrix
rejected=$(jq '[.cells[]? | .rejected] | add // 0' <<<"$BODY")
accepted=$(jq '[.cells[]? | .accepted] | add // 0' <<<"$BODY")
is "the matrix counts no rejection for a renewal" "$rejected" 0
ok_if "... and counts the hop's check as accepted ($accepted)" test "$accepted" -ge 1

# --- passive detection, a node that answers 500 and closes ------------------------------------
sn_helper rawnode python3 "$here/rawnode.py"
raw_addr=${SN_READY[rawnode]##*listen=}
lb_must_start p --node raw="$raw_addr" --node web1="${SN_ADDR[web1]}" --health-path '' \
  --retries 0
sn_req GET "http://${LB_ADDR[p]}/500close"
sn_req GET "http://${LB_ADDR[p]}/500close"
lb_api p GET /nodes/raw
is "GET /nodes/raw shows the passive run (1 of 3)" "$(jq .passive_fail <<<"$BODY")" 1
for i in 1 2 3 4; do sn_req GET "http://${LB_ADDR[p]}/500close"; done
is "three 500s from a node that closes after each: passive detection marks it down" \
  "$(lb_node_state p raw)" down

# --- dispatch=connection: a retry moves the connection --------------------------------------
# dead: a port nobody listens on. A connection that starts on it is retried on web1, and
# must then belong to web1: its next request does not try the dead node first again.
lb_must_start d --node dead=127.0.0.1:1 --node web1="${SN_ADDR[web1]}" --health-path '' \
  --no-passive --dispatch connection --access-log "$T/d-access.log"
conn_log=$(python3 - "${LB_ADDR[d]}" <<'EOF'
import http.client, sys
out = []
for conn in range(2):  # round robin per connection: one of the two starts on the dead node
    c = http.client.HTTPConnection(sys.argv[1], timeout=5)
    for _ in range(2):
        c.request('GET', '/whoami')
        r = c.getresponse()
        r.read()
        out.append(str(r.status))
    c.close()
print(' '.join(out))
EOF
)
is "every request answered" "$conn_log" "200 200 200 200"
is "the dead node was tried once, by the connection's first request" \
  "$(grep -c 'tried=dead' "$T/d-access.log")" 1

# stale: every kept-alive connection turns out closed (rawnode's /stale answers and then
# closes its connection at the next request, as a restarted node would look). Three
# concurrent requests leave lb three idle connections to it; the next GET meets a dead one
# and gets its one fresh try on a new connection. (It used to take the next idle
# connection, and the next: 502 after tried=stale,stale,stale with the node up.)
lb_must_start s --node stale="$raw_addr" --health-path '' --access-log "$T/s-access.log"
curls=()
for i in 1 2 3; do curl -s -m 5 -o /dev/null "http://${LB_ADDR[s]}/stale" & curls+=($!); done
wait "${curls[@]}"
lb_api s GET /nodes/stale
is "stale: three requests at once left three idle connections" \
  "$(printf '%s' "$BODY" | jq .idle)" 3
is "stale: the next GET is answered 200 on a fresh connection" \
  "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://${LB_ADDR[s]}/after")" 200
like "stale: it tried one stale connection, then a new one" \
  "$(grep 'path=/after' "$T/s-access.log")" 'tried=stale,stale status=200'

lb_finish
