#!/usr/bin/env bash
# The end of a drain does not depend on health checks: with --health-path '' a drained node
# with nothing on it stops (reason drained) after --drain-quiet, and a busy one at
# --drain-timeout. --health-interval 0 is refused.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
. "$here/lb_lib.sh"
T=$SN_TMP

lb_farm 2
now() { date +%s.%N; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }

lb_must_start nc "${LB_NODE_ARGS[@]}" --health-path '' --drain-quiet 300ms --drain-timeout 1s
nc=${LB_ADDR[nc]}

# --- a quiet node: stopped once the quiet period has passed -----------------------------------
lb_mark nc
t0=$(now)
lb_api nc POST /nodes/web2/drain
is "no health checks: POST /nodes/web2/drain: draining" "$(printf '%s' "$BODY" | jq -r .state)" draining
ok_if "no health checks: the idle web2 stops by itself (reason drained)" \
  lb_wait_after nc 'event=node-state node=web2 from=draining to=stopped reason="drained"' 5
took=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
ok_if "... not before --drain-quiet 300ms (took $took s)" ge "$took" 0.3
lb_api nc GET /nodes/web2
is "... GET /nodes/web2: stopped, drained" "$(printf '%s' "$BODY" | jq -r '"\(.state) \(.reason)"')" \
  "stopped drained"
lb_api nc POST /nodes/web2/start

# --- a busy node: stopped at --drain-timeout ----------------------------------------------------
sn_req POST "http://${SN_ADDR[web1]}/_farm/fault?spec=latency=5s"
( curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://$nc/whoami" >"$T/busy.out" 2>/dev/null
  echo $? >"$T/busy.rc" ) &
busy=$!
ok_if "a slow request is in flight on web1" lb_wait_active nc web1 1
lb_mark nc
t0=$(now)
lb_api nc POST /nodes/web1/drain
ok_if "no health checks: busy web1 is stopped at --drain-timeout (reason drain timeout)" \
  lb_wait_after nc 'event=node-state node=web1 from=draining to=stopped reason="drain timeout"' 5
took=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
ok_if "... after --drain-timeout 1s, not at the quiet period (took $took s)" ge "$took" 1
wait "$busy"
unlike "... the in-flight request was cut, not answered (got '$(cat "$T/busy.out")')" \
  "$(cat "$T/busy.out")" '^200$'
sn_req POST "http://${SN_ADDR[web1]}/_farm/fault?spec=clear"
is "... GET /nodes/web1: stopped" "$(lb_node_state nc web1)" stopped

# --- --health-interval 0 is refused ---------------------------------------------------------------
timeout 10 "$LB" --listen 127.0.0.1:0 --health-interval 0 "${LB_NODE_ARGS[@]}" >"$T/hi.out" 2>&1
is "--health-interval 0: exit 2" "$?" 2
like "--health-interval 0: says why" "$(cat "$T/hi.out")" '--health-interval: more than 0'
printf 'listen = 127.0.0.1:0\nhealth-interval = 0s\n' >"$T/hi.ini"
timeout 10 "$LB" --config "$T/hi.ini" >"$T/hi.out" 2>&1
is "health-interval = 0s in --config: exit 2" "$?" 2
like "... with file:line" "$(cat "$T/hi.out")" 'hi\.ini:2: --health-interval: more than 0'

# --- --drain-mode: who a draining node keeps ----------------------------------------------------
# Affinity single binds a client (an address of 127.0.0.0/8: curl --interface) to a node.
# users (HAProxy's drain, NLB with extended affinity): the client's next connection still
# goes to the draining node. connections (classic NLB drainstop): only open connections stay;
# the client's next connection goes elsewhere, and with InProc sessions its session is lost.
for mode in users connections; do
  lb_must_start "dm-$mode" "${LB_NODE_ARGS[@]}" --health-path '' --affinity single \
    --drain-mode "$mode" --drain-quiet 0
  a=${LB_ADDR[dm-$mode]}
  home=$(lb_node_of "http://$a/whoami" --interface 127.0.0.7)
  lb_api "dm-$mode" POST "/nodes/$home/drain"
  after=$(lb_node_of "http://$a/whoami" --interface 127.0.0.7)
  if [ "$mode" = users ]; then
    is "--drain-mode users: a bound client's new connection stays on draining $home" "$after" "$home"
  else
    ok_if "--drain-mode connections: a bound client's new connection leaves draining $home (to $after)" \
      test "$after" != "$home" -a "$after" != "-"
  fi
done
"$LB" --listen 127.0.0.1:0 --drain-mode sessions "${LB_NODE_ARGS[@]}" >"$T/dm.out" 2>&1
is "--drain-mode sessions: exit 2" "$?" 2
like "... names the choices" "$(cat "$T/dm.out")" 'users or connections'

lb_finish
