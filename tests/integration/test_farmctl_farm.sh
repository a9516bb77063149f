#!/usr/bin/env bash
# farmctl up / status / node control / keys / down, end to end: real sim-nodes and lb
# started from the example farms in farms/, in private run directories on 127.0.0.1.
# Nothing here sleeps: waits follow logs (tail -f) or poll the admin API a bounded number
# of times.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
: "${FARM_BIN:=$here/../../build/bin}"
: "${FARM_SOURCE_DIR:=$here/../..}"
farmctl=$FARM_BIN/farmctl
farms=$FARM_SOURCE_DIR/farms
tmp=$(mktemp -d)
export FARM_RUN_DIR=$tmp/run
export NO_COLOR=1

# Is the process gone? (A zombie counts as gone: nobody may be reaping it.)
gone() {
  local st
  st=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null) || return 0
  [ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

# Every pid recorded in a run directory's farm.json.
farm_pids() {
  jq -r '[.lb.pid, (.stateserver // {}).pid, (.nodes[] | .pid)] | map(select(. != null)) | .[]' \
    "$1/farm.json" 2>/dev/null
}

cleanup() {
  local d p
  for d in "$tmp"/run*; do
    [ -f "$d/farm.json" ] || continue
    FARM_RUN_DIR=$d "$farmctl" down >/dev/null 2>&1
    for p in $(farm_pids "$d"); do gone "$p" || kill -KILL "$p" 2>/dev/null; done
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

# Wait (at most SECS) for a line matching PATTERN in FILE after its first SKIP lines;
# event-driven: tail -f, no polling.
wait_log() {
  local file=$1 skip=$2 pat=$3 secs=${4:-10} fd tp line rc=1
  exec {fd}< <(exec tail -n "+$((skip + 1))" -f "$file")
  tp=$!
  local deadline=$((SECONDS + secs))
  while [ "$SECONDS" -le "$deadline" ] && IFS= read -r -t "$secs" -u "$fd" line; do
    if printf '%s\n' "$line" | grep -Eq -- "$pat"; then rc=0; break; fi
  done
  kill "$tp" 2>/dev/null
  exec {fd}<&-
  return $rc
}

node_of() {
  curl -sS --max-time 10 -D - -o /dev/null "$@" 2>/dev/null | tr -d '\r' |
    awk 'tolower($0) ~ /^x-farm-node:/ { sub(/^[^:]*: */, ""); n = $0 } END { print (n == "" ? "-" : n) }'
}

header() { # header NAME curl-args...: that header of one answer
  local h=$1; shift
  curl -sS --max-time 10 -D - -o /dev/null "$@" 2>/dev/null | tr -d '\r' |
    awk -v h="$(printf '%s' "$h" | tr A-Z a-z)" 'tolower($0) ~ "^" h ":" { sub(/^[^:]*: */, ""); print; exit }'
}

# --help everywhere: exit 0, usage on stdout.
for cmd in up down status drain stop start kill restart rekey fault add remove keys; do
  out=$($farmctl $cmd --help 2>&1); rc=$?
  is "farmctl $cmd --help exits 0" "$rc" 0
  like "farmctl $cmd --help prints usage" "$out" "^usage: farmctl"
done
out=$($farmctl up 2>&1); rc=$?
is "up without FILE: usage error" "$rc" 2

# Bad farm files: file:line: message, exit 2, nothing started.
cp "$farms/keys/farm.config" "$tmp/k.config"
bad() { # bad NAME TEXT LINE PATTERN
  printf '%b' "$2" >"$tmp/$1.ini"
  out=$($farmctl up "$tmp/$1.ini" 2>&1); rc=$?
  is "bad farm file ($1): exit 2" "$rc" 2
  like "bad farm file ($1): $1.ini:$3: names the line" "$out" "$1.ini:$3: .*$4"
}
bad unknown-key '[farm]\nlisten = 127.0.0.1:0\ncolour = blue\n' 3 "unknown setting 'colour'"
bad unknown-section '[node web1]\nmachine-key = k.config\n[frontend]\n' 3 "unknown section \\[frontend\\]"
bad no-key '[node web1]\nsession = inproc\n' 1 "has no machine-key"
bad no-stateserver '[node web1]\nmachine-key = k.config\nsession = stateserver\n' 3 "no \\[stateserver\\] section"
bad duplicate '[node web1]\nmachine-key = k.config\n[node web1]\nmachine-key = k.config\n' 3 "given twice \\(first on line 1\\)"
bad bad-value '[farm]\ndispatch = random\n' 2 "dispatch: one of request,connection"
bad missing-key-file '[node web1]\nmachine-key = nowhere.config\n' 2 "machine-key: cannot read"
# A farm needs a node: an empty file and a [farm]-only file are refused, naming the file.
: >"$tmp/empty.ini"
printf '[farm]\nlisten = 127.0.0.1:0\n' >"$tmp/farm-only.ini"
for f in empty farm-only; do
  out=$($farmctl up "$tmp/$f.ini" 2>&1); rc=$?
  is "farm file with no node ($f.ini): exit 2" "$rc" 2
  is "... says so, naming the file" "$out" \
    "farmctl: $tmp/$f.ini: no [node NAME] section: a farm needs at least one node"
done
ok_if "no farm.json after bad farm files" test ! -e "$FARM_RUN_DIR/farm.json"

# No farm yet.
out=$($farmctl down 2>&1); rc=$?
is "down without a farm: exit 0" "$rc" 0
like "down without a farm says so" "$out" "no farm running in $FARM_RUN_DIR"
# Every command that needs a farm says the same when there is none: exit 2, as for a file
# it cannot read (1 is for findings: a scenario's "farm keys exits 1" must not pass with
# no farm at all). down is the exception: nothing to stop is done.
no_farm() { # no_farm DESC ARGS...
  local desc=$1
  shift
  out=$($farmctl "$@" 2>&1); rc=$?
  is "$desc without a farm: exit 2" "$rc" 2
  is "... no farm running in $FARM_RUN_DIR, as every command says it" "$out" \
    "farmctl: no farm running in $FARM_RUN_DIR (farmctl up FILE)"
}
no_farm status status
no_farm "status --json" status --json
no_farm keys keys
no_farm drain drain web1
no_farm "drain --wait" drain web1 --wait --timeout 1s
no_farm stop stop web1
no_farm start start web1
no_farm kill kill web1
no_farm restart restart web1
no_farm rekey rekey web1 "$tmp/k.config"
no_farm fault fault web1 clear
no_farm add add web4 --machine-key "$tmp/k.config"
no_farm remove remove web1
no_farm client client alice whoami
no_farm load load --users 1 --requests 1

# --run-dir "": refused by every command (exit 2), never taken for $FARM_RUN_DIR or ./.farm.
for args in "up $farms/healthy.ini" down status keys "drain web1" "kill web1" "restart web1" \
            "fault web1 clear" "add web4 --machine-key $tmp/k.config" "remove web1" \
            "client alice whoami" "load --users 1 --requests 1"; do
  out=$($farmctl $args --run-dir "" 2>&1); rc=$?
  is "${args%% *} --run-dir '': exit 2" "$rc" 2
  is "... says the option is empty" "$out" \
    "farmctl: --run-dir: empty (give a directory, or leave --run-dir out for \$FARM_RUN_DIR, else ./.farm)"
done
ok_if "up --run-dir '' started nothing" test ! -e "$FARM_RUN_DIR/farm.json"

# up: the healthy farm.
out=$($farmctl up "$farms/healthy.ini" 2>&1); rc=$?
is "up healthy.ini: exit 0" "$rc" 0
like "up prints the farm's URL" "$out" "farm healthy is up: http://127\\.0\\.0\\.1:[0-9]+/"
fp=$(printf '%s\n' "$out" | awk '$1 == "web1" { print $4, $5, $6 }')
like "up prints web1's key fingerprint" "$fp" "^v=[0-9a-f]{8} d=[0-9a-f]{8} m=fx45$"
is "web1..web3 share that fingerprint" \
  "$(printf '%s\n' "$out" | grep -Ec "^web[123] +127\\.0\\.0\\.1:[0-9]+ +inproc +$fp\$")" 3
json=$FARM_RUN_DIR/farm.json
ok_if "farm.json written" test -f "$json"
url=$(jq -r .lb.url "$json")
admin=$(jq -r .lb.admin "$json")
like "farm.json: lb url" "$url" "^http://127\\.0\\.0\\.1:[0-9]+/$"
is "farm.json: no state server" "$(jq -c .stateserver "$json")" null
is "farm.json: three nodes" "$(jq -r '.nodes | keys | join(" ")' "$json")" "web1 web2 web3"
is "farm.json: web2's key file" "$(jq -r .nodes.web2.machine_key "$json")" keys/web2.config
is "farm.json: web2's app path, session, weight, log" \
  "$(jq -r '.nodes.web2 | "\(.app_path) \(.session) \(.weight) \(.log)"' "$json")" \
  "/LM/W3SVC/1/ROOT inproc 1 logs/web2.log"
web1_addr=$(jq -r .nodes.web1.listen "$json")
is "farm.json: web1's args start it again on its address" \
  "$(jq -r '.nodes.web1.args | index("--listen") as $i | .[$i + 1]' "$json")" "$web1_addr"
ok_if "keys/web1.config is a copy of the farm's key" cmp -s "$FARM_RUN_DIR/keys/web1.config" "$farms/keys/farm.config"
ok_if "logs/web1.log has its ready line" grep -q "node=web1 event=ready" "$FARM_RUN_DIR/logs/web1.log"
ok_if "logs/lb.log has both ready lines" test "$(grep -c 'event=ready role=' "$FARM_RUN_DIR/logs/lb.log")" = 2
ok_if "jars/ is there for the users" test -d "$FARM_RUN_DIR/jars"
for p in $(farm_pids "$FARM_RUN_DIR"); do pids_up="${pids_up:-} $p"; done
ok_if "every recorded process runs" bash -c "for p in $pids_up; do kill -0 \$p || exit 1; done"

# up twice refuses.
out=$($farmctl up "$farms/healthy.ini" 2>&1); rc=$?
is "up twice: exit 1" "$rc" 1
like "up twice: a farm is already running" "$out" "a farm is already running in $FARM_RUN_DIR"
is "up twice left farm.json alone" "$(jq -r .lb.url "$json")" "$url"
out=$($farmctl down --run-dir "" 2>&1); rc=$?
is "down --run-dir '' with a farm in \$FARM_RUN_DIR: exit 2" "$rc" 2
ok_if "... and that farm is still up" bash -c "for p in $pids_up; do kill -0 \$p || exit 1; done"

# status.
out=$($farmctl status 2>&1); rc=$?
is "status: exit 0" "$rc" 0
is "status: three nodes up in group A" "$(printf '%s\n' "$out" | grep -Ec '^web[123] +up +127\.0\.0\.1:[0-9]+ +[0-9]+ +A v=')" 3
like "status: one key group" "$out" "^keys: one group"
sj=$($farmctl status --json)
is "status --json: three nodes" "$(jq '.nodes | length' <<<"$sj")" 3
is "status --json: one group of three" "$(jq -c '[.groups[] | .nodes | length]' <<<"$sj")" "[3]"
is "status --json: nobody differs" "$(jq -c .differs <<<"$sj")" "[]"

# Through the farm's URL: round robin over the three nodes; a ticket valid everywhere.
seen=$(for i in 1 2 3 4 5 6; do node_of "${url}whoami"; done | sort -u | tr '\n' ' ')
is "requests through the URL reach every node" "$seen" "web1 web2 web3 "
curl -sS -c "$tmp/jar" -o /dev/null "${url}login?user=alice"
verdicts=$(for i in 1 2 3; do header X-Farm-Ticket -b "$tmp/jar" "${url}whoami"; done | sort -u)
is "alice's ticket is valid on every node" "$verdicts" valid

# drain / start.
out=$($farmctl drain web2); rc=$?
is "drain web2: exit 0" "$rc" 0
is "drain web2 says draining" "$out" "web2: draining"
is "lb has web2 draining" "$(curl -sS "http://$admin/nodes/web2" | jq -r .state)" draining
seen=$(for i in 1 2 3 4 5 6; do node_of "${url}whoami"; done | sort -u | tr '\n' ' ')
is "new clients skip the draining node" "$seen" "web1 web3 "
out=$($farmctl start web2)
is "start web2 says up" "$out" "web2: up"
out=$($farmctl drain web9 2>&1); rc=$?
is "drain of an unknown node: exit 2" "$rc" 2
like "... naming the farm's nodes" "$out" "no node 'web9' in the farm \\(nodes: web1, web2, web3\\)"

# kill: the process dies; lb's health checks mark the node down; status shows it.
web1_pid=$(jq -r .nodes.web1.pid "$json")
mark=$(wc -l <"$FARM_RUN_DIR/logs/lb.log")
out=$($farmctl kill web1); rc=$?
is "kill web1: exit 0" "$rc" 0
like "kill web1 says so" "$out" "^web1: killed \\(pid $web1_pid\\)"
ok_if "web1's process is gone" gone "$web1_pid"
ok_if "lb marks web1 down (its log, within 10 s)" \
  wait_log "$FARM_RUN_DIR/logs/lb.log" "$mark" "event=node-state node=web1 from=[a-z]+ to=down" 10
out=$($farmctl status)
like "status: web1 down, its process gone" "$out" "^web1 +down +$web1_addr +gone"
out=$($farmctl kill web1 2>&1); rc=$?
is "kill of a dead node: exit 1" "$rc" 1

# restart: the same address, a new pid, lb brings it back.
mark=$(wc -l <"$FARM_RUN_DIR/logs/lb.log")
out=$($farmctl restart web1); rc=$?
is "restart web1: exit 0" "$rc" 0
like "restart web1: on the same address" "$out" "^web1: restarted on $web1_addr \\(pid [0-9]+\\), key $fp"
new_pid=$(jq -r .nodes.web1.pid "$json")
ok_if "farm.json has web1's new pid" test "$new_pid" != "$web1_pid"
ok_if "the new pid runs" kill -0 "$new_pid"
ok_if "lb brings web1 back up" \
  wait_log "$FARM_RUN_DIR/logs/lb.log" "$mark" "event=node-state node=web1 from=down to=up" 10
is "web1 answers on its old address" "$(node_of "http://$web1_addr/whoami")" web1

# rekey: web2 gets another key; its X-Farm-Key changes; the farm now has two key groups.
"$farmctl" key generate >"$tmp/new.config"
new_fp=$($farmctl key fingerprint "$tmp/new.config" | awk '{ print $2, $3, $4 }')
web2_addr=$(jq -r .nodes.web2.listen "$json")
is "web2's X-Farm-Key before" "$(header X-Farm-Key "http://$web2_addr/whoami")" "$fp"
out=$($farmctl rekey web2 "$tmp/new.config"); rc=$?
is "rekey web2: exit 0" "$rc" 0
is "rekey web2 prints the new fingerprint" "$out" "web2: rekeyed, key $new_fp"
is "web2's X-Farm-Key after" "$(header X-Farm-Key "http://$web2_addr/whoami")" "$new_fp"
ok_if "keys/web2.config is the new key" cmp -s "$FARM_RUN_DIR/keys/web2.config" "$tmp/new.config"
out=$($farmctl status)
like "status: two key groups, web2 differs" "$out" "^keys: 2 groups — web2 differs$"
like "status: web2 in group B" "$out" "^web2 +up .* B $new_fp"
out=$($farmctl keys); rc=$?
is "keys after the rekey: exit 1" "$rc" 1
like "keys: web1 -> web2 mac-mismatch, and why" "$out" "web1 -> web2: mac-mismatch: validationKey differs"
unlike "keys: web1 -> web3 is fine" "$out" "web1 -> web3"
printf '<machineKey validationKey="XYZ" />\n' >"$tmp/broken.config"
out=$($farmctl rekey web2 "$tmp/broken.config" 2>&1); rc=$?
is "rekey with a broken file: exit 2" "$rc" 2
like "... with file:line" "$out" "broken.config:1: "
is "... and web2 keeps its key" "$(header X-Farm-Key "http://$web2_addr/whoami")" "$new_fp"
$farmctl rekey web2 "$farms/keys/farm.config" >/dev/null
out=$($farmctl keys); rc=$?
is "rekeyed back: keys exit 0" "$rc" 0
like "rekeyed back: every pair compatible" "$out" "every pair is compatible"

# fault.
web3_addr=$(jq -r .nodes.web3.listen "$json")
out=$($farmctl fault web3 error=1:503); rc=$?
is "fault web3: exit 0" "$rc" 0
is "fault web3 echoes the faults" "$out" "web3: faults error=1.00:503"
is "web3 answers 503 now" "$(curl -s -o /dev/null -w '%{http_code}' "http://$web3_addr/whoami")" 503
out=$($farmctl fault web3 bogus 2>&1); rc=$?
is "a bad fault spec: exit 2" "$rc" 2
like "... with sim-node's grammar" "$out" "bad fault 'bogus'"
out=$($farmctl fault web3 clear)
is "fault clear" "$out" "web3: faults none"
is "web3 answers 200 again" "$(curl -s -o /dev/null -w '%{http_code}' "http://$web3_addr/whoami")" 200

# add / remove.
out=$($farmctl add web4 --machine-key "$farms/keys/farm.config" --session inproc --weight 2); rc=$?
is "add web4: exit 0" "$rc" 0
like "add web4 prints its address and key" "$out" "^web4: added on 127\\.0\\.0\\.1:[0-9]+ \\(pid [0-9]+\\), key $fp"
is "lb has web4 with weight 2" "$(curl -sS "http://$admin/nodes/web4" | jq -r '"\(.address) \(.weight)"')" \
  "$(jq -r .nodes.web4.listen "$json") 2"
is "farm.json has web4" "$(jq -r '.nodes | keys | join(" ")' "$json")" "web1 web2 web3 web4"
web4_pid=$(jq -r .nodes.web4.pid "$json")
out=$($farmctl add web4 --machine-key "$farms/keys/farm.config" 2>&1); rc=$?
is "add of a taken name: exit 2" "$rc" 2
like "... says so" "$out" "already has a node 'web4'"
out=$($farmctl add web5 --machine-key "$farms/keys/farm.config" --session stateserver 2>&1); rc=$?
is "add with stateserver sessions to a farm without one: exit 2" "$rc" 2
out=$($farmctl remove web4); rc=$?
is "remove web4: exit 0" "$rc" 0
is "lb no longer knows web4" "$(curl -s -o /dev/null -w '%{http_code}' "http://$admin/nodes/web4")" 404
is "farm.json forgot web4" "$(jq -r '.nodes | keys | join(" ")' "$json")" "web1 web2 web3"
ok_if "web4's process is gone" gone "$web4_pid"

# down: every recorded process ends; farm.json goes, logs stay.
pids=$(farm_pids "$FARM_RUN_DIR" | tr '\n' ' ')
out=$($farmctl down); rc=$?
is "down: exit 0" "$rc" 0
like "down: counts what it stopped" "$out" "farm down: 4 process\\(es\\) stopped"
left=''
for p in $pids; do gone "$p" || left="$left $p"; done
is "down leaves no process (of: $pids)" "$left" ""
ok_if "farm.json removed" test ! -e "$json"
ok_if "logs kept" test -s "$FARM_RUN_DIR/logs/web1.log"
ok_if "web1 stopped cleanly (SIGTERM)" grep -q "node=web1 event=stopped" "$FARM_RUN_DIR/logs/web1.log"
out=$($farmctl down); rc=$?
is "down again: exit 0" "$rc" 0
like "down again: no farm" "$out" "no farm running"

# The AutoGenerate farm: the keys matrix names web3; status says web3 differs.
export FARM_RUN_DIR=$tmp/run-auto
out=$($farmctl up "$farms/autogenerate.ini" 2>&1); rc=$?
is "up autogenerate.ini: exit 0" "$rc" 0
like "up flags web3's AutoGenerate key" "$out" "web3 .*AutoGenerate"
out=$($farmctl keys); rc=$?
is "keys of the AutoGenerate farm: exit 1" "$rc" 1
like "keys: web3 is on AutoGenerate" "$out" "^web3: AutoGenerate: its keys are random per process"
like "keys: web1 -> web3 mac-mismatch, naming web3" "$out" "^web1 -> web3: mac-mismatch: web3 uses AutoGenerate"
like "keys: web3 -> web2 mac-mismatch, naming web3" "$out" "^web3 -> web2: mac-mismatch: web3 uses AutoGenerate"
unlike "keys: no side called A or B (status's key group letters)" "$out" "(^|: )[AB] uses"
unlike "keys: web1 -> web2 is fine" "$out" "web1 -> web2"
out=$($farmctl status)
like "status: web3 differs" "$out" "^keys: 2 groups — web3 differs$"
$farmctl down >/dev/null

# The state-server farm: a cart follows the user across nodes.
export FARM_RUN_DIR=$tmp/run-state
out=$($farmctl up "$farms/stateserver.ini" 2>&1); rc=$?
is "up stateserver.ini: exit 0" "$rc" 0
like "up names the state server" "$out" "state server +127\\.0\\.0\\.1:[0-9]+"
ss=$(jq -r .stateserver.listen "$FARM_RUN_DIR/farm.json")
like "the nodes use the farm's state server" "$(jq -r '.nodes.web2.args | join(" ")' "$FARM_RUN_DIR/farm.json")" \
  "--session stateserver=$ss"
url=$(jq -r .lb.url "$FARM_RUN_DIR/farm.json")
curl -sS -c "$tmp/jar2" -b "$tmp/jar2" -o /dev/null -X POST "${url}cart/add?item=tea"
sessions=$(for i in 1 2 3; do header X-Farm-Session -b "$tmp/jar2" "${url}cart"; done | sort -u)
is "the cart is found on every node" "$sessions" found
ss_pid=$(jq -r .stateserver.pid "$FARM_RUN_DIR/farm.json")
$farmctl down >/dev/null
ok_if "down stops the state server too" gone "$ss_pid"

# A farm that cannot start: what was started is stopped, the failing log is shown.
export FARM_RUN_DIR=$tmp/run-fail
printf '[farm]\nadmin = 10.0.0.1:0\n[node web1]\nmachine-key = k.config\n' >"$tmp/fail.ini"
out=$($farmctl up "$tmp/fail.ini" 2>&1); rc=$?
is "up with an lb that refuses to start: exit 1" "$rc" 1
like "... shows the end of lb's log" "$out" "\\| lb: --admin 10\\.0\\.0\\.1:0 is not a loopback address"
ok_if "... stopped web1 again" grep -q "node=web1 event=stopped" "$FARM_RUN_DIR/logs/web1.log"
ok_if "... and left no farm.json" test ! -e "$FARM_RUN_DIR/farm.json"
printf '[node web1]\nmachine-key = k.config\nfault = bogus\n' >"$tmp/fail2.ini"
out=$($farmctl up "$tmp/fail2.ini" 2>&1); rc=$?
is "up with a node that exits at once: exit 1" "$rc" 1
like "... says it exited before its ready line, naming the farm file's line" "$out" \
  "node web1 \\(.*fail2\\.ini:1\\) exited with status 1 before its ready line"
like "... and shows the node's error" "$out" "\\| node=web1 event=error error=\"--fault: bad fault 'bogus'"

done_testing
