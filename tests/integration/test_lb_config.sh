#!/usr/bin/env bash
# lb --config FILE (INI key = value lines) and its errors (file:line); the access log's
# fields for each way a node is chosen; SIGTERM: stop accepting, finish what is in flight,
# close idle clients, exit 0.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
. "$here/lb_lib.sh"
T=$SN_TMP

lb_farm 2
count() { tr ' ' '\n' <<<"$1" | grep -c "^$2\$"; }
# Wait (at most SECS) for a process to exit, without polling: tail --pid returns when it does.
wait_gone() { timeout "${2:-10}" tail --pid="$1" -f /dev/null; }

# --- --config ----------------------------------------------------------------------------------
cat >"$T/lb.ini" <<EOF
; lb settings for the test farm
[lb]
listen = 127.0.0.1:0
admin = 127.0.0.1:0

node = web1=${SN_ADDR[web1]}
node = web2=${SN_ADDR[web2]}
weight = web2=2
dispatch = request
affinity = none
health-interval = 200ms
rise = 2
fall = 2
timeout-header = 5s
served-by = yes
access-log = $T/access.log
EOF
lb_must_start cfg --config "$T/lb.ini"
like "--config: the proxy's ready line names both nodes" "$(grep 'role=proxy' "${SN_LOG[cfg]}")" \
  'listen=127\.0\.0\.1:[1-9][0-9]* dispatch=request affinity=none nodes=2'
like "--config: the admin's ready line" "$(grep 'role=admin' "${SN_LOG[cfg]}")" \
  'listen=127\.0\.0\.1:[1-9][0-9]* token=none'
lb_api cfg GET /nodes
is "--config: GET /nodes has the nodes with their weights" \
  "$(printf '%s' "$BODY" | jq -r '[.nodes[] | "\(.name)=\(.address)/\(.weight)"] | join(" ")')" \
  "web1=${SN_ADDR[web1]}/1 web2=${SN_ADDR[web2]}/2"
lb_seq "http://${LB_ADDR[cfg]}/whoami" 6
is "--config: weight web2=2 gives web2 four of six requests ($SEQ)" \
  "$(count "$SEQ" web1) $(count "$SEQ" web2)" "2 4"
sn_req GET "http://${LB_ADDR[cfg]}/whoami"
is "--config: served-by adds X-Served-By naming the node" "$(sn_hdr X-Served-By)" "$(sn_hdr X-Farm-Node)"

# A flag's value counts: "served-by = no" leaves it off.
printf 'listen = 127.0.0.1:0\nnode = web1=%s\nserved-by = no\n' "${SN_ADDR[web1]}" >"$T/off.ini"
lb_must_start off --config "$T/off.ini"
sn_req GET "http://${LB_ADDR[off]}/whoami"
is "--config: served-by = no: no X-Served-By" "$(sn_hdr X-Served-By)" ""
sn_stop off

# --- the access log ------------------------------------------------------------------------------
is "access log: one line per request (7)" "$(wc -l <"$T/access.log")" 7
fields='^time=[^ ]+ client=127\.0\.0\.1 method=GET path=/whoami node=web[12] why=rr tried=web[12] status=200 bytes=[1-9][0-9]* connect_ms=[0-9.]+ first_byte_ms=[0-9.]+ total_ms=[0-9.]+ ticket=absent session=-$'
is "access log: each line has node=, why=rr, status=200, ticket=absent" \
  "$(grep -cvE "$fields" "$T/access.log")" 0
is "access log: node= agrees with the answers" \
  "$(head -n 6 "$T/access.log" | sed 's/.* node=\([^ ]*\) .*/\1/' | tr '\n' ' ')" "$SEQ "
lb_api cfg POST /nodes/web1/stop
lb_api cfg POST /nodes/web2/stop
sn_req GET "http://${LB_ADDR[cfg]}/whoami?x=1"
is "all nodes stopped: 503" "$ST" 503
like "access log: the 503 says node=- why=none status=503" "$(tail -n 1 "$T/access.log")" \
  'path=/whoami node=- why=none tried=- status=503 '
lb_api cfg POST /nodes/web1/start
lb_api cfg POST /nodes/web2/start

# --access-log - writes to stdout; affinity and sticky choices are named.
lb_must_start aff "${LB_NODE_ARGS[@]}" --affinity single --access-log -
lb_mark aff
n=$(lb_node_of "http://${LB_ADDR[aff]}/whoami" --interface 127.0.0.5)
ok_if "--access-log -: a line on stdout with why=affinity" \
  lb_wait_after aff "^time=.* client=127\.0\.0\.5 method=GET path=/whoami node=$n why=affinity .*status=200" 5
lb_api aff POST "/nodes/$n/drain"
lb_mark aff
is "draining $n: client 127.0.0.5 stays on it" \
  "$(lb_node_of "http://${LB_ADDR[aff]}/whoami" --interface 127.0.0.5)" "$n"
ok_if "access log: ... and says why=sticky" \
  lb_wait_after aff "client=127\.0\.0\.5 method=GET path=/whoami node=$n why=sticky .*status=200" 5
