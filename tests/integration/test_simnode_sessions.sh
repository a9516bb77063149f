#!/usr/bin/env bash
# sim-node session state: InProc lost across nodes and restarts, the state server shared by
# nodes with the same application path only, the state server going down and coming back
# on the same port, and session timeouts on the node's and the state server's clocks.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
T=$SN_TMP
UNREACHABLE='Unable to make the session state request to the session state server'

sn_keygen "$T/a.config"
cart() { printf '%s' "$BODY" | jq -c .cart; }

# --- InProc ---------------------------------------------------------------------------------
sn_must_start in1 --name in1 --machine-key "$T/a.config" --session inproc
sn_must_start in2 --name in2 --machine-key "$T/a.config" --session inproc
sn_req POST "http://${SN_ADDR[in1]}/cart/add?item=apple"
is "inproc: first add on in1: 200" "$ST" 200
is "inproc: first add starts a session (X-Farm-Session new)" "$(sn_hdr X-Farm-Session)" new
sid=$(sn_cookie ASP.NET_SessionId)
like "inproc: an ASP.NET_SessionId cookie (24 chars a-z0-5)" "$sid" '^[a-z0-5]{24}$'
like "inproc: the session cookie is path=/; HttpOnly" \
  "$(printf '%s\n' "$HDR" | grep -i '^Set-Cookie: ASP.NET_SessionId=')" "=$sid; path=/; HttpOnly$"
is "inproc: the cart has the apple" "$(cart)" '["apple"]'
sn_req POST "http://${SN_ADDR[in1]}/cart/add?item=pear" -H "Cookie: ASP.NET_SessionId=$sid"
is "inproc: second add on in1: session found" "$(sn_hdr X-Farm-Session)" found
is "inproc: no new session cookie for a known session" "$(sn_cookie ASP.NET_SessionId)" ""
is "inproc: the cart has both" "$(cart)" '["apple","pear"]'
sn_req GET "http://${SN_ADDR[in2]}/cart" -H "Cookie: ASP.NET_SessionId=$sid"
is "inproc: the same session on in2: 200" "$ST" 200
is "inproc: on in2 the session is lost" "$(sn_hdr X-Farm-Session)" lost
is "inproc: on in2 the cart is empty" "$(cart)" '[]'
sn_req GET "http://${SN_ADDR[in2]}/cart" -H "Cookie: ASP.NET_SessionId=$sid"
is "inproc: in2 started a new, empty session under that id (found next time)" \
  "$(sn_hdr X-Farm-Session)" found
sn_req POST "http://${SN_ADDR[in1]}/cart/add?item=grape"
gsid=$(sn_cookie ASP.NET_SessionId)
sn_req GET "http://${SN_ADDR[in2]}/whoami" -H "Cookie: ASP.NET_SessionId=$gsid" -H 'Accept: text/html'
like "inproc: in2's HTML page says lost" "$BODY" 'Session \(inproc\): <b>lost</b>'
like "inproc: in2's HTML page explains InProc" "$BODY" 'InProc sessions live in one server'
sn_req GET "http://${SN_ADDR[in1]}/whoami" -H "Cookie: ASP.NET_SessionId=$sid"
is "inproc: back on in1 the session is found" "$(sn_hdr X-Farm-Session)" found
is "inproc: /whoami shows the cart" "$(printf '%s' "$BODY" | jq -c .session.cart)" '["apple","pear"]'
is "inproc: /whoami shows the session id" "$(printf '%s' "$BODY" | jq -r .session.id)" "$sid"
sn_stop in1
is "inproc: in1 exits 0 on SIGTERM" "${SN_RC[in1]}" 0
sn_must_start in1 --name in1 --machine-key "$T/a.config" --session inproc
sn_req GET "http://${SN_ADDR[in1]}/cart" -H "Cookie: ASP.NET_SessionId=$sid"
is "inproc: after a restart of in1 the session is lost" "$(sn_hdr X-Farm-Session)" lost
is "inproc: ... and the cart empty" "$(cart)" '[]'

sn_req GET "http://${SN_ADDR[in2]}/login?user=dave"
like "inproc: /login sets the forms cookie ..." "$(sn_cookie .ASPXAUTH)" '^[0-9A-F]+$'
like "inproc: ... and an ASP.NET_SessionId" "$(sn_cookie ASP.NET_SessionId)" '^[a-z0-5]{24}$'

# Session off: no session cookie, the cart refuses.
sn_must_start off --name off --machine-key "$T/a.config"
sn_req GET "http://${SN_ADDR[off]}/whoami"
is "session off: X-Farm-Session off" "$(sn_hdr X-Farm-Session)" off
is "session off: no session cookie" "$(sn_cookie ASP.NET_SessionId)" ""
sn_req POST "http://${SN_ADDR[off]}/cart/add?item=x"
is "session off: the cart answers 500" "$ST" 500

