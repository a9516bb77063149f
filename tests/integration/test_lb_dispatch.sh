#!/usr/bin/env bash
# lb dispatch: round robin per request (also inside one keep-alive connection) and per
# connection; weights changed at run time; NLB affinity single and network keep a client on
# one node, and a membership change moves only the clients of the node that left.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
. "$here/lb_lib.sh"

lb_farm 3

# Every address of 127.0.0.0/8 is local on Linux; curl --interface IP makes a client of it.
ok_if "curl can use 127.0.0.2 as a source address" \
  curl -sS --max-time 5 -o /dev/null --interface 127.0.0.2 "http://${SN_ADDR[web1]}/health"

# --- round robin per request ---------------------------------------------------------------
lb_must_start rr "${LB_NODE_ARGS[@]}"
rr=${LB_ADDR[rr]}
lb_seq "http://$rr/whoami" 9
is "request dispatch: 9 requests all 200" "$SEQ_ST" "200 200 200 200 200 200 200 200 200"
is "request dispatch: curl used one keep-alive connection for all 9" "$SEQ_CONNS" 1
is "request dispatch: every request hops, web1 web2 web3 in turn within the connection" \
  "$SEQ" "web1 web2 web3 web1 web2 web3 web1 web2 web3"
got=
for i in 1 2 3 4 5 6; do got="$got${got:+ }$(lb_node_of "http://$rr/whoami")"; done
is "request dispatch: the rotation goes on over new connections" \
  "$got" "web1 web2 web3 web1 web2 web3"
lb_api rr GET /nodes/web2
is "GET /nodes/web2 counts its requests (5 of 15)" "$(printf '%s' "$BODY" | jq .requests)" 5
lb_api rr GET /nodes
is "keep-alive to the nodes: 15 requests over 7 client connections used one backend connection per node" \
  "$(printf '%s' "$BODY" | jq -r '[.nodes[].connections] | map(tostring) | join(" ")')" "1 1 1"

# --- weights at run time -----------------------------------------------------------------
lb_api rr POST '/nodes/web1/weight?w=2'
is "POST /nodes/web1/weight?w=2: 200" "$ST" 200
is "the answer shows weight 2" "$(printf '%s' "$BODY" | jq .weight)" 2
lb_api rr POST '/nodes/web3/weight?w=0'
is "POST /nodes/web3/weight?w=0: 200" "$ST" 200
lb_seq "http://$rr/whoami" 9
is "weights 2:1:0: web1 twice as often as web2, web3 never" \
  "$(tr ' ' '\n' <<<"$SEQ" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')" "web1=6 web2=3 "
unlike "weights 2:1:0: web1 never three times in a row (smooth)" "$SEQ" 'web1 web1 web1'
lb_api rr POST '/nodes/web1/weight?w=1'
lb_api rr POST '/nodes/web3/weight?w=1'
lb_seq "http://$rr/whoami" 6
is "weights back to 1:1:1: each node twice in 6" \
  "$(tr ' ' '\n' <<<"$SEQ" | sort | uniq -c | awk '{printf "%s=%s ", $2, $1}')" \
  "web1=2 web2=2 web3=2 "

# --- per connection ------------------------------------------------------------------------
lb_must_start conn "${LB_NODE_ARGS[@]}" --dispatch connection
conn=${LB_ADDR[conn]}
like "ready line says dispatch=connection" "$(grep 'role=proxy' "${SN_LOG[conn]}")" 'dispatch=connection'
seen=
stuck=0
for i in $(seq 1 24); do
  lb_seq "http://$conn/whoami" 4
  set -- $SEQ
  if [ "$SEQ_CONNS" = 1 ] && [ "$SEQ_ST" = "200 200 200 200" ] && [ "$1" != - ] &&
     [ "$SEQ" = "$1 $1 $1 $1" ]; then
    stuck=$((stuck + 1))
  else
    echo "# connection $i: $SEQ ($SEQ_ST, $SEQ_CONNS connections)"
  fi
  seen="$seen $1"
done
is "connection dispatch: each of 24 keep-alive connections stays on one node (4 requests)" \
  "$stuck" 24
is "connection dispatch: new connections spread over all three nodes" \
  "$(tr ' ' '\n' <<<"$seen" | grep . | sort -u | tr '\n' ' ')" "web1 web2 web3 "
# Round-robin order per connection: consecutive connections take consecutive nodes.
order=$(sed 's/^ //' <<<"$seen" | cut -d' ' -f1-6)
rr_ok=0
for start in "web1 web2 web3 web1 web2 web3" "web2 web3 web1 web2 web3 web1" \
             "web3 web1 web2 web3 web1 web2"; do
  [ "$order" = "$start" ] && rr_ok=1
done
is "connection dispatch: new connections take the nodes in round-robin order ($order)" "$rr_ok" 1

# --- affinity single -----------------------------------------------------------------------
# Clients 127.0.0.2 .. 127.0.0.25, each its own address.
lb_must_start single "${LB_NODE_ARGS[@]}" --affinity single
single=${LB_ADDR[single]}
declare -A before after
clients=$(seq 2 25)
stable=0
for i in $clients; do
  ip=127.0.0.$i
  lb_seq "http://$single/whoami" 3 --interface "$ip"
  a=$(lb_node_of "http://$single/whoami" --interface "$ip")
  b=$(lb_node_of "http://$single/whoami" --interface "$ip")
  set -- $SEQ
  if [ "$1" != - ] && [ "$SEQ" = "$1 $1 $1" ] && [ "$a" = "$1" ] && [ "$b" = "$1" ]; then
    stable=$((stable + 1))
  else
    echo "# $ip: $SEQ / $a / $b"
  fi
  before[$ip]=$1
