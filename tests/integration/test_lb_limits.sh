#!/usr/bin/env bash
# lb against hostile and heavy clients: a slowloris gets 408 after --timeout-header while
# others are served; oversized headers get 431, a malformed request 400, and lb keeps
# serving; 1,000 concurrent clients all get their answer.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
. "$here/lb_lib.sh"
T=$SN_TMP

# 1,000 clients need 1,000 descriptors in curl and about 2,000 in lb (a client and a
# backend connection each).
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
ok_if "ulimit -n is at least 4096 ($(ulimit -n))" test "$(ulimit -n)" -ge 4096

lb_farm 3
lb_must_start lb "${LB_NODE_ARGS[@]}" --timeout-header 1s
addr=${LB_ADDR[lb]}
host=${addr%:*} port=${addr##*:}
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }

# Raw HTTP: send bytes (printf format), print the status line of the answer (or nothing).
raw() {
  python3 - "$host" "$port" "$1" <<'EOF'
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(sys.argv[3].encode('latin-1').decode('unicode_escape').encode('latin-1'))
data = b''
try:
    while b'\r\n' not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
print(data.split(b'\r\n')[0].decode('latin-1'))
EOF
}

# --- pipelining and half-close --------------------------------------------------------------------
# Requests sent back to back on one connection are answered one by one, in order; a burst
# larger than lb's 16 KiB buffer is read as room frees up; a client that shuts its sending
# side after the last request still gets every answer, then the close.
pipeline() { # COUNT PAD -> "answers=N ok=N nodes=... eof=yes|no"
  python3 - "$host" "$port" "$1" "$2" <<'EOF'
import re, socket, sys
host, port, count, pad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.create_connection((host, port), timeout=10)
req = ("GET /whoami HTTP/1.1\r\nHost: x\r\nX-Pad: %s\r\n\r\n" % ("p" * pad)).encode()
s.sendall(req * count)
s.shutdown(socket.SHUT_WR)
data = b""
eof = "no"
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            eof = "yes"
            break
        data += chunk
except socket.timeout:
    pass
answers, nodes, ok = 0, [], 0
while True:
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        break
    head = data[:head_end]
    n = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
    answers += 1
    ok += head.startswith(b"HTTP/1.1 200 ")
    m = re.search(rb"(?i)\r\nx-farm-node: *(\S+)", head)
    nodes.append(m.group(1).decode() if m else "?")
    data = data[head_end + 4 + n:]
print("answers=%d ok=%d nodes=%s eof=%s" % (answers, ok, ",".join(nodes[:6]), eof))
EOF
}
out=$(pipeline 5 10)
is "pipelined 5 then half-close: 5 answers, all 200, in round-robin order, then the close" \
  "$(printf '%s' "$out" | sed 's/nodes=[^ ]*/nodes=/')" "answers=5 ok=5 nodes= eof=yes"
nodes=$(printf '%s' "$out" | sed -n 's/.*nodes=\([^ ]*\).*/\1/p')
ok_if "... each request went to the next node ($nodes)" \
  awk -v s="$nodes" 'BEGIN { n = split(s, a, ","); for (i = 2; i <= n; i++) if (a[i] == a[i - 1]) exit 1; exit n != 5 }'
out=$(pipeline 200 120)
is "pipelined 200 (about 30 KiB, more than lb's 16 KiB buffer): every one answered 200" \
  "$(printf '%s' "$out" | sed 's/ nodes=[^ ]*//')" "answers=200 ok=200 eof=yes"

# --- slowloris -----------------------------------------------------------------------------------
# A client that trickles a request head one byte every 100 ms (it never ends: the head is
# long). It says "started" after its first byte; it reports the answer's status line and
# when it came, relative to the first byte.
mkfifo "$T/loris.fifo"
python3 - "$host" "$port" >"$T/loris.fifo" <<'EOF' &
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
head = b"GET /whoami HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200
s.sendall(head[:1])
t0 = time.monotonic()
print("started", flush=True)
s.settimeout(0.1)
answer = b''
for b in head[1:]:
    try:
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
        break
    except socket.timeout:
        pass
    try:
        s.sendall(bytes([b]))
    except OSError:
        break
s.settimeout(5)
try:
    while b'\r\n' not in answer:
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
except OSError:
    pass