# --- State server ---------------------------------------------------------------------------
sn_must_start ss --state-server
like "state server ready line" "$(head -n 1 "${SN_LOG[ss]}")" \
  '^node=state-server event=ready role=state-server listen=127\.0\.0\.1:[0-9]+$'
ssaddr=${SN_ADDR[ss]}
sn_must_start s1 --name s1 --machine-key "$T/a.config" --session "stateserver=$ssaddr"
sn_must_start s2 --name s2 --machine-key "$T/a.config" --session "stateserver=$ssaddr"
sn_must_start s3 --name s3 --machine-key "$T/a.config" --session "stateserver=$ssaddr" \
  --app-path /LM/W3SVC/2/ROOT
sn_must_start s4 --name s4 --machine-key "$T/a.config" --session "stateserver=$ssaddr" \
  --app-path /lm/w3svc/1/root
sn_req POST "http://${SN_ADDR[s1]}/cart/add?item=apple"
is "stateserver: add on s1: new session" "$(sn_hdr X-Farm-Session)" new
ssid=$(sn_cookie ASP.NET_SessionId)
like "stateserver: a session cookie" "$ssid" '^[a-z0-5]{24}$'
sn_req GET "http://${SN_ADDR[s2]}/cart" -H "Cookie: ASP.NET_SessionId=$ssid"
is "stateserver: the session on s2: found" "$(sn_hdr X-Farm-Session)" found
is "stateserver: s2 sees the apple" "$(cart)" '["apple"]'
sn_req POST "http://${SN_ADDR[s2]}/cart/add?item=pear" -H "Cookie: ASP.NET_SessionId=$ssid"
is "stateserver: add on s2: found" "$(sn_hdr X-Farm-Session)" found
sn_req GET "http://${SN_ADDR[s1]}/cart" -H "Cookie: ASP.NET_SessionId=$ssid"
is "stateserver: back on s1 the cart has both" "$(cart)" '["apple","pear"]'
sn_req GET "http://${SN_ADDR[s4]}/cart" -H "Cookie: ASP.NET_SessionId=$ssid"
is "stateserver: the app path is case-sensitive (s4, /lm/w3svc/1/root): lost" \
  "$(sn_hdr X-Farm-Session)" lost
sn_req GET "http://${SN_ADDR[s3]}/cart" -H "Cookie: ASP.NET_SessionId=$ssid"
is "stateserver: s3 with app path /LM/W3SVC/2/ROOT: 200" "$ST" 200
is "stateserver: s3 with another app path: lost" "$(sn_hdr X-Farm-Session)" lost
is "stateserver: s3 sees an empty cart" "$(cart)" '[]'
sn_req GET "http://${SN_ADDR[s1]}/cart" -H "Cookie: ASP.NET_SessionId=$ssid"
is "stateserver: s3's empty session did not clobber s1's (other app id)" "$(cart)" '["apple","pear"]'
sn_req GET "http://$ssaddr/_farm/info"
is "state server /_farm/info: role" "$(printf '%s' "$BODY" | jq -r .role)" state-server
is "state server /_farm/info: one session per app id" "$(printf '%s' "$BODY" | jq -r '.sessions')" 3
is "state server /_farm/info: the three app ids" "$(printf '%s' "$BODY" | jq -r '.apps | keys | join(" ")')" \
  "/LM/W3SVC/1/ROOT /LM/W3SVC/2/ROOT /lm/w3svc/1/root"

# The state server goes away: ASP.NET's error, no crash.
sn_stop ss KILL
sn_req GET "http://${SN_ADDR[s1]}/cart" -H "Cookie: ASP.NET_SessionId=$ssid"
is "state server down: s1 answers 500" "$ST" 500
like "state server down: in ASP.NET's words" "$(printf '%s' "$BODY" | jq -r .error)" "^$UNREACHABLE"
is "state server down: X-Farm-Node still set" "$(sn_hdr X-Farm-Node)" s1
sn_req POST "http://${SN_ADDR[s2]}/cart/add?item=plum"
is "state server down: a new visitor on s2 gets 500 too" "$ST" 500
like "... with the same text" "$BODY" "$UNREACHABLE"
sn_req GET "http://${SN_ADDR[s1]}/whoami" -H "Cookie: ASP.NET_SessionId=$ssid" -H 'Accept: text/html'
is "state server down, HTML: 500" "$ST" 500
like "state server down, HTML: the text" "$BODY" "$UNREACHABLE"
sn_req GET "http://${SN_ADDR[s1]}/health"
is "state server down: s1 /health 200" "$ST" 200
ok_if "state server down: s1 is still running" kill -0 "${SN_PID[s1]}"
sn_req GET "http://${SN_ADDR[s1]}/_farm/info"
is "state server down: s1 counts the session errors" \
  "$(printf '%s' "$BODY" | jq -r '.counters.sessions.errors >= 2')" true
