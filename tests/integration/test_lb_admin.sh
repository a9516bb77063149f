#!/usr/bin/env bash
# lb's admin API at the edges: the errors the HTTP server makes itself (413, 400, 431, 408)
# are JSON like the API's own, in words rather than llhttp's code names (sim-node's stay
# text); 405 says which methods a path takes (Allow); HEAD works wherever GET does; GET
# /metrics has every /stats figure in Prometheus form; an empty --admin-token is refused
# rather than leaving the API open.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
. "$here/lb_lib.sh"
T=$SN_TMP

lb_farm 1
lb_must_start a "${LB_NODE_ARGS[@]}" --timeout-header 300ms
adm=${LB_ADMIN[a]}

# raw HOST:PORT BYTES: send BYTES (printf escapes), print the answer (status line, headers,
# body) until the server closes, CRs removed.
raw() {
  python3 - "${1%:*}" "${1##*:}" "$2" <<'EOF' | tr -d '\r'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(sys.argv[3].encode().decode("unicode_escape").encode("latin-1"))
out = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
except ConnectionResetError:
    pass
sys.stdout.write(out.decode("latin-1"))
EOF
}
# Split the last raw answer into R_ST (status), R_CT (Content-Type), R_BODY.
split() {
  R_ST=$(printf '%s\n' "$1" | head -n 1 | cut -d' ' -f2)
  R_CT=$(printf '%s\n' "$1" | sed '/^$/q' | grep -i '^content-type:' | sed 's/^[^:]*: *//')
  R_BODY=$(printf '%s\n' "$1" | sed '1,/^$/d')
}
server_error() { # description want-status answer
  split "$3"
  is "$1: status $2" "$R_ST" "$2"
  like "$1: Content-Type application/json" "$R_CT" '^application/json'
  like "$1: a JSON error message" "$(printf '%s' "$R_BODY" | jq -r '.error | type' 2>/dev/null)" \
    '^string$'
  unlike "$1: no llhttp code name in it" "$R_BODY" 'HPE_'
}

# --- the server's own errors are JSON --------------------------------------------------------
big=$(head -c 70000 /dev/zero | tr '\0' a)
lb_api a POST /nodes --data "name=web9&address=127.0.0.1:1&pad=$big"
is "a 70 KB POST: 413" "$ST" 413
like "... Content-Type application/json" "$(sn_hdr Content-Type)" '^application/json'
like "... {\"error\": \"...\"}" "$(printf '%s' "$BODY" | jq -r '.error' 2>/dev/null)" 'too large'

server_error "GARBAGE (not HTTP)" 400 "$(raw "$adm" 'GARBAGE\r\n\r\n')"
like "GARBAGE: the error says what is wrong in words" "$(printf '%s' "$R_BODY" | jq -r .error)" \
  'invalid request method'
server_error "a 20 KB header" 431 \
  "$(raw "$adm" "GET /nodes HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nX-Big: $(head -c 20000 /dev/zero | tr '\0' b)\\r\\n\\r\\n")"
server_error "a request head unfinished after --timeout-header 300ms" 408 \
  "$(raw "$adm" 'GET /nodes HTTP/1.1\r\nHost: 127.0.0.1\r\n')"

# sim-node uses the same server and keeps text errors, in words too.
split "$(raw "${SN_ADDR[web1]}" 'GARBAGE\r\n\r\n')"
is "sim-node, GARBAGE: 400" "$R_ST" 400
like "sim-node, GARBAGE: still text/plain" "$R_CT" '^text/plain'
is "sim-node, GARBAGE: a line of text in words" "$R_BODY" "400 Bad Request: invalid request method"

# --- 405 says what the path takes --------------------------------------------------------------
allow() { # description method path want-allow
  lb_api a "$2" "$3"
  is "$1: 405" "$ST" 405
  is "$1: Allow: $4" "$(sn_hdr Allow)" "$4"
  like "$1: a JSON error" "$(printf '%s' "$BODY" | jq -r '.error | type' 2>/dev/null)" '^string$'
}
allow "PUT /nodes" PUT /nodes "GET, HEAD, POST"
allow "PATCH /nodes/web1" PATCH /nodes/web1 "GET, HEAD, DELETE"
allow "GET /nodes/web1/drain" GET /nodes/web1/drain "POST"
allow "POST /stats" POST /stats "GET, HEAD"
allow "DELETE /metrics" DELETE /metrics "GET, HEAD"
allow "POST /sessions/0123456789abcdef" POST /sessions/0123456789abcdef "GET, HEAD"
lb_api a POST /nope
is "POST /nope (unknown path): 404, whatever the method" "$ST" 404

# --- HEAD is GET without a body --------------------------------------------------------------
# Raw requests: an answer that carried a body anyway would show past the head.
for p in /nodes /nodes/web1 /stats /metrics /sessions /matrix /events '/events?follow=1'; do
  lb_api a GET "${p%%\?*}"
  get_ct=$(sn_hdr Content-Type)
  [ "$p" = '/events?follow=1' ] && get_ct=text/event-stream
  split "$(raw "$adm" "HEAD $p HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n")"
  is "HEAD $p: 200" "$R_ST" 200
  is "HEAD $p: GET's Content-Type" "$R_CT" "$get_ct"
  is "HEAD $p: no body" "$R_BODY" ""
done
lb_api a GET /nodes
is "after the HEADs the admin API still answers" "$ST" 200

