#!/usr/bin/env bash
# lb's event stream, GET /events?follow=1 (Server-Sent Events): its head has one
# Cache-Control; a weight change is an event (node-weight); a reconnect with Last-Event-ID
# resumes after that id, and one older than the ring says what was lost (event: gap); a
# follower that stops reading while thousands of events go by loses none silently: when it
# reads again, ids follow one another or a gap event names the ones it missed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
. "$here/lb_lib.sh"
T=$SN_TMP

# A long node name makes every event bigger, so that a stalled follower's queue fills sooner.
node=web1-named-long-to-fill-queues
sn_keygen "$T/farm.config"
sn_must_start web1 --name web1 --machine-key "$T/farm.config"
lb_must_start lb --node "$node=${SN_ADDR[web1]}" --health-path ''
adm=${LB_ADMIN[lb]}

newest() { # the newest event's id, from GET /events
  lb_api lb GET /events
  printf '%s' "$BODY" | jq -r '[.events[].seq] | max // 0'
}
# flood N: N node-state events, made by stopping and starting the node on one keep-alive
# connection (pipelined, 500 requests per write).
flood() {
  python3 - "${adm%:*}" "${adm##*:}" "$node" "$1" <<'EOF'
import socket, sys
host, port, node, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.create_connection((host, port), timeout=30)
done = 0
while done < n:
    k = min(500, n - done)
    reqs = "".join("POST /nodes/%s/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                   % (node, "stop" if (done + i) % 2 == 0 else "start") for i in range(k))
    s.sendall(reqs.encode())
    got, data = 0, b""
    while got < k:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise SystemExit("flood: the admin API closed the connection")
        data += chunk
        got = data.count(b"HTTP/1.1 200 ")
    done += k
EOF
}
# follow NAME [sse_follow args]: start a follower in the background; its stdin is a fifo
# (for --pause), its output $T/NAME.out; wait for its ready line.
follow() {
  local name=$1; shift
  mkfifo "$T/$name.in"
  python3 "$here/sse_follow.py" "$adm" "$@" <"$T/$name.in" >"$T/$name.out" 2>&1 &
  _sn_children+=("$!")
  FOLLOW_PID=$!
  exec {FOLLOW_IN}>"$T/$name.in"
  SN_LOG[$name]=$T/$name.out
  LB_MARK[$name]=0
  lb_wait_after "$name" '^sse event=ready' 10 || sn_bail "follower $name is not ready"
}
# finish NAME: let the follower go on (if paused), wait for it, read its summary into F_*.
finish() {
  printf 'go\n' >&"$FOLLOW_IN"
  exec {FOLLOW_IN}>&-
  wait "$FOLLOW_PID"
  local k v
  while IFS='=' read -r k v; do
    case $k in
      head_cache_control | first | first_kind | last | last_kind | count | gaps | silent | bad)
        printf -v "F_$k" '%s' "$v"
        ;;
    esac
  done <"$T/$1.out"
}

# --- one Cache-Control in the stream's head ---------------------------------------------------
curl -sS -N --max-time 1 -D "$T/sse.head" "http://$adm/events?follow=1" -o /dev/null 2>/dev/null
is "events?follow=1: one Cache-Control header" \
  "$(tr -d '\r' <"$T/sse.head" | grep -ci '^cache-control:')" 1
is "events?follow=1: it says no-store, as every admin answer" \
  "$(tr -d '\r' <"$T/sse.head" | grep -i '^cache-control:' | sed 's/^[^:]*: *//')" no-store
like "events?follow=1: text/event-stream" \
  "$(tr -d '\r' <"$T/sse.head" | grep -i '^content-type:')" 'text/event-stream'

# --- a weight change is an event -----------------------------------------------------------------
lb_api lb POST "/nodes/$node/weight?w=3"
is "POST weight?w=3: 200" "$ST" 200
lb_api lb GET /events
w=$(printf '%s' "$BODY" | jq -c '[.events[] | select(.kind == "node-weight")] | last // {}')
is "GET /events: a node-weight event for the node" "$(jq -r .node <<<"$w")" "$node"
is "node-weight: weight 3, previous 1" "$(jq -r '"\(.weight) \(.previous)"' <<<"$w")" "3 1"
is "node-weight: reason admin" "$(jq -r .reason <<<"$w")" admin
lb_api lb POST "/nodes/$node/weight?w=3"
lb_api lb GET /events
is "the same weight again: no second node-weight event" \
  "$(printf '%s' "$BODY" | jq '[.events[] | select(.kind == "node-weight")] | length')" 1

# A follower sees it as it happens.
n0=$(newest)
follow live --until $((n0 + 1))
lb_api lb POST "/nodes/$node/weight?w=1"
finish live
is "events?follow=1: the weight change arrives live as event: node-weight (id $((n0 + 1)))" \
  "$F_last_kind $F_last" "node-weight $((n0 + 1))"

# --- Last-Event-ID -------------------------------------------------------------------------------
flood 10
n1=$(newest)
ok_if "events to resume in (newest id $n1)" test "$n1" -gt 10
follow resume --last-event-id 7 --until "$n1"
finish resume
is "Last-Event-ID: 7: the replay starts at id 8" "$F_first" 8
is "Last-Event-ID: 7: ... and ends at the newest, $n1" "$F_last" "$n1"
is "Last-Event-ID: 7: $((n1 - 7)) events, none missing" "$F_count $F_silent$F_gaps" "$((n1 - 7)) "
follow fresh --until "$n1"
finish fresh
is "no Last-Event-ID: everything kept, from id 1" "$F_first $F_last $F_silent" "1 $n1 "

# --- a follower that stops reading ---------------------------------------------------------------
# It reads nothing while 40,000 events (over 7 MB of stream) go by: more than the socket
# buffers (lb's may grow to 4 MB), lb's 1 MiB queue and one more batch hold, so that lb must
# refuse to queue more while the ring of 4096 moves on.
follow stalled --rcvbuf 4096 --pause --until $((n1 + 40000))
flood 40000
n2=$(newest)
is "40,000 more events (newest id $n2)" "$n2" $((n1 + 40000))
finish stalled
is "the stalled follower, reading again, gets to the newest event" "$F_last" "$n2"
is "... with no id missing unannounced (silent: ids neither sent nor in a gap event)" \
  "$F_silent" ""
is "... every data line is JSON with the event's id as seq" "$F_bad" 0
like "... the ones it missed are announced (gaps: ${F_gaps:-none})" "$F_gaps" '^[0-9]+-[0-9]+'
is "... the stream's head had one Cache-Control" "$F_head_cache_control" 1

# Last-Event-ID older than the ring: a gap from it to the oldest kept, then the kept ones.
follow old --last-event-id 5 --until "$n2"
finish old
is "Last-Event-ID: 5, long gone: the stream starts with event: gap" "$F_first_kind $F_first" "gap 6"
is "... the gap ends right before the oldest kept event, then all 4096 kept" \
  "$F_gaps $F_count $F_last $F_silent" "6-$((n2 - 4096)) 4096 $n2 "
# An id from an earlier run of lb (ahead of the newest): replay what is kept.
follow ahead --last-event-id $((n2 + 1000)) --until "$n2"
finish ahead
is "Last-Event-ID ahead of the newest (lb restarted): what is kept, without a gap" \
  "$F_first $F_last $F_gaps" "$((n2 - 4095)) $n2 "

lb_finish