done
is "affinity single: each of 24 client addresses stays on one node (5 requests, 3 connections)" \
  "$stable" 24
spread=$(for i in $clients; do echo "${before[127.0.0.$i]}"; done | sort -u | tr '\n' ' ')
is "affinity single: the 24 addresses are spread over all three nodes" "$spread" "web1 web2 web3 "

# Membership change: web2 leaves (DELETE). Only web2's clients move.
lb_api single DELETE /nodes/web2
is "DELETE /nodes/web2: 200" "$ST" 200
moved=0 kept=0 wrong=
for i in $clients; do
  ip=127.0.0.$i
  after[$ip]=$(lb_node_of "http://$single/whoami" --interface "$ip")
  if [ "${before[$ip]}" = web2 ]; then
    case ${after[$ip]} in web1 | web3) moved=$((moved + 1)) ;; *) wrong="$wrong $ip:${after[$ip]}" ;; esac
  elif [ "${after[$ip]}" = "${before[$ip]}" ]; then
    kept=$((kept + 1))
  else
    wrong="$wrong $ip:${before[$ip]}->${after[$ip]}"
  fi
done
n_web2=$(for i in $clients; do echo "${before[127.0.0.$i]}"; done | grep -c '^web2$')
is "web2 removed: its $n_web2 clients moved to web1 or web3" "$moved" "$n_web2"
is "web2 removed: the $((24 - n_web2)) clients of web1 and web3 stayed where they were${wrong:+ (moved:$wrong)}" \
  "$kept" "$((24 - n_web2))"

# web2 comes back (POST /nodes): the hash is over names, so exactly its old clients return.
lb_api single POST /nodes --data "name=web2&address=${SN_ADDR[web2]}&weight=1"
is "POST /nodes re-adds web2: 201" "$ST" 201
same=0
for i in $clients; do
  ip=127.0.0.$i
  [ "$(lb_node_of "http://$single/whoami" --interface "$ip")" = "${before[$ip]}" ] && same=$((same + 1))
done
is "web2 back: every client is where it was before web2 left (only web2's clients moved)" \
  "$same" 24

# A stop is a membership change too.
lb_api single POST /nodes/web3/stop
is "POST /nodes/web3/stop: 200" "$ST" 200
ok=0
for i in $clients; do
  ip=127.0.0.$i
  now=$(lb_node_of "http://$single/whoami" --interface "$ip")
  if [ "${before[$ip]}" = web3 ]; then
    case $now in web1 | web2) ok=$((ok + 1)) ;; esac
  elif [ "$now" = "${before[$ip]}" ]; then
    ok=$((ok + 1))
  fi
done
is "web3 stopped: its clients moved to web1 or web2, the others stayed" "$ok" 24

# --- affinity network ----------------------------------------------------------------------
lb_must_start net "${LB_NODE_ARGS[@]}" --affinity network
net=${LB_ADDR[net]}
nodes=
for i in 1 2 3 7 42 99 200 254; do
  nodes="$nodes $(lb_node_of "http://$net/whoami" --interface 127.0.0.$i)"
done
nodes=$(tr ' ' '\n' <<<"$nodes" | grep . | sort -u | tr '\n' ' ')
like "affinity network: 8 addresses of 127.0.0.0/24 all go to one node ($nodes)" "$nodes" \
  '^web[123] $'

# Several /24s: each one is one client; with 18 of them every node gets some.
declare -A netnode
onenode=0
for k in $(seq 1 18); do
  x=$(lb_node_of "http://$net/whoami" --interface "127.0.$k.10")
  y=$(lb_node_of "http://$net/whoami" --interface "127.0.$k.77")
  lb_seq "http://$net/whoami" 2 --interface "127.0.$k.200"
  if [ "$x" != - ] && [ "$x" = "$y" ] && [ "$SEQ" = "$x $x" ]; then onenode=$((onenode + 1)); fi
  netnode[$k]=$x
done
is "affinity network: each of 18 /24s stays on one node (3 addresses, 4 requests)" "$onenode" 18
spread=$(for k in $(seq 1 18); do echo "${netnode[$k]}"; done | sort -u | tr '\n' ' ')
is "affinity network: the 18 /24s are spread over all three nodes" "$spread" "web1 web2 web3 "

lb_api net POST /nodes/web1/stop
ok=0
for k in $(seq 1 18); do
  now=$(lb_node_of "http://$net/whoami" --interface "127.0.$k.33")
  if [ "${netnode[$k]}" = web1 ]; then
    case $now in web2 | web3) ok=$((ok + 1)) ;; esac
  elif [ "$now" = "${netnode[$k]}" ]; then
    ok=$((ok + 1))
  fi
done
is "web1 stopped: its networks moved to web2 or web3, the others stayed" "$ok" 18
lb_api net POST /nodes/web1/start
ok=0
for k in $(seq 1 18); do
  [ "$(lb_node_of "http://$net/whoami" --interface "127.0.$k.34")" = "${netnode[$k]}" ] && ok=$((ok + 1))
done
is "web1 started again: every network is back on its node" "$ok" 18

lb_finish
