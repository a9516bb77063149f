#!/usr/bin/env bash
# lb session tracing: a farm where web3 has other keys. A user logs in through lb (issued by
# web1) and hops over the nodes request by request; lb's matrix, session list, timeline and
# event stream show web3 rejecting web1's ticket (mac-mismatch, key-mismatch); the access
# log has one line per request with the node, why, the status and the ticket verdict. Behind
# an app that is not a sim-node, a login redirect after a hop is a lost session (its own
# session cookie) or a rejected ticket (a ticket-like cookie name).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
. "$here/lb_lib.sh"
T=$SN_TMP

sn_keygen "$T/farm.config"
sn_keygen "$T/other.config"
sn_must_start web1 --name web1 --machine-key "$T/farm.config"
sn_must_start web2 --name web2 --machine-key "$T/farm.config"
sn_must_start web3 --name web3 --machine-key "$T/other.config"
lb_nodes_args 3
lb_must_start lb "${LB_NODE_ARGS[@]}" --affinity none --dispatch request \
  --access-log "$T/access.log"
url=http://${LB_ADDR[lb]}
jar=$T/jar

# --- a user hops over the farm ------------------------------------------------------------------
sn_req GET "$url/login?user=alice" -c "$jar" -b "$jar"
is "login through lb: 200" "$ST" 200
is "login through lb: issued by web1 (the first round-robin slot)" "$(sn_hdr X-Farm-Node)" web1
key1=$(sn_hdr X-Farm-Key)
cookie=$(sn_cookie .ASPXAUTH)
ok_if "login through lb: a .ASPXAUTH cookie" test -n "$cookie"
nodes='' tickets=''
for i in 1 2 3 4 5 6; do
  sn_req GET "$url/whoami" -c "$jar" -b "$jar"
  nodes="$nodes${nodes:+ }$(sn_hdr X-Farm-Node)"
  tickets="$tickets${tickets:+ }$(sn_hdr X-Farm-Ticket)"
  [ "$(sn_hdr X-Farm-Node)" = web3 ] && key3=$(sn_hdr X-Farm-Key)
done
is "6 requests hop web2 web3 web1 web2 web3 web1" "$nodes" "web2 web3 web1 web2 web3 web1"
is "web3, with other keys, rejects the ticket each time" "$tickets" \
  "valid mac-mismatch valid valid mac-mismatch valid"
ok_if "web1 and web3 report different key fingerprints" test -n "${key3:-}" -a "${key3:-}" != "$key1"

# --- GET /matrix ------------------------------------------------------------------------------------
lb_api lb GET /matrix
is "GET /matrix: 200" "$ST" 200
like "GET /matrix: JSON" "$(sn_hdr Content-Type)" '^application/json'
is "GET /matrix: the nodes" "$(printf '%s' "$BODY" | jq -r '.nodes | join(" ")')" "web1 web2 web3"
cell() { printf '%s' "$BODY" | jq -c --arg i "$1" --arg c "$2" \
  '[.cells[] | select(.cookie == ".ASPXAUTH" and .issuer == $i and .checker == $c)] | first // {}'; }
c13=$(cell web1 web3)
is "matrix web1→web3: rejected 2" "$(jq -r .rejected <<<"$c13")" 2
is "matrix web1→web3: accepted 0" "$(jq -r .accepted <<<"$c13")" 0
is "matrix web1→web3: last verdict mac-mismatch" "$(jq -r .last_verdict <<<"$c13")" mac-mismatch
is "matrix web1→web3: the issuer's fingerprint" "$(jq -r .key_issuer <<<"$c13")" "$key1"
is "matrix web1→web3: the checker's fingerprint" "$(jq -r .key_checker <<<"$c13")" "${key3:-}"
c12=$(cell web1 web2)
is "matrix web1→web2: accepted 2, rejected 0" "$(jq -r '"\(.accepted) \(.rejected)"' <<<"$c12")" "2 0"
is "matrix web1→web2: last verdict valid" "$(jq -r .last_verdict <<<"$c12")" valid
is "matrix: no cell rejects but web1→web3" \
  "$(printf '%s' "$BODY" | jq -r '[.cells[] | select(.rejected > 0) | "\(.issuer)>\(.checker)"] | join(" ")')" \
  "web1>web3"

# --- GET /sessions and /sessions/ID ----------------------------------------------------------------
lb_api lb GET /sessions
is "GET /sessions: 200" "$ST" 200
is "GET /sessions: one session tracked" "$(printf '%s' "$BODY" | jq -r .tracked)" 1
s=$(printf '%s' "$BODY" | jq -c '.sessions[0]')
id=$(jq -r .id <<<"$s")
like "the session has a 16-hex-digit id" "$id" '^[0-9a-f]{16}$'
is "the session: cookie, issuer, user" "$(jq -r '"\(.cookie) \(.issuer) \(.user)"' <<<"$s")" \
  ".ASPXAUTH web1 alice"
is "the session: 6 hops, 2 rejections" "$(jq -r '"\(.hops) \(.rejections)"' <<<"$s")" "6 2"
unlike "the session id is not the cookie" "$id" "$cookie"