print("answer %.3f %s" % (time.monotonic() - t0, answer.split(b'\r\n')[0].decode('latin-1')), flush=True)
EOF
loris=$!
_sn_children+=("$loris")
exec {lf}<"$T/loris.fifo"
IFS= read -r -t 10 -u "$lf" line
is "slowloris: the slow client has begun its request" "$line" started
sn_req GET "http://$addr/whoami"
is "slowloris: meanwhile a normal client gets 200" "$ST" 200
ok_if "slowloris: ... without waiting (took $TIME s)" lt "$TIME" 0.5
lb_seq "http://$addr/whoami" 3
is "slowloris: ... and a keep-alive client gets three answers" "$SEQ_ST" "200 200 200"
ok_if "slowloris: the slow client is still trickling (no answer yet)" kill -0 "$loris"
IFS= read -r -t 10 -u "$lf" line
exec {lf}<&-
wait "$loris"
set -- $line
is "slowloris: lb answers 408" "${4:-} ${5:-}" "408 Request"
ok_if "slowloris: ... after --timeout-header 1s, not before (at $2 s)" ge "$2" 0.95
ok_if "slowloris: ... nor much after (at $2 s, < 1.5 s), though bytes kept coming" lt "$2" 1.5
sn_req GET "http://$addr/whoami"
is "after the slowloris lb still serves: 200" "$ST" 200

# --- oversized headers ---------------------------------------------------------------------------
big=$(head -c 20000 /dev/zero | tr '\0' a)
sn_req GET "http://$addr/whoami" -H "X-Big: $big"
is "a 20,000-byte header (limit 16,384): 431" "$ST" 431
many=()
for i in $(seq 1 400); do many+=(-H "X-Header-$i: value-$i-abcdefghijklmnopqrstuvwxyz"); done
sn_req GET "http://$addr/whoami" "${many[@]}"
is "400 headers of 50 bytes (20 kB in all): 431" "$ST" 431
sn_req GET "http://$addr/whoami" -H "X-Ok: $(head -c 8000 /dev/zero | tr '\0' a)"
is "an 8,000-byte header (under the limit): 200" "$ST" 200
sn_req GET "http://$addr/whoami"
is "after 431 lb still serves: 200" "$ST" 200

# --- malformed requests --------------------------------------------------------------------------
is "garbage instead of a request line: 400" "$(raw 'THIS IS NOT HTTP\r\n\r\n')" "HTTP/1.1 400 Bad Request"
is "a header line without a colon: 400" "$(raw 'GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n')" \
  "HTTP/1.1 400 Bad Request"
is "a bad HTTP version: 400" "$(raw 'GET / HTTP/9.Z\r\nHost: x\r\n\r\n')" "HTTP/1.1 400 Bad Request"
is "Content-Length and Transfer-Encoding both (smuggling): 400" \
  "$(raw 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')" \
  "HTTP/1.1 400 Bad Request"
is "a space before the colon: 400" "$(raw 'GET / HTTP/1.1\r\nHost : x\r\n\r\n')" "HTTP/1.1 400 Bad Request"
is "a well-formed raw request is served: 200" "$(raw 'GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n')" \
  "HTTP/1.1 200 OK"
lb_seq "http://$addr/whoami" 3
is "after the 400s lb still serves" "$SEQ_ST" "200 200 200"
lb_api lb GET /stats
ok_if "GET /stats counts the client errors (the 408, two 431s, at least four 400s)" \
  test "$(printf '%s' "$BODY" | jq -r .client_errors)" -ge 7

# --- request bodies ------------------------------------------------------------------------------
lb_must_start body "${LB_NODE_ARGS[@]}" --served-by --max-body-bytes 500000
baddr=${LB_ADDR[body]}
head -c 600000 /dev/zero | tr '\0' a >"$T/600k"
head -c 300000 /dev/zero | tr '\0' a >"$T/300k"
head -c 200000 /dev/zero | tr '\0' a >"$T/200k"
sn_req POST "http://$baddr/form" --data-binary @"$T/600k"
is "a 600,000-byte body (--max-body-bytes 500000): 413" "$ST" 413
sn_req POST "http://$baddr/form" --data-binary @"$T/300k"
like "a 300,000-byte body (under --max-body-bytes 500000) reaches a node (status $ST)" \
  "$(sn_hdr X-Farm-Node)" '^web[123]$'
