#!/usr/bin/env bash
# sim-node's HTTP/1.1 layer as a client sees it: keep-alive, pipelining, chunked bodies,
# the limits (431, 413, 408, 400) with the node serving others afterwards; SIGTERM with a
# request in flight; SIGHUP re-reading the machine key.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
T=$SN_TMP
# The node may close a connection before we have written everything (that is the point of
# some of these tests): a write error, not a reason for the script to die.
trap '' PIPE

sn_keygen "$T/a.config"
sn_keygen "$T/b.config"
cp "$T/a.config" "$T/live.config"

sn_must_start web --name web --machine-key "$T/live.config" --max-header-bytes 4096 \
  --max-body-bytes 1000 --header-timeout 1s --idle-timeout 1s
addr=${SN_ADDR[web]}
host=${addr%:*}
port=${addr##*:}

# Still serving? A plain request after each abuse.
still_serves() {
  sn_req GET "http://$addr/whoami"
  is "$1: the node still serves /whoami (200)" "$ST" 200
  is "$1: ... as web" "$(sn_hdr X-Farm-Node)" web
}

# Send raw bytes on a fresh connection; RAW gets everything the node sends until it closes
# (or 5 s pass). Keeps a copy for the secrets check.
raw() {
  local fd
  _sn_n=$((_sn_n + 1))
  exec {fd}<>"/dev/tcp/$host/$port"
  printf '%b' "$1" 2>/dev/null 1>&"$fd"
  RAW=$(timeout 5 cat <&"$fd" 2>/dev/null | tr -d '\r')
  exec {fd}<&-
  printf '%s' "$RAW" >"$SN_CAP/$_sn_n.raw"
}

# --- the basics -------------------------------------------------------------------------------
sn_req GET "http://$addr/health"
is "/health: 200" "$ST" 200
is "/health: ok" "$BODY" ok
sn_req GET "http://$addr/whoami"
is "/whoami: JSON by default" "$(sn_hdr Content-Type)" application/json
for h in X-Farm-Node X-Farm-Ticket X-Farm-Key X-Farm-Session; do
  like "/whoami carries $h" "$(sn_hdr "$h")" '.'
done
sn_req GET "http://$addr/" -H 'Accept: text/html,application/xhtml+xml'
like "/ for a browser: an HTML page" "$(sn_hdr Content-Type)" '^text/html'
raw 'HEAD /whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
like "HEAD /whoami: 200" "$RAW" '^HTTP/1.1 200 OK'
like "HEAD /whoami: the GET's Content-Length" "$RAW" 'Content-Length: [1-9][0-9]*'
is "HEAD /whoami: no body after the head" "$(printf '%s' "$RAW" | sed '1,/^$/d')" ""
sn_req GET "http://$addr/nowhere"
is "unknown path: 404" "$ST" 404
sn_req DELETE "http://$addr/account"
is "known path, wrong method: 405" "$ST" 405
sn_req POST "http://$addr/_farm/nothing"
is "unknown /_farm path: 404" "$ST" 404

# --- keep-alive ------------------------------------------------------------------------------
out=$(curl -sS --max-time 10 -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
  "http://$addr/whoami" "http://$addr/health")
is "keep-alive: two requests with curl, one connection" "$(printf '%s' "$out" | tr '\n' ' ')" \
  "200 1 200 0"

# An idle keep-alive connection is closed after --idle-timeout (1s here).
t0=$SECONDS
raw 'GET /health HTTP/1.1\r\nHost: t\r\n\r\n'
like "idle keep-alive: the answer came" "$RAW" '^HTTP/1.1 200 OK'
unlike "idle keep-alive: the answer kept the connection open" "$RAW" 'Connection: close'
ok_if "idle keep-alive: then the node closed it (within 4 s, not the 5 s timeout)" \
  test $((SECONDS - t0)) -le 3

# --- pipelining ------------------------------------------------------------------------------
raw 'GET /login?user=p1 HTTP/1.1\r\nHost: t\r\n\r\nGET /login?user=p2 HTTP/1.1\r\nHost: t\r\n\r\nGET /login?user=p3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
is "pipelining: three answers to three requests in one write" \
  "$(printf '%s\n' "$RAW" | grep -c '^HTTP/1.1 200 OK$')" 3
is "pipelining: answered in order" \
  "$(printf '%s\n' "$RAW" | grep -o '"logged_in":"p[0-9]"' | cut -d'"' -f4 | tr '\n' ' ')" "p1 p2 p3 "
like "pipelining: the last answer closes" "$RAW" 'Connection: close'

# A pipelined POST with a body in between.
raw 'GET /health HTTP/1.1\r\nHost: t\r\n\r\nPOST /cart/add?item=x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /login?user=after HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'
is "pipelining with a body in between: three answers" "$(printf '%s\n' "$RAW" | grep -c '^HTTP/1.1 ')" 3
like "pipelining with a body: the request after the body is parsed" "$RAW" '"logged_in":"after"'

# --- chunked request body ----------------------------------------------------------------------
sn_req GET "http://$addr/form"
vs=$(printf '%s' "$BODY" | grep -o 'id="__VIEWSTATE" value="[^"]*"' | sed 's/.*value="//; s/"$//')
sn_req POST "http://$addr/form" -H 'Transfer-Encoding: chunked' --data-urlencode "__VIEWSTATE=$vs"
is "chunked POST /form: 200" "$ST" 200
is "chunked POST /form: the ViewState in the chunked body validates" \
  "$(printf '%s' "$BODY" | jq -r .viewstate)" valid
raw 'POST /form HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n5\r\nother\r\n3\r\n=1&\r\n0\r\n\r\n'
like "hand-made chunked body without __VIEWSTATE: 400 from the form" "$RAW" '^HTTP/1.1 400 '
like "... said by the page, not the parser" "$RAW" 'No __VIEWSTATE field was posted'

# --- limits ----------------------------------------------------------------------------------
big=$(head -c 8000 /dev/zero | tr '\0' a)
sn_req GET "http://$addr/whoami" -H "X-Big: $big"
is "an 8000-byte header with --max-header-bytes 4096: 431" "$ST" 431
still_serves "after 431"
sn_req GET "http://$addr/whoami" -H "X-Ok: ${big:0:1000}"
is "a 1000-byte header: 200" "$ST" 200

head -c 5000 /dev/zero | tr '\0' a >"$T/body5000"
sn_req POST "http://$addr/form" --data-binary @"$T/body5000"
is "a 5000-byte body with --max-body-bytes 1000: 413" "$ST" 413
still_serves "after 413 (Content-Length)"
sn_req POST "http://$addr/form" -H 'Transfer-Encoding: chunked' --data-binary @"$T/body5000"
is "a 5000-byte chunked body: 413" "$ST" 413
still_serves "after 413 (chunked)"
head -c 900 /dev/zero | tr '\0' a >"$T/body900"
sn_req POST "http://$addr/form" --data-binary @"$T/body900"
is "a 900-byte body within the limit reaches the page (400: no __VIEWSTATE)" "$ST" 400

# Header timeout: half a request, then nothing. 408 after --header-timeout 1s.
exec {hfd}<>"/dev/tcp/$host/$port"
printf 'GET /whoami HTTP/1.1\r\nHost: t\r\n' >&"$hfd"
t0=$SECONDS
line=
IFS= read -r -t 10 -u "$hfd" line
line=${line%$'\r'}
is "a request head left unfinished: 408" "$line" "HTTP/1.1 408 Request Timeout"
ok_if "... within a few seconds" test $((SECONDS - t0)) -le 5
rest=$(timeout 5 cat <&"$hfd" | tr -d '\r')
like "... and the connection is closed" "$rest" 'Connection: close'
exec {hfd}<&-
still_serves "after 408"

# Malformed requests: 400, connection closed, node unharmed.
raw 'BLAH\r\n\r\n'
like "a request line that is not HTTP: 400" "$RAW" '^HTTP/1.1 400 '
raw 'GET /whoami HTTP/1.1\r\nHost t\r\n\r\n'
like "a header line without a colon: 400" "$RAW" '^HTTP/1.1 400 '
raw 'GET /whoami HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello'
like "two different Content-Lengths: 400" "$RAW" '^HTTP/1.1 400 '
raw 'POST /form HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'
like "a chunk size that is not hex: 400" "$RAW" '^HTTP/1.1 400 '
still_serves "after 400s"
exec {gfd}<>"/dev/tcp/$host/$port"
head -c 4096 /dev/urandom 2>/dev/null 1>&"$gfd"
timeout 5 cat <&"$gfd" >/dev/null 2>&1
exec {gfd}<&-
still_serves "after 4 KiB of random bytes"
exec {efd}<>"/dev/tcp/$host/$port"
exec {efd}<&-
still_serves "after a connection closed without a request"

# --- SIGHUP: rekey without restart -----------------------------------------------------------
sn_req GET "http://$addr/login?user=hup"
old_ticket=$(sn_cookie .ASPXAUTH)
old_key=$(sn_hdr X-Farm-Key)
cp "$T/b.config" "$T/live.config"
kill -HUP "${SN_PID[web]}"
ok_if "SIGHUP: the node logs event=rekey" sn_wait_log web 'event=rekey key='
sn_req GET "http://$addr/whoami" -H "Cookie: .ASPXAUTH=$old_ticket"
new_key=$(sn_hdr X-Farm-Key)
like "after rekey: X-Farm-Key is a fingerprint" "$new_key" '^v=[0-9a-f]{8} '
unlike "after rekey: X-Farm-Key changed" "$new_key" "^${old_key}\$"
is "after rekey: the old ticket is mac-mismatch" "$(sn_hdr X-Farm-Ticket)" mac-mismatch
like "the rekey log line names the new fingerprint" "$(grep 'event=rekey' "${SN_LOG[web]}")" \
  "key=\"$new_key\""
sn_req GET "http://$addr/login?user=hup2"
t2=$(sn_cookie .ASPXAUTH)
out=$("$FARMCTL" ticket decode --machine-key "$T/b.config" --json "$t2")
is "after rekey: new tickets are under the new keys (farmctl)" "$(printf '%s' "$out" | jq -r .status)" valid
echo '<machineKey validationKey="nothex" />' >"$T/live.config"
kill -HUP "${SN_PID[web]}"
ok_if "SIGHUP with a broken key file: event=rekey-failed" sn_wait_log web 'event=rekey-failed.*keys=unchanged'
sn_req GET "http://$addr/whoami" -H "Cookie: .ASPXAUTH=$t2"
is "after a failed rekey: the keys are unchanged" "$(sn_hdr X-Farm-Key)" "$new_key"
is "after a failed rekey: tickets still valid" "$(sn_hdr X-Farm-Ticket)" valid
cp "$T/b.config" "$T/live.config"

# --- SIGTERM: finish what is in flight, exit 0 --------------------------------------------------
sn_stop web
is "SIGTERM: exit status 0" "${SN_RC[web]}" 0
like "SIGTERM: logged stopping and stopped" "$(grep -o 'event=stop[a-z]*' "${SN_LOG[web]}" | tr '\n' ' ')" \
  'event=stopping event=stopped'

sn_must_start slow --name slow --machine-key "$T/a.config" --fault latency=1s
saddr=${SN_ADDR[slow]}
requests() { curl -sS --max-time 5 "http://$saddr/_farm/info" | jq -r .counters.requests; }
base=$(requests)
curl -sS --max-time 10 -D "$T/inflight.head" -o "$T/inflight.body" "http://$saddr/login?user=late" \
  2>"$T/inflight.err" &
inflight=$!
# Wait (no sleep) until the node has taken the request: each poll counts itself.
polls=0 seen=0 deadline=$((SECONDS + 5))
while [ "$SECONDS" -le "$deadline" ]; do
  polls=$((polls + 1))
  v=$(requests)
  if [ $((v - base - polls)) -ge 1 ]; then seen=1; break; fi
done
is "SIGTERM in flight: the node took the delayed request" "$seen" 1
kill -TERM "${SN_PID[slow]}"
ok_if "SIGTERM in flight: the node logs stopping" sn_wait_log slow 'event=stopping signal=15'
curl -sS --max-time 5 -o /dev/null "http://$saddr/health" 2>/dev/null
is "SIGTERM in flight: new connections are refused (curl exit 7)" "$?" 7
wait "$inflight"
is "SIGTERM in flight: the delayed request completes (curl exit 0)" "$?" 0
like "SIGTERM in flight: ... with 200" "$(head -n 1 "$T/inflight.head")" '^HTTP/1.1 200 '
like "SIGTERM in flight: ... and Connection: close" "$(tr -d '\r' <"$T/inflight.head")" 'Connection: close'
is "SIGTERM in flight: ... the answer is whole" "$(jq -r .logged_in "$T/inflight.body")" late
cp "$T/inflight.head" "$SN_CAP/inflight.head"
cp "$T/inflight.body" "$SN_CAP/inflight.body"
sn_wait_exit slow
is "SIGTERM in flight: then exit 0" "${SN_RC[slow]}" 0

# --- start-up errors ----------------------------------------------------------------------------
"$SIMNODE" --listen 127.0.0.1:0 >/dev/null 2>&1
is "no --machine-key: exit 2" "$?" 2
"$SIMNODE" --listen 127.0.0.1:0 --machine-key "$T/nonexistent.config" 2>"$T/startfail.log" >&2
is "an unreadable key file: exit 1" "$?" 1
"$SIMNODE" --listen 127.0.0.1:0 --machine-key "$T/a.config" --session-timeout soon >/dev/null 2>&1
is "a bad duration: exit 2" "$?" 2
out=$("$SIMNODE" --help); rc=$?
is "--help: exit 0" "$rc" 0
like "--help: usage" "$out" '^usage: sim-node'

# --- out of descriptors --------------------------------------------------------------------------
# A node at its descriptor limit pauses accepting instead of spinning on the listener (a
# level-triggered watcher fires again at once), and serves again once descriptors are free.
printf '#!/bin/sh\nulimit -n 40\nexec "%s" "$@"\n' "$FARM_BIN/sim-node" >"$T/sim-node-40fds"
chmod +x "$T/sim-node-40fds"
SIMNODE=$T/sim-node-40fds sn_must_start fds --name fds --machine-key "$T/a.config"
fds_out=$(python3 - "${SN_ADDR[fds]}" "${SN_PID[fds]}" <<'EOF2'
import socket, sys
host, port = sys.argv[1].rsplit(':', 1)
pid = sys.argv[2]
def cpu():
    f = open('/proc/%s/stat' % pid).read().rsplit(')', 1)[1].split()
    return (int(f[11]) + int(f[12])) / 100.0
held = [socket.create_connection((host, int(port))) for _ in range(60)]
before = cpu()
# A request the node cannot take: it waits in the backlog; one second of the node's life.
s = socket.create_connection((host, int(port)), timeout=1)
s.sendall(b'GET /health HTTP/1.1\r\nHost: a\r\n\r\n')
try:
    answered = bool(s.recv(100))
except socket.timeout:
    answered = False
spent = cpu() - before
for h in held:
    h.close()
# Descriptors free again: the waiting request is accepted and answered.
s.settimeout(5)
try:
    late = s.recv(100).split(b' ')[1].decode()
except Exception as e:
    late = type(e).__name__
print('cpu=%.2f late=%s' % (spent, late))
EOF2
)
like "at its descriptor limit the node does not spin on its listener ($fds_out)" \
  "$fds_out" '^cpu=0\.[0-2][0-9] '
like "... and answers the waiting request once descriptors are free" "$fds_out" 'late=200$'

sn_assert_no_secrets "$T/a.config" "$T/b.config"
done_testing