lb_api lb GET "/sessions/$id"
is "GET /sessions/$id: 200" "$ST" 200
tl=$(printf '%s' "$BODY" | jq -c '.timeline')
is "timeline: starts with web1 issuing the ticket" \
  "$(jq -r '.[0] | "\(.kind) \(.node)"' <<<"$tl")" "issued web1"
rej=$(jq -c '[.[] | select(.kind == "rejected")]' <<<"$tl")
is "timeline: two rejected events" "$(jq length <<<"$rej")" 2
is "timeline: rejected at web3, issued by web1" "$(jq -r '.[0] | "\(.node) \(.from)"' <<<"$rej")" "web3 web1"
is "timeline: verdict mac-mismatch" "$(jq -r '.[0].verdict' <<<"$rej")" mac-mismatch
is "timeline: cause key-mismatch" "$(jq -r '.[0].cause' <<<"$rej")" key-mismatch
is "timeline: both fingerprints" "$(jq -r '.[0] | "\(.key_node)|\(.key_from)"' <<<"$rej")" "${key3:-}|$key1"
is "timeline: the hops in order" \
  "$(jq -r '[.[] | select(.kind == "session-hop") | "\(.from)>\(.node)"] | join(" ")' <<<"$tl")" \
  "web1>web2 web2>web3 web3>web1 web1>web2 web2>web3 web3>web1"
ok_if "timeline: the events are in time order" \
  jq -e '[.[].time] as $t | $t == ($t | sort)' <<<"$tl"

# --- GET /events and the event stream ---------------------------------------------------------------
lb_api lb GET /events
is "GET /events: 200" "$ST" 200
km=$(printf '%s' "$BODY" | jq -c '[.events[] | select(.kind == "key-mismatch")]')
is "GET /events: two key-mismatch events" "$(jq length <<<"$km")" 2
is "GET /events: key-mismatch between web1 (issuer) and web3" \
  "$(jq -r '.[0] | "\(.from) \(.node) \(.session)"' <<<"$km")" "web1 web3 $id"
last=$(printf '%s' "$BODY" | jq -r '[.events[].seq] | max')

# A follower replays what is kept, then gets new events as they happen. (The output file
# exists before curl starts, so that tail -f finds it.)
: >"$T/sse.out"
curl -sS -N --max-time 10 -D "$T/sse.head" "http://${LB_ADMIN[lb]}/events?follow=1" \
  >"$T/sse.out" 2>/dev/null &
sse=$!
_sn_children+=("$sse")
SN_LOG[sse]=$T/sse.out
LB_MARK[sse]=0
ok_if "events?follow=1: the stream has begun" lb_wait_after sse '^event: key-mismatch' 5
like "events?follow=1: text/event-stream" "$(tr -d '\r' <"$T/sse.head" | grep -i '^content-type:')" \
  'text/event-stream'
lb_seq "$url/whoami" 3 -b "$jar"
is "three more requests: web2 web3 web1" "$SEQ" "web2 web3 web1"
ok_if "events?follow=1: the new key-mismatch arrives live (id > $last)" \
  lb_wait_after sse "^data: .*\"seq\":($((last + 1))|$((last + 2))|$((last + 3))|$((last + 4))|$((last + 5))),\"time\".*\"kind\":\"key-mismatch\"" 5
kill "$sse" 2>/dev/null
wait "$sse" 2>/dev/null
n_ev=$(grep -c '^event: ' "$T/sse.out")
n_data=$(grep '^data: ' "$T/sse.out" | sed 's/^data: //' | jq -c . 2>/dev/null | wc -l)
ok_if "events?follow=1: every event has a JSON data line ($n_ev events, $n_data parsed)" \
  test "$n_ev" -gt 10 -a "$n_ev" = "$n_data"
is "events?follow=1: three key-mismatch events in all" "$(grep -c '^event: key-mismatch$' "$T/sse.out")" 3

# The same with curl --max-time 1, as a user would look: it times out (the stream stays open).
curl -sS -N --max-time 1 "http://${LB_ADMIN[lb]}/events?follow=1" >"$T/sse1.out" 2>/dev/null
is "curl --max-time 1 on the stream: exit 28 (still open)" "$?" 28
like "... and it had event: lines" "$(grep -c '^event: key-mismatch$' "$T/sse1.out")" '^3$'

lb_api lb GET /metrics
like "GET /metrics counts the key-mismatch events" \
  "$(printf '%s\n' "$BODY" | grep '^farmlb_session_events_total{event="key-mismatch"}')" ' 3$'

# --- the access log -------------------------------------------------------------------------------
# 1 login, 6 + 3 requests; lines are written as answers complete.
lines=$(wc -l <"$T/access.log")
is "access log: one line per request (10)" "$lines" 10
bad=$(grep -vcE '^time=[0-9T:.-]+Z client=127\.0\.0\.1 method=GET path=/[a-z]+ node=web[123] why=rr tried=web[123] status=200 bytes=[0-9]+ connect_ms=[0-9.]+ first_byte_ms=[0-9.]+ total_ms=[0-9.]+ ticket=(valid|mac-mismatch) session=([0-9a-f]{16}|-)$' "$T/access.log")
is "access log: every line has time, client, node=, why=, status=, ticket=, session=" "$bad" 0
is "access log: the nodes, in order" \
  "$(sed 's/.* node=\([^ ]*\) .*/\1/' "$T/access.log" | tr '\n' ' ')" \
  "web1 web2 web3 web1 web2 web3 web1 web2 web3 web1 "