sn_req POST "http://$baddr/form" -H 'Transfer-Encoding: chunked' --data-binary 'a=1&b=2'
like "a chunked request body reaches the node (it answers: ${BODY:0:60})" "$(sn_hdr X-Farm-Node)" '^web[123]$'
# The client asks for 100 Continue; lb reads the whole body before it picks a node, so it
# answers 100 itself. The node's own 100 must not reach the client as a second one, and
# what lb adds (X-Served-By, its cookie) belongs in the final answer, not in an interim one.
sn_req POST "http://$baddr/form" -H 'Expect: 100-continue' --data-binary @"$T/200k"
like "Expect: 100-continue with a 200,000-byte body: the node answers" "$(sn_hdr X-Farm-Node)" '^web[123]$'
is "Expect: 100-continue: the client sees one 100 Continue" "$(printf '%s\n' "$HDR" | grep -c '^HTTP/1.1 100')" 1
final=$(printf '%s\n' "$HDR" | awk '/^HTTP\// { head = "" } { head = head $0 "\n" } END { printf "%s", head }')
like "Expect: 100-continue: X-Served-By is in the final answer's head" \
  "$(printf '%s\n' "$final" | grep -i '^x-served-by:')" '^X-Served-By: web[123]$'
sn_req GET "http://$baddr/whoami"
is "after the bodies lb still serves: 200" "$ST" 200