# --- a browser page on this machine: DNS rebinding, cross-site form posts ------------------------
# It can reach the loopback port, but only under its own site's name or with its Origin.
lb_api a POST /nodes/web1/stop -H 'Host: rebind.attacker.example'
is "Host naming another site (DNS rebinding): 403" "$ST" 403
like "... JSON that says why" "$BODY" '"error":.*IP address or localhost'
lb_api a POST /nodes/web1/stop -H 'Origin: http://attacker.example'
is "a foreign Origin (a form post from a page): 403" "$ST" 403
lb_api a GET /nodes -H 'Origin: null'
is "Origin: null: 403" "$ST" 403
is "web1 was not stopped by any of them" "$(lb_node_state a web1)" up
lb_api a GET /nodes -H 'Host: localhost' -H "Origin: http://127.0.0.1:9"
is "Host localhost, Origin on 127.0.0.1: served" "$ST" 200

# --- GET /metrics says what /stats says -------------------------------------------------------
# Some traffic first: a 200, a 400 lb makes itself, a 503 with the only node stopped.
proxy=${LB_ADDR[a]}
sn_req GET "http://$proxy/whoami"
is "through the proxy: 200" "$ST" 200
split "$(raw "$proxy" 'GARBAGE\r\n\r\n')"
is "GARBAGE to the proxy: 400" "$R_ST" 400
lb_api a POST /nodes/web1/stop
sn_req GET "http://$proxy/whoami"
is "the only node stopped: 503" "$ST" 503
lb_api a POST /nodes/web1/start
lb_api a GET /stats
stats=$BODY
lb_api a GET /metrics
is "GET /metrics: 200" "$ST" 200
like "GET /metrics: Prometheus text" "$(sn_hdr Content-Type)" '^text/plain; version=0\.0\.4'
metrics=$BODY
sample() { printf '%s\n' "$metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
for pair in connections_total:.connections requests_total:.requests retries_total:.retries \
  no_node_total:.no_node_503 gateway_timeouts_total:.timeouts_504 \
  bad_gateway_total:.bad_gateway_502 client_errors_total:.client_errors \
  'responses_total{class="2xx"}:.responses["2xx"]' 'responses_total{class="4xx"}:.responses["4xx"]' \
  'responses_total{class="5xx"}:.responses["5xx"]' \
  'session_events_total{event="issued"}:.sessions.issued' sessions_tracked:.sessions.tracked; do
  want=$(jq -r "${pair#*:}" <<<"$stats")
  is "/metrics farmlb_${pair%%:*} is /stats ${pair#*:} ($want)" "$(sample "farmlb_${pair%%:*}")" "$want"
done
is "... the 503, 400 and 200 were counted (/stats)" \
  "$(jq -r '"\(.no_node_503) \(.client_errors) \(.responses["2xx"])"' <<<"$stats")" "1 1 1"
for g in farmlb_open_connections farmlb_open_backend_connections; do
  like "/metrics has the gauge $g" "$(sample "$g")" '^[0-9]+$'
done
like "/metrics farmlb_info names the listener, dispatch and affinity" \
  "$(printf '%s\n' "$metrics" | grep '^farmlb_info{')" \
  "^farmlb_info\\{listen=\"$proxy\",dispatch=\"request\",affinity=\"none\"\\} 1$"
# The format: HELP and TYPE before each family's samples, counters (only) end in _total, no
# series twice.
form=$(printf '%s\n' "$metrics" | python3 -c '
import re, sys
help_, type_, seen, bad = set(), {}, set(), []
for line in sys.stdin.read().splitlines():
    if line.startswith("# HELP "):
        help_.add(line.split()[2])
    elif line.startswith("# TYPE "):
        _, _, name, kind = line.split()
        type_[name] = kind
    elif line:
        m = re.match(r"^([a-z_]+)(\{[^}]*\})? [0-9]+$", line)
        if not m:
            bad.append("unparsed: " + line)
            continue
        name = m.group(1)
        if name not in help_ or name not in type_:
            bad.append("no HELP/TYPE before " + name)
        elif (type_[name] == "counter") != name.endswith("_total"):
            bad.append("%s is a %s" % (name, type_[name]))
        if line.rsplit(" ", 1)[0] in seen:
            bad.append("twice: " + line)
        seen.add(line.rsplit(" ", 1)[0])
print("; ".join(bad))')
is "/metrics: HELP and TYPE for every family, _total on counters only, no series twice" "$form" ""

# --- an empty token is refused ---------------------------------------------------------------
timeout 10 "$LB" --listen 127.0.0.1:0 --admin-token '' "${LB_NODE_ARGS[@]}" >"$T/tok.out" 2>&1
is "--admin-token '': exit 2" "$?" 2
like "--admin-token '': says the token is empty" "$(cat "$T/tok.out")" '--admin-token: empty'
unlike "--admin-token '': never ready" "$(cat "$T/tok.out")" 'event=ready'
printf 'listen = 127.0.0.1:0\nnode = web1=%s\nadmin-token =\n' "${SN_ADDR[web1]}" >"$T/tok.ini"
timeout 10 "$LB" --config "$T/tok.ini" >"$T/tok.out" 2>&1
is "admin-token = (empty) in --config: exit 2" "$?" 2
like "... with file:line" "$(cat "$T/tok.out")" 'tok\.ini:3: --admin-token: empty'

lb_finish