is "access log: the ticket verdicts" "$(sed 's/.* ticket=\([^ ]*\) .*/\1/' "$T/access.log" | tr '\n' ' ')" \
  "valid valid mac-mismatch valid valid mac-mismatch valid valid mac-mismatch valid "
is "access log: requests with the cookie carry the session's id" \
  "$(sed -n '2,$p' "$T/access.log" | sed 's/.* session=//' | sort -u)" "$id"
is "access log: the login (no cookie yet) has session=-" "$(head -n 1 "$T/access.log" | sed 's/.* session=//')" "-"
ok_if "the cookie's value is in no log" sh -c "! grep -qF -- '$cookie' '$T/access.log' '${SN_LOG[lb]}'"
# --- a backend that is not a sim-node: its own session cookie, a login redirect ---------------
# loginnode keeps logins in in-process session state: a session issued by app1 is unknown to
# app2, which sends the user to log in. No X-Farm-* headers: lb infers what happened.
app_start() { # NAME COOKIE: start a loginnode; APP_ADDR[NAME]
  sn_helper "$1" python3 "$here/loginnode.py" --name "$1" --cookie "$2"
  APP_ADDR[$1]=${SN_READY[$1]##*listen=}
}
declare -A APP_ADDR
# hop_to_login LB COOKIE: log in (app1 issues the cookie), then a page with it on app2.
hop_to_login() {
  local jar=$T/jar.$1 u=http://${LB_ADDR[$1]}
  sn_req GET "$u/login?user=bob" -c "$jar" -b "$jar"
  like "$2 app: login on app1, which sets $2" "$(sn_hdr X-Served-By) $(sn_cookie "$2")" \
    '^app1 [0-9a-f]{24}$'
  sn_req GET "$u/page" -c "$jar" -b "$jar"
  is "$2 app: the page, on app2, redirects to the login page" \
    "$ST $(sn_hdr X-Served-By) $(sn_hdr Location)" "302 app2 /login?ReturnUrl=/page"
  lb_api "$1" GET /events
}
app_start app1 SID
app_start app2 SID
lb_must_start sid --node "app1=${APP_ADDR[app1]}" --node "app2=${APP_ADDR[app2]}" \
  --session-cookie SID --health-path '' --served-by
hop_to_login sid SID
ev=$(printf '%s' "$BODY" | jq -c '[.events[] | select(.kind == "session-lost" or .kind == "rejected")]')
is "SID (a session cookie): one session-lost, no rejection" "$(jq -r '[.[].kind] | join(" ")' <<<"$ev")" \
  session-lost
is "... on app2, the session's from app1, cookie SID" \
  "$(jq -r '.[0] | "\(.node) \(.from) \(.cookie)"' <<<"$ev")" "app2 app1 SID"
is "... verdict inferred, cause inferred-login-redirect" \
  "$(jq -r '.[0] | "\(.verdict) \(.cause)"' <<<"$ev")" "inferred inferred-login-redirect"
lb_api sid GET /matrix
is "SID: /matrix app1 → app2 rejected 1, accepted 0" \
  "$(printf '%s' "$BODY" | jq -r '.cells[] | select(.cookie == "SID" and .issuer == "app1" and .checker == "app2") | "\(.rejected) \(.accepted) \(.last_verdict)"')" \
  "1 0 inferred"
# A request with no session cookie that is sent to log in is a user not logged in: nothing.
sn_req GET "http://${LB_ADDR[sid]}/private"
is "no cookie: app1 redirects to the login page too" "$ST $(sn_hdr X-Served-By)" "302 app1"
lb_api sid GET /stats
is "... and that is no loss, no rejection, no new session" \
  "$(printf '%s' "$BODY" | jq -r '.sessions | "\(.lost) \(.rejected) \(.tracked)"')" "1 0 1"

# The same app with a ticket-like cookie name: the ticket is rejected.
app_start app3 AppAuth
app_start app4 AppAuth
lb_must_start auth --node "app1=${APP_ADDR[app3]}" --node "app2=${APP_ADDR[app4]}" \
  --session-cookie AppAuth --health-path '' --served-by
hop_to_login auth AppAuth
ev=$(printf '%s' "$BODY" | jq -c '[.events[] | select(.kind == "session-lost" or .kind == "rejected")]')
is "AppAuth (ticket-like): one rejected, inferred-login-redirect, on app2, issued by app1" \
  "$(jq -r '[.[] | "\(.kind) \(.cause) \(.node) \(.from)"] | join(",")' <<<"$ev")" \
  "rejected inferred-login-redirect app2 app1"

sn_assert_no_secrets "$T/farm.config" "$T/other.config"

lb_finish