# --- 1,000 concurrent clients --------------------------------------------------------------------
# A client of 1,000 connections (curl --parallel stops at 300): it opens all of them, asks
# lb's /stats how many clients it holds, then sends a request on every one at once. Every
# node answers after 500 ms, so that all 1,000 are in flight together: served one after
# another they would take over 8 minutes.
for n in web1 web2 web3; do sn_req POST "http://${SN_ADDR[$n]}/_farm/fault?spec=latency=500ms"; done
python3 - "$host" "$port" "${LB_ADMIN[lb]}" 1000 >"$T/thousand.out" 2>"$T/thousand.err" <<'EOF'
import asyncio, json, re, sys, time, urllib.request
host, port, admin, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
connected = 0
all_in = asyncio.Event()
go = asyncio.Event()
async def client(i):
    global connected
    r, w = await asyncio.open_connection(host, port)
    connected += 1
    if connected == n:
        all_in.set()
    await go.wait()
    w.write(b"GET /whoami?c=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % i)
    await w.drain()
    data = await r.read()
    w.close()
    m = re.search(rb"(?im)^x-farm-node: *(\S+)", data)
    status = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/") else "none"
    return status, m.group(1).decode() if m else "-"
async def main():
    tasks = [asyncio.create_task(client(i)) for i in range(n)]
    await asyncio.wait_for(all_in.wait(), 20)
    loop = asyncio.get_running_loop()
    # The kernel completes connections before lb accepts them: ask until lb has them all
    # (a bounded number of times).
    for _ in range(200):
        body = await loop.run_in_executor(None, lambda: urllib.request.urlopen(
            "http://%s/stats" % admin, timeout=5).read())
        held = json.loads(body)["open_clients"]
        if held >= n:
            break
    print("open_clients", held)
    t0 = time.monotonic()
    go.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    print("seconds %.2f" % (time.monotonic() - t0))
    print("ok", sum(1 for x in results if not isinstance(x, BaseException) and x[0] == "200"))
    seen = {}
    for x in results:
        k = type(x).__name__ if isinstance(x, BaseException) else x[0]
        seen[k] = seen.get(k, 0) + 1
    print("statuses", " ".join("%s=%d" % kv for kv in sorted(seen.items())))
asyncio.run(main())
EOF
rc=$?
is "1,000 concurrent clients: the client ran to the end" "$rc" 0
[ -s "$T/thousand.err" ] && tail -n 3 "$T/thousand.err" | sed 's/^/# /'
val() { awk -v k="$1" '$1 == k { print $2 }' "$T/thousand.out"; }
is "1,000 concurrent clients: lb holds all 1,000 connections at once (/stats open_clients)" \
  "$(val open_clients)" 1000
is "1,000 concurrent clients: all 1,000 answered 200 ($(grep statuses "$T/thousand.out"))" \
  "$(val ok)" 1000
ok_if "1,000 concurrent clients: done in $(val seconds) s (< 10 s: served together)" \
  lt "$(val seconds)" 10
lb_api lb GET /nodes
per=$(printf '%s' "$BODY" | jq -r '[.nodes[].responses["2xx"]] | map(tostring) | join(" ")')
ok_if "1,000 concurrent clients: each node served about a third ($per)" \
  awk -v s="$per" 'BEGIN { n = split(s, a, " "); for (i = 1; i <= n; i++) if (a[i] < 300) exit 1; exit n != 3 }'
for n in web1 web2 web3; do sn_req POST "http://${SN_ADDR[$n]}/_farm/fault?spec=clear"; done
lb_api lb GET /stats
is "after the 1,000: no client connection left open" "$(printf '%s' "$BODY" | jq -r .open_clients)" 0
sn_req GET "http://$addr/whoami"
is "after the 1,000 lb still serves: 200" "$ST" 200

# --- lb out of descriptors ------------------------------------------------------------------------
# An lb with 64 descriptors in all (hard limit too: lb raises its soft limit to the hard
# one) and 120 clients at once, each request held 500 ms by its node: lb runs out of
# descriptors for node connections. That is lb's own trouble: the clients it cannot serve
# get 503 with Retry-After, no node is marked down or blamed, and lb serves on afterwards.
# (lb used to count each failed socket() against the node: every node went down, and with
# them every request after.)
printf '#!/bin/sh\nulimit -n 64\nexec "%s" "$@"\n' "$FARM_BIN/lb" >"$T/lb-64fds"
chmod +x "$T/lb-64fds"
LB_REAL=$LB LB=$T/lb-64fds
lb_must_start lbfd "${LB_NODE_ARGS[@]}"
LB=$LB_REAL
for n in web1 web2 web3; do sn_req POST "http://${SN_ADDR[$n]}/_farm/fault?spec=latency=500ms"; done
faddr=${LB_ADDR[lbfd]}
python3 - "${faddr%:*}" "${faddr##*:}" 120 >"$T/fds.out" 2>"$T/fds.err" <<'EOF'
import asyncio, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def client(i):
    r, w = await asyncio.open_connection(host, port)
    w.write(b"GET /whoami?c=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % i)
    await w.drain()
    data = await r.read()
    w.close()
    if not data.startswith(b"HTTP/"):
        return "none"
    status = data.split(b" ", 2)[1].decode()
    if status == "503":
        status += "-retry-after" if b"\r\nRetry-After: 1\r\n" in data else "-other"
    return status
async def main():
    results = await asyncio.wait_for(
        asyncio.gather(*[client(i) for i in range(n)], return_exceptions=True), 60)
    seen = {}
    for x in results:
        k = type(x).__name__ if isinstance(x, BaseException) else x
        seen[k] = seen.get(k, 0) + 1
    print(" ".join("%s=%d" % kv for kv in sorted(seen.items())))
asyncio.run(main())
EOF
is "out of descriptors: the client ran to the end" "$?" 0
[ -s "$T/fds.err" ] && tail -n 3 "$T/fds.err" | sed 's/^/# /'
seen=$(cat "$T/fds.out")
like "out of descriptors: every client got 200 or 503 with Retry-After: 1 ($seen)" \
  "$seen" '^(200=[0-9]+ ?)?(503-retry-after=[0-9]+)?$'
like "out of descriptors: some clients were served ($seen)" "$seen" '200=[0-9]+'
lb_api lbfd GET /stats
oos=$(printf '%s' "$BODY" | jq -r .out_of_sockets_503)
ok_if "out of descriptors: /stats counts the 503s lb made for want of a socket ($oos)" \
  test "$oos" -gt 0
is "out of descriptors: none of them counted as 'no node available'" \
  "$(printf '%s' "$BODY" | jq -r .no_node_503)" 0
lb_api lbfd GET /nodes
is "out of descriptors: every node still up, none blamed (state, passive_fail)" \
  "$(printf '%s' "$BODY" | jq -c '[.nodes[] | [.state, .passive_fail]]')" \
  '[["up",0],["up",0],["up",0]]'
like "out of descriptors: lb says so in its log, once a second at most" \
  "$(grep -c 'event=out-of-sockets error="Too many open files"' "${SN_LOG[lbfd]}")" '^[1-9]$'
for n in web1 web2 web3; do sn_req POST "http://${SN_ADDR[$n]}/_farm/fault?spec=clear"; done
sn_req GET "http://$faddr/whoami"
is "out of descriptors: afterwards lb serves again: 200" "$ST" 200

lb_finish