# A failed connect is retried elsewhere: why=redispatch, both nodes in tried=.
lb_must_start re --node "dead=127.0.0.1:1" "${LB_NODE_ARGS[@]}" --access-log - --health-path ''
lb_mark re
sn_req GET "http://${LB_ADDR[re]}/whoami"
is "a dead node first in the rotation: the request still gets 200" "$ST" 200
ok_if "access log: why=redispatch, tried=dead,<the node that answered>" \
  lb_wait_after re "node=web[12] why=redispatch tried=dead,web[12] status=200" 5

# --- bad configuration files: file:line ------------------------------------------------------------
bad_config() { # description, want-pattern, file body lines...
  local desc=$1 want=$2; shift 2
  printf '%s\n' "$@" >"$T/bad.ini"
  "$LB" --config "$T/bad.ini" >"$T/bad.out" 2>&1
  local rc=$?
  is "$desc: exit 2" "$rc" 2
  like "$desc: the error names the file and line" "$(cat "$T/bad.out")" "$want"
}
bad_config "a bad value on line 3" "bad\.ini:3: .*sideways" \
  "listen = 127.0.0.1:0" "node = web1=${SN_ADDR[web1]}" "dispatch = sideways"
bad_config "an unknown key on line 2" "bad\.ini:2: .*frobnicate" \
  "listen = 127.0.0.1:0" "frobnicate = 1"
bad_config "a line that is not key = value on line 4" "bad\.ini:4: " \
  "; comment" "listen = 127.0.0.1:0" "" "just some words"
bad_config "a bad duration on line 2" "bad\.ini:2: .*health-interval" \
  "listen = 127.0.0.1:0" "health-interval = soon"
bad_config "a bad node on line 1" "bad\.ini:1: " "node = web1"
bad_config "a weight for an unknown node on line 2" "bad\.ini:2: .*web9" \
  "listen = 127.0.0.1:0" "weight = web9=2"
bad_config "config inside a config on line 2" "bad\.ini:2: " \
  "listen = 127.0.0.1:0" "config = $T/lb.ini"
"$LB" --config "$T/no-such.ini" >"$T/bad.out" 2>&1
is "a missing config file: exit 2" "$?" 2
like "a missing config file: named" "$(cat "$T/bad.out")" 'no-such\.ini'
"$LB" --listen 127.0.0.1:0 --frobnicate >"$T/bad.out" 2>&1
is "an unknown option: exit 2" "$?" 2
"$LB" --help >"$T/help.out" 2>&1
is "--help: exit 0" "$?" 0
like "--help: mentions --config" "$(cat "$T/help.out")" '--config FILE'

# --- SIGTERM -------------------------------------------------------------------------------------
# An idle lb exits 0 at once.
lb_must_start idle "${LB_NODE_ARGS[@]}"
sn_req GET "http://${LB_ADDR[idle]}/whoami"
kill -TERM "${SN_PID[idle]}"
ok_if "SIGTERM, idle: lb exits within 5 s" wait_gone "${SN_PID[idle]}" 5
sn_wait_exit idle
is "SIGTERM, idle: exit status 0" "${SN_RC[idle]}" 0
like "SIGTERM: logs stopping, then stopped" "$(grep -E 'event=(stopping|stopped)' "${SN_LOG[idle]}" |
  sed 's/.*event=\([a-z]*\).*/\1/' | tr '\n' ' ')" '^stopping stopped $'

# A request in flight finishes; an idle keep-alive client is let go; new clients are refused.
lb_must_start busy "${LB_NODE_ARGS[@]}" --affinity single
busy=${LB_ADDR[busy]}
n=$(lb_node_of "http://$busy/whoami" --interface 127.0.0.9)
sn_req POST "http://${SN_ADDR[$n]}/_farm/fault?spec=latency=1s"
( curl -sS --max-time 10 --interface 127.0.0.9 -D "$T/fly.head" -o /dev/null -w '%{http_code}' \
    "http://$busy/whoami" >"$T/fly.out" 2>&1 ) &
fly=$!
exec {idle_fd}<>"/dev/tcp/${busy%:*}/${busy##*:}"
ok_if "SIGTERM, busy: a slow request is in flight on $n" lb_wait_active busy "$n" 1
kill -TERM "${SN_PID[busy]}"
wait "$fly"
is "SIGTERM, busy: the in-flight request finishes with 200" "$(cat "$T/fly.out")" 200
like "SIGTERM, busy: ... and is told Connection: close" \
  "$(tr -d '\r' <"$T/fly.head" | grep -i '^connection:')" '[Cc]lose'
ok_if "SIGTERM, busy: lb exits once it is answered" wait_gone "${SN_PID[busy]}" 5
sn_wait_exit busy
is "SIGTERM, busy: exit status 0" "${SN_RC[busy]}" 0
IFS= read -r -t 2 -u "$idle_fd" line
is "SIGTERM, busy: the idle client's connection was closed (EOF)" "$?:${line:-}" "1:"
exec {idle_fd}<&-
curl -sS --max-time 5 -o /dev/null "http://$busy/whoami" 2>/dev/null
is "after SIGTERM, new clients are refused (curl exit 7)" "$?" 7
sn_req POST "http://${SN_ADDR[$n]}/_farm/fault?spec=clear"

lb_finish
