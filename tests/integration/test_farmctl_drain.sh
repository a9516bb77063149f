#!/usr/bin/env bash
# farmctl drain NODE --wait: lb ends a drain by itself once nothing is left on the node
# (docs/lb.md, "The end of a drain"); farmctl waits for that, following lb's events, and
# says what still holds the node. A farm of three sim-nodes behind lb with dispatch per
# connection, a 300 ms drain-quiet and 100 ms health ticks, in a private run directory.
# Nothing here sleeps: the waits are farmctl's own, and reads of its output have deadlines.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
: "${FARM_BIN:=$here/../../build/bin}"
: "${FARM_SOURCE_DIR:=$here/../..}"
farmctl=$FARM_BIN/farmctl
tmp=$(mktemp -d)
export FARM_RUN_DIR=$tmp/run
export NO_COLOR=1

bg_pids=()
cleanup() {
  local p
  for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
  [ -f "$FARM_RUN_DIR/farm.json" ] && "$farmctl" down >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

# --help and usage errors.
out=$($farmctl drain --help 2>&1); rc=$?
is "drain --help exits 0" "$rc" 0
like "drain --help shows --wait" "$out" "^usage: farmctl drain NODE \\[--wait \\[--timeout DUR\\]\\]"
like "drain --help says what --timeout does to the node" "$out" "give up after DUR .*the node stays"
like "drain --help gives the exit statuses of --wait" "$out" "4 the timeout passed"
out=$($farmctl drain web1 --timeout 1s 2>&1); rc=$?
is "--timeout without --wait: exit 2" "$rc" 2
like "... says it goes with --wait" "$out" "--timeout goes with --wait"
out=$($farmctl stop web1 --wait 2>&1); rc=$?
is "stop --wait: exit 2 (only drain waits)" "$rc" 2
out=$($farmctl drain web1 --wait --timeout soon 2>&1); rc=$?
is "--timeout soon: exit 2" "$rc" 2
like "... asks for a duration" "$out" "a duration such as 500ms"

cat >"$tmp/drain.ini" <<EOF
[farm]
dispatch = connection
health-interval = 100ms
drain-quiet = 300ms

[node web1]
machine-key = $FARM_SOURCE_DIR/farms/keys/farm.config

[node web2]
machine-key = $FARM_SOURCE_DIR/farms/keys/farm.config

[node web3]
machine-key = $FARM_SOURCE_DIR/farms/keys/farm.config
EOF
out=$($farmctl up "$tmp/drain.ini" 2>&1); rc=$?
is "up a farm with drain-quiet = 300ms: exit 0" "$rc" 0
[ "$rc" = 0 ] || { printf '# %s\n' "$out"; done_testing; exit; }
admin=$(jq -r .lb.admin "$FARM_RUN_DIR/farm.json")
listen=$(jq -r .lb.listen "$FARM_RUN_DIR/farm.json")
node_field() { curl -sS --max-time 5 "http://$admin/nodes/$1" | jq -r ".$2"; }

# Nobody on web2: lb stops it once the quiet period has passed, and farmctl returns then.
out=$($farmctl drain web2 --wait 2>&1); rc=$?
is "drain web2 --wait with nobody on it: exit 0" "$rc" 0
is "... first says draining" "$(sed -n 1p <<<"$out")" "web2: draining"
like "... then what holds it" "$out" "^web2: draining: 0 in flight, 0 bound connections, "
like "... and ends with: drained (stopped after N s)" "$(tail -n 1 <<<"$out")" \
  "^web2: drained \\(stopped after [0-9]+\\.[0-9] s\\)$"
is "... lb has web2 stopped when it returns" "$(node_field web2 state)" stopped
is "... reason drained" "$(node_field web2 reason)" drained
$farmctl start web2 >/dev/null

# A client holds a keep-alive connection: under dispatch=connection it is bound to its node,
# and the drain cannot end while it is open.
exec {sock}<>"/dev/tcp/${listen%:*}/${listen##*:}"
printf 'GET /whoami HTTP/1.1\r\nHost: farm\r\n\r\n' >&"$sock"
held=
while IFS= read -r -t 10 -u "$sock" line; do
  line=${line%$'\r'}
  [ -z "$line" ] && break
  case ${line,,} in x-farm-node:*) held=${line#*: } ;; esac
done
like "a held keep-alive connection is on a node ($held)" "$held" '^web[123]$'
held=${held:-web1}

out=$($farmctl drain "$held" --wait --timeout 1s {sock}>&- 2>"$tmp/err"); rc=$?
is "drain $held --wait --timeout 1s while the connection is open: exit 4" "$rc" 4
like "... shows the bound connection holding it" "$out" "^$held: draining: 0 in flight, 1 bound connection, "
like "... says it was not drained within the timeout" "$(cat "$tmp/err")" \
  "$held: not drained within --timeout \\(1\\.0 s\\): draining: .*1 bound connection.*; it stays draining"
is "... and $held stays draining" "$(node_field "$held" state)" draining

# Someone else starts the node while farmctl waits for its drain.
exec {wout}< <(exec "$farmctl" drain "$held" --wait {sock}>&- 2>&1)
wpid=$!
bg_pids+=("$wpid")
read -r -t 10 -u "$wout" first
read -r -t 10 -u "$wout" second
like "a second drain --wait is waiting ($second)" "$second" "^$held: draining: "
$farmctl start "$held" >/dev/null
rest=$(timeout 10 cat <&"$wout")
wait "$wpid"; rc=$?
exec {wout}<&-
is "... $held started meanwhile: exit 5" "$rc" 5
like "... says someone else started it" "$rest" "$held: up \\(admin start\\) before it was drained: someone else started it"

# The end of the drain follows the connection's close.
exec {wout}< <(exec "$farmctl" drain "$held" --wait --timeout 10s {sock}>&- 2>&1)
wpid=$!
bg_pids+=("$wpid")
read -r -t 10 -u "$wout" first
read -r -t 10 -u "$wout" second
like "drain $held --wait: held by the open connection ($second)" "$second" \
  "^$held: draining: 0 in flight, 1 bound connection, "
exec {sock}>&-
rest=$(timeout 10 cat <&"$wout")
wait "$wpid"; rc=$?
exec {wout}<&-
is "... the client closes its connection: exit 0" "$rc" 0
like "... drained" "$(tail -n 1 <<<"$rest")" "^$held: drained \\(stopped after [0-9]+\\.[0-9] s\\)$"
is "... lb says stopped, drained" "$(node_field "$held" state) $(node_field "$held" reason)" "stopped drained"

out=$($farmctl drain web9 --wait 2>&1); rc=$?
is "drain --wait of an unknown node: exit 2" "$rc" 2
out=$($farmctl down 2>&1); rc=$?
is "down: exit 0" "$rc" 0

# drain-quiet = 0s keeps a node draining until told; lb's drain-timeout then stops it,
# whoever is left. The drain is over, but the node was not drained: farmctl says which.
export FARM_RUN_DIR=$tmp/run-timeout
sed -e 's/^drain-quiet = .*/drain-quiet = 0s\ndrain-timeout = 400ms/' "$tmp/drain.ini" >"$tmp/drain-timeout.ini"
out=$($farmctl up "$tmp/drain-timeout.ini" 2>&1); rc=$?
is "up a farm with drain-quiet = 0s, drain-timeout = 400ms: exit 0" "$rc" 0
admin=$(jq -r .lb.admin "$FARM_RUN_DIR/farm.json")
out=$($farmctl drain web3 --wait --timeout 10s 2>&1); rc=$?
is "drain web3 --wait, ended by lb's drain-timeout: exit 0" "$rc" 0
like "... says lb's drain-timeout stopped it, not a drain" "$(tail -n 1 <<<"$out")" \
  "^web3: stopped by lb's drain-timeout after [0-9]+\.[0-9] s, before it was drained$"
is "... lb says stopped, drain timeout" "$(node_field web3 state) $(node_field web3 reason)" \
  "stopped drain timeout"

done_testing
