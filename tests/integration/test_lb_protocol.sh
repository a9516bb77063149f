#!/usr/bin/env bash
# lb and the edges of HTTP/1.1: a CONNECT is refused and leaves nothing behind for the next
# client; a request that asks to upgrade is served as plain HTTP; obsolete line folding, HTTP/0.9 and HTTP/2.0 request lines are refused; answers
# without a body (204, 304) do not stall; an error in the second request of a keep-alive
# connection still gets its answer; the headers lb adds fit on a large answer; a node that
# sends stray bytes after its answer loses its own connection, not the client's; every
# request has an access log line, including answers cut short.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
. "$here/lb_lib.sh"
T=$SN_TMP

# The misbehaving node, with its ready line.
sn_helper rawnode python3 "$here/rawnode.py"
raw_addr=${SN_READY[rawnode]##*listen=}
like "rawnode is ready" "$raw_addr" '^127\.0\.0\.1:[0-9]+$'

lb_must_start lb --node raw="$raw_addr" --health-path '' --served-by \
  --access-log "$T/access.log" --timeout-server 5s --max-header-bytes 4096
addr=${LB_ADDR[lb]}
host=${addr%:*} port=${addr##*:}

# send BYTES [CONNECTIONS...]: each argument is one connection's bytes (printf escapes);
# prints, per connection, the status lines of every answer, then "|".
send() {
  python3 - "$host" "$port" "$@" <<'EOF'
import re, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
out = []
for raw in sys.argv[3:]:
    s = socket.create_connection((host, port), timeout=8)
    s.sendall(raw.encode('latin-1').decode('unicode_escape').encode('latin-1'))
    s.shutdown(socket.SHUT_WR)
    data = b''
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        data += b'\r\nTIMEOUT 000\r\n'
    # Walk the answers: status line, head, a body of Content-Length bytes (none for 204/304).
    statuses = []
    while data.startswith(b'HTTP/1.'):
        head, sep, rest = data.partition(b'\r\n\r\n')
        if not sep:
            break
        status = head.split(b' ', 2)[1].decode()
        statuses.append(status)
        m = re.search(rb'(?i)\r\ncontent-length: *(\d+)', head)
        n = int(m.group(1)) if m and status not in ('204', '304') else 0
        data = rest[n:]
    if data.startswith(b'\r\nTIMEOUT'):
        statuses.append('000')
    out.append(' '.join(statuses))
print('|'.join(out))
EOF
}

# --- CONNECT: refused, and the next client is not hurt ---------------------------------------
is "CONNECT gets 501" "$(send 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: a\r\n\r\n')" "501"
victims=''
for i in 1 2 3 4 5 6 7 8 9 10; do
  victims="$victims$(send 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: a\r\n\r\n' \
    'GET /x HTTP/1.1\r\nHost: a\r\n\r\n') "
done
is "after a CONNECT, the next client's GET is answered 200 (10 of 10)" \
  "$(echo "$victims" | tr ' ' '\n' | grep -c '^501|200$')" 10

# --- Upgrade (WebSocket, h2c): served as the plain HTTP requests they also are ----------------
# lb tunnels no other protocol. It leaves the upgrade out of what it sends on (the node sees
# Upgrade without "upgrade" in Connection, and ignores it), and the client's connection
# stays HTTP: its next request is a request (it used to get 400, curl --http2's second
# request included, as that sends Upgrade: h2c on each).
ws='GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
is "a WebSocket handshake, then a GET on the same connection: both answered 200" \
  "$(send "${ws}GET /x HTTP/1.1\r\nHost: a\r\n\r\n")" "200 200"
is "curl --http2 (Upgrade: h2c on each request), two requests on one connection: 200 200" \
  "$(curl -s -o /dev/null -o /dev/null -w '%{http_code} ' --http2 "http://$addr/x" "http://$addr/x")" "200 200 "
fwd=$(curl -s "http://$addr/head" -H 'Connection: keep-alive, Upgrade' -H 'Upgrade: websocket')
unlike "the node is not asked to upgrade: no Connection: ... upgrade line reaches it" \
  "$fwd" '[Cc]onnection:.*[Uu]pgrade'
like "the Upgrade header itself is passed on as it came" "$fwd" 'Upgrade: websocket'
is "a node that switches protocols anyway (101): 502, lb tunnels nothing" \
  "$(send 'GET /101 HTTP/1.1\r\nHost: a\r\n\r\n')" "502"
is "after the 101, lb serves on: 200" "$(send 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n')" "200"

# --- request lines and headers lb refuses -------------------------------------------------------
is "HTTP/0.9 request line: 505" "$(send 'GET /\r\n\r\n')" "505"
is "HTTP/2.0 request line: 505" "$(send 'GET / HTTP/2.0\r\nHost: a\r\n\r\n')" "505"
is "HTTP/1.0 is served" "$(send 'GET /x HTTP/1.0\r\n\r\n')" "200"
is "obs-fold before a Transfer-Encoding value: 400" \
  "$(send 'POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n')" \
  "400"
is "obs-fold inside a header value: 400" \
  "$(send 'GET /a HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\n')" "400"

# --- answers without a body ---------------------------------------------------------------------
start=$(date +%s.%N)
is "304 and 204 with a Content-Length, then another request: all answered" \
  "$(send 'GET /304 HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n')" \
  "304 204 200"
end=$(date +%s.%N)
ok_if "... in well under --timeout-server (5 s)" awk -v a="$start" -v b="$end" 'BEGIN { exit !(b - a < 2) }'

# --- errors in a later request of a keep-alive connection ---------------------------------------
is "keep-alive: a good request, then garbage: 200 then 400" \
  "$(send 'GET /x HTTP/1.1\r\nHost: a\r\n\r\nGARBAGE\r\n\r\n')" "200 400"
big_header=$(head -c 6000 /dev/zero | tr '\0' 'h')
is "keep-alive: a good request, then an oversized head: 200 then 431" \
  "$(send "GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nX-Big: $big_header\r\n\r\n")" "200 431"

# --- an lb-made answer survives a client that is still sending -------------------------------
# A 3 MB upload past --max-body-bytes (1 MiB): lb answers 413 at once; the client is still
# sending. lb reads and drops the rest before it closes, so no reset destroys the 413.
upload() {
  python3 - "$host" "$port" <<'EOF2'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=8)
s.sendall(b'POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 3000000\r\n\r\n')
data = b''
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
# The answer and lb's end of the stream are in. Now the body the client was sending: lb
# must still be reading it (a closed socket would answer with a reset).
sent = 0
try:
    for i in range(10):
        s.sendall(b'x' * 65536)
        sent += 1
except OSError as e:
    pass
print('%s+sent%d' % (data.split(b'\r\n')[0].decode('latin-1').split(' ')[1] if data else '-', sent))
EOF2
}
got=''
for i in 1 2 3; do got="$got$(upload) "; done
is "a 3 MB upload past the body limit: 413, and lb reads on, dropping the body (3 of 3)" "$got" \
  "413+sent10 413+sent10 413+sent10 "

# --- the headers lb adds, on a large answer ------------------------------------------------------
sn_req GET "http://$addr/big" -H 'Connection: close'
is "a 20,000-byte answer comes whole" "$(printf '%s' "$BODY" | wc -c)" 20000
like "... with X-Served-By" "$HDR" '(^|[[:space:]])X-Served-By: raw'
like "... and Connection: close, as the client asked" "$HDR" '[Cc]onnection: close'

# --- stray bytes after an answer ----------------------------------------------------------------
is "stray bytes after the node's answer: the client's next request is still answered" \
  "$(send 'GET /stray HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n')" "200 200"

# --- sim-node's control endpoints stay off lb's listener ---------------------------------------
# They trust a loopback peer, and behind lb the peer is lb: any client could crash a node.
is "POST /_farm/fault through lb: 403" "$(send 'POST /_farm/fault?spec=crash HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n')" "403"
is "GET /_farm/clock?set=... through lb: 403" "$(send 'GET /_farm/clock?set=2000-01-01T00:00:00Z HTTP/1.1\r\nHost: a\r\n\r\n')" "403"
is "GET /_farm/info through lb is served" "$(send 'GET /_farm/info HTTP/1.1\r\nHost: a\r\n\r\n')" "200"

# --- the access log ---------------------------------------------------------------------------
send 'GET /cut HTTP/1.1\r\nHost: a\r\n\r\n' >/dev/null
log=$(cat "$T/access.log")
like "an answer the node cut short has its line, end=node-closed" "$log" 'path=/cut .*status=200 .*end=node-closed'
like "an lb-made 400 has its line, without a stale method or path" "$log" \
  'method=- path=- node=- why=none tried=- status=400 .*total_ms=[0-9]+\.[0-9] '
unlike "no total_ms from an unset start" "$log" 'total_ms=[0-9]{7,}'
is "every access log line is one line (no CR inside)" "$(grep -c $'\r' "$T/access.log")" 0
like "the CONNECT has its line: 501" "$log" 'status=501'

lb_finish