ok_if "state server down: s1 logs event=session-store-error with the cause" \
  sn_wait_log s1 '^node=s1 event=session-store-error error="state server [^"]*: connect: '
is "state server down: ... once, not per failed request" \
  "$(grep -c 'event=session-store-error' "${SN_LOG[s1]}")" 1

# Back on the same port: a new session works; the old one is gone with the old process.
sn_must_start ss --state-server --listen "$ssaddr"
is "state server restarted on the same address" "${SN_ADDR[ss]}" "$ssaddr"
sn_req POST "http://${SN_ADDR[s1]}/cart/add?item=fig"
is "state server back: s1 answers 200" "$ST" 200
is "state server back: a new session" "$(sn_hdr X-Farm-Session)" new
ok_if "state server back: s1 logs event=session-store-back" \
  sn_wait_log s1 '^node=s1 event=session-store-back$'
nsid=$(sn_cookie ASP.NET_SessionId)
sn_req GET "http://${SN_ADDR[s2]}/cart" -H "Cookie: ASP.NET_SessionId=$nsid"
is "state server back: the new session is shared (s2 found)" "$(sn_hdr X-Farm-Session)" found
is "state server back: s2 sees the fig" "$(cart)" '["fig"]'
sn_req GET "http://${SN_ADDR[s2]}/cart" -H "Cookie: ASP.NET_SessionId=$ssid"
is "state server back: the session from before the restart is lost" "$(sn_hdr X-Farm-Session)" lost

# --- Timeouts -------------------------------------------------------------------------------
sn_must_start to --name to --machine-key "$T/a.config" --session inproc --session-timeout 2m
sn_req POST "http://${SN_ADDR[to]}/cart/add?item=kiwi"
tsid=$(sn_cookie ASP.NET_SessionId)
sn_req POST "http://${SN_ADDR[to]}/_farm/clock?advance=1m"
is "inproc timeout: clock advanced" "$ST" 200
sn_req GET "http://${SN_ADDR[to]}/cart" -H "Cookie: ASP.NET_SessionId=$tsid"
is "inproc timeout 2m, 1m later: found" "$(sn_hdr X-Farm-Session)" found
sn_req POST "http://${SN_ADDR[to]}/_farm/clock?advance=1m30s"
sn_req GET "http://${SN_ADDR[to]}/cart" -H "Cookie: ASP.NET_SessionId=$tsid"
is "inproc timeout slides: 1m30s after the last access: found" "$(sn_hdr X-Farm-Session)" found
sn_req POST "http://${SN_ADDR[to]}/_farm/clock?advance=3m"
sn_req GET "http://${SN_ADDR[to]}/cart" -H "Cookie: ASP.NET_SessionId=$tsid"
is "inproc timeout 2m, 3m idle: lost" "$(sn_hdr X-Farm-Session)" lost
is "inproc timeout: the cart is empty" "$(cart)" '[]'

sn_must_start st --name st --machine-key "$T/a.config" --session "stateserver=${SN_ADDR[ss]}" \
  --session-timeout 2m
sn_req POST "http://${SN_ADDR[st]}/cart/add?item=lime"
stsid=$(sn_cookie ASP.NET_SessionId)
sn_req POST "http://${SN_ADDR[ss]}/_farm/advance?seconds=60"
is "state server /_farm/advance: 200" "$ST" 200
sn_req GET "http://${SN_ADDR[st]}/cart" -H "Cookie: ASP.NET_SessionId=$stsid"
is "state server timeout 2m, 1m later: found" "$(sn_hdr X-Farm-Session)" found
sn_req POST "http://${SN_ADDR[ss]}/_farm/advance?seconds=180"
sn_req GET "http://${SN_ADDR[st]}/cart" -H "Cookie: ASP.NET_SessionId=$stsid"
is "state server timeout 2m, 3m idle: lost" "$(sn_hdr X-Farm-Session)" lost
is "state server timeout: the cart is empty" "$(cart)" '[]'

for n in in1 in2 s1 s2 s3 s4 to st ss; do
  ok_if "$n still running at the end" kill -0 "${SN_PID[$n]}"
done
sn_assert_no_secrets "$T/a.config"
done_testing
