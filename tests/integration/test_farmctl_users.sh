#!/usr/bin/env bash
# farmctl client and farmctl load against hand-made run directories (farm.json as `farmctl up`
# writes it): three sim-nodes sharing a state server behind lb. The client keeps a user's
# cookies in a jar curl can read and write; load drives 1,000 users and reports no lost
# session on a healthy farm, and, with web3 on AutoGenerate, the hops lost and web3 named.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
. "$here/lb_lib.sh"
T=$SN_TMP
F=$FARMCTL
# A Debian login's soft limit: lb, the nodes and farmctl load raise their own to the hard
# limit (lb needs two descriptors per user; at 1024 it used to run out and mark every node
# down).
ulimit -Sn 1024

# A run directory with farm.json naming lb's address: make_run_dir DIR LBNAME
make_run_dir() {
  mkdir -p "$1"
  printf '{"farm_file": null, "lb": {"pid": %s, "listen": "%s", "url": "http://%s/"},\n "stateserver": null, "nodes": {}}\n' \
    "${SN_PID[$2]}" "${LB_ADDR[$2]}" "${LB_ADDR[$2]}" >"$1/farm.json"
}

# --- the healthy farm ---------------------------------------------------------------------------
sn_keygen "$T/farm.config"
sn_must_start ss --state-server
for n in 1 2 3; do
  sn_must_start "web$n" --name "web$n" --machine-key "$T/farm.config" \
    --session "stateserver=${SN_ADDR[ss]}"
done
lb_nodes_args 3
lb_must_start lb "${LB_NODE_ARGS[@]}"
RUN=$T/run
make_run_dir "$RUN" lb
url=http://${LB_ADDR[lb]}

# --- usage ------------------------------------------------------------------------------------
for cmd in client load; do
  out=$("$F" $cmd --help); rc=$?
  is "farmctl $cmd --help exits 0" "$rc" 0
  like "farmctl $cmd --help prints usage" "$out" "^usage: farmctl $cmd"
done
out=$("$F" client --run-dir "$RUN" alice 2>&1); rc=$?
is "client without an action: exit 2" "$rc" 2
out=$("$F" client --run-dir "$RUN" alice frob 2>&1); rc=$?
is "client with an unknown action: exit 2" "$rc" 2
like "... says so" "$out" "unknown action 'frob'"
out=$("$F" client --run-dir "$RUN" ../alice whoami 2>&1); rc=$?
is "client with a user name that is not a file name: exit 2" "$rc" 2
out=$("$F" client --run-dir "$T/nowhere" alice whoami 2>&1); rc=$?
is "client without a farm: exit 2" "$rc" 2
is "... 'no farm running in DIR (farmctl up FILE)'" "$out" \
  "farmctl: no farm running in $T/nowhere (farmctl up FILE)"
out=$(cd "$T" && FARM_RUN_DIR= "$F" load --users 1 --requests 1 2>&1); rc=$?
is "load without a farm in ./.farm: exit 2" "$rc" 2
is "... names ./.farm" "$out" "farmctl: no farm running in .farm (farmctl up FILE)"
out=$("$F" load --run-dir "$RUN" --requests 10 2>&1); rc=$?
is "load without --users: exit 2" "$rc" 2
out=$("$F" load --run-dir "$RUN" --users 2 --requests 10 --duration 1s 2>&1); rc=$?
is "load with both --requests and --duration: exit 2" "$rc" 2
out=$("$F" load --run-dir "$RUN" --users 0 --requests 10 2>&1); rc=$?
is "load --users 0: exit 2" "$rc" 2

# --- client: one user, one line per request -------------------------------------------------------
out=$("$F" client --run-dir "$RUN" alice login); rc=$?
is "client login: exit 0" "$rc" 0
like "client login: 200, a node, a valid ticket, a new session, the user" "$out" \
  '^200 node=web[123] ticket=valid session=new user=alice$'
jar=$RUN/jars/alice.txt
ok_if "client login: the jar is jars/alice.txt" test -f "$jar"
is "the jar is readable by its owner only (it holds a ticket)" "$(stat -c %a "$jar")" 600
like "the jar is a Netscape cookie file" "$(head -n 1 "$jar")" '^# Netscape HTTP Cookie File'
like "the jar holds the forms ticket" "$(cat "$jar")" $'\t\\.ASPXAUTH\t[0-9A-F]{64,}$'
like "the jar holds the session id" "$(cat "$jar")" $'\tASP\\.NET_SessionId\t[a-z0-5]{24}$'
out=$(FARM_RUN_DIR=$RUN "$F" client alice whoami); rc=$?
is "client whoami (run dir from FARM_RUN_DIR): exit 0" "$rc" 0
like "client whoami: the ticket travels from the jar" "$out" \
  '^200 node=web[123] ticket=valid session=found user=alice$'
out=$("$F" client --run-dir "$RUN" alice add book)
like "client add book: the cart shows it" "$out" '^200 node=web[123] ticket=valid session=found user=alice cart=book$'
out=$("$F" client --run-dir "$RUN" alice add "green tea")
like "client add 'green tea' (escaped in the query)" "$out" 'cart=book,green tea$'
nodes=''
for i in 1 2 3; do
  out=$("$F" client --run-dir "$RUN" alice cart)
  like "client cart #$i: both items, session found" "$out" \
    '^200 node=web[123] ticket=valid session=found user=alice cart=book,green tea$'
  nodes="$nodes$(sed 's/^200 node=\(web[123]\) .*/\1/' <<<"$out")"$'\n'
done
is "client cart: three requests, three nodes (round robin), the cart shared" \
  "$(printf '%s' "$nodes" | sort -u | wc -l)" 3
out=$("$F" client --run-dir "$RUN" alice account); rc=$?
is "client account: exit 0" "$rc" 0
like "client account: 200 for a logged-in user" "$out" '^200 node=web[123] ticket=valid'
out=$("$F" client --run-dir "$RUN" alice cart --json); rc=$?
is "client cart --json: exit 0" "$rc" 0
is "client --json: one object with status, node, ticket, session, user, location, body" \
  "$(jq -c '[.status, (.node | test("^web[123]$")), .ticket, .session, .user, .location, .body.cart]' <<<"$out")" \
  '[200,true,"valid","found","alice",null,["book","green tea"]]'
out=$("$F" client --run-dir "$RUN" alice get /no-such-page); rc=$?
is "client get /no-such-page: exit 1" "$rc" 1
like "client get /no-such-page: 404 and the node's error" "$out" '^404 node=web[123] .* error="Not found\."$'
out=$("$F" client --run-dir "$RUN" alice post /cart); rc=$?
is "client post /cart (GET only): 405, exit 1" "$rc:${out%% *}" "1:405"

# The jar is curl's: curl -b reads what farmctl wrote, farmctl reads what curl -c wrote.
sn_req GET "$url/whoami" -b "$jar"
is "curl -b jars/alice.txt: whoami answers 200" "$ST" 200
is "curl -b jars/alice.txt: X-Farm-Ticket valid" "$(sn_hdr X-Farm-Ticket)" valid
is "curl -b jars/alice.txt: X-Farm-User alice" "$(sn_hdr X-Farm-User)" alice
sn_req GET "$url/login?user=carol" -c "$RUN/jars/carol.txt"
is "curl -c jars/carol.txt: login 200" "$ST" 200
out=$("$F" client --run-dir "$RUN" carol whoami)
like "client carol whoami: the ticket curl stored is valid" "$out" 'ticket=valid session=found user=carol$'

# Logging out: the ticket is gone from the jar, /account sends to the login page.
"$F" client --run-dir "$RUN" alice logout >/dev/null
out=$("$F" client --run-dir "$RUN" alice account); rc=$?
is "client account after logout: exit 0 (a 302)" "$rc" 0
like "client account after logout: 302 to the login page, ticket absent" "$out" \
  '^302 node=web[123] ticket=absent session=found location=/login\?ReturnUrl=%2faccount$'

# --- load: 1,000 users on the healthy farm ------------------------------------------------------
out=$("$F" load --run-dir "$RUN" --users 1000 --requests 4000 --json); rc=$?
is "load --users 1000 --requests 4000: exit 0" "$rc" 0
ok_if "load --json: parses with jq" jq -e . <<<"$out"
is "load: 4000 requests, 1000 logins, 1000 users" \
  "$(jq -c '[.requests, .logins, .users, .concurrency]' <<<"$out")" '[4000,1000,1000,1000]'
is "load: no errors" "$(jq -c '.errors.total' <<<"$out")" 0
is "load: nobody logged out, no cart lost" \
  "$(jq -c '[.logged_out.users, .logged_out.events, .carts_lost.users, .carts_lost.events]' <<<"$out")" \
  '[0,0,0,0]'
hops=$(jq '.hops.total' <<<"$out")
ok_if "load: users hopped between nodes ($hops hops, round robin per request)" test "$hops" -gt 1000
is "load: no lost hop" "$(jq '.hops.lost' <<<"$out")" 0
is "load: three nodes answered" "$(jq -c '[.nodes[].node] | sort' <<<"$out")" '["web1","web2","web3"]'
ok_if "load: latency percentiles in order" \
  jq -e '.latency_ms | .p50 <= .p90 and .p90 <= .p99 and .p99 <= .max and .p50 > 0' <<<"$out"
like "load: the verdict" "$(jq -r .verdict <<<"$out")" '^no session lost: 1000 users kept their login and their cart over [0-9]+ hops$'
rps=$(jq '.rps' <<<"$out"); p99=$(jq '.latency_ms.p99' <<<"$out")
echo "# healthy: 1000 users, 4000 requests, $rps rps, p99 $p99 ms"

out=$("$F" load --run-dir "$RUN" --users 50 --duration 300ms); rc=$?
is "load --duration 300ms: exit 0" "$rc" 0
like "load (text): the requests line" "$out" '^requests    [0-9]+ in 0\.[0-9]+ s, [0-9]+ rps \(50 logins\)$'
like "load (text): the latency line" "$out" '^latency     p50 [0-9.]+ ms  p90 [0-9.]+ ms  p99 [0-9.]+ ms  max [0-9.]+ ms$'
like "load (text): no errors" "$out" '^errors      none$'
like "load (text): nobody logged out" "$out" '^logged out  0 of 50 users at least once \(0 events\)$'
like "load (text): the verdict line" "$out" '^verdict: no session lost: 50 users'

# Think time: 10 users, 4 requests each, 100 ms between a user's requests: 3 pauses.
out=$("$F" load --run-dir "$RUN" --users 10 --requests 40 --think 100 --json)
ok_if "load --think 100: each user paused between requests (elapsed >= 0.3 s)" \
  jq -e '.elapsed_s >= 0.3 and .requests == 40' <<<"$out"
# Concurrency: at most 5 in flight, still every request answered.
out=$("$F" load --run-dir "$RUN" --users 100 --requests 400 --concurrency 5 --json)
is "load --concurrency 5: 400 requests, no error" "$(jq -c '[.requests, .errors.total, .concurrency]' <<<"$out")" '[400,0,5]'

# Source addresses: lb with affinity single sees 8 clients, which stay each on one node.
lb_must_start lbsingle "${LB_NODE_ARGS[@]}" --affinity single
out=$("$F" load --url "http://${LB_ADDR[lbsingle]}/" --users 200 --requests 800 --source-ips 8 --json)
is "load --source-ips 8 through affinity single: no hop, no error" \
  "$(jq -c '[.hops.total, .errors.total, .source_ips]' <<<"$out")" '[0,0,8]'
ok_if "load --source-ips 8: the users were spread over more than one node" \
  jq -e '(.nodes | length) >= 2' <<<"$out"
out=$("$F" load --url "http://${LB_ADDR[lbsingle]}/" --users 200 --requests 800 --json)
is "load from one address through affinity single: one node answers" "$(jq '.nodes | length' <<<"$out")" 1

# Transport errors: nothing listens at a stopped node's address.
sn_must_start gone --name gone --machine-key "$T/farm.config"
gone=${SN_ADDR[gone]}
sn_stop gone
out=$("$F" load --url "http://$gone/" --users 5 --requests 20 --json); rc=$?
is "load against a closed port: exit 1 (transport errors over 1 %)" "$rc" 1
is "... every request a transport error" "$(jq -c '[.requests, .errors.transport]' <<<"$out")" '[20,20]'
like "... the verdict says no answer" "$(jq -r .verdict <<<"$out")" '^no answer'

# --- load: web3 on AutoGenerate -----------------------------------------------------------------
cat >"$T/auto.config" <<'EOF'
<machineKey validationKey="AutoGenerate,IsolateApps" decryptionKey="AutoGenerate,IsolateApps" compatibilityMode="Framework45"/>
EOF
sn_must_start ss2 --state-server
sn_must_start a1 --name web1 --machine-key "$T/farm.config" --session "stateserver=${SN_ADDR[ss2]}"
sn_must_start a2 --name web2 --machine-key "$T/farm.config" --session "stateserver=${SN_ADDR[ss2]}"
sn_must_start a3 --name web3 --machine-key "$T/auto.config" --session "stateserver=${SN_ADDR[ss2]}"
lb_must_start lbauto --node "web1=${SN_ADDR[a1]}" --node "web2=${SN_ADDR[a2]}" --node "web3=${SN_ADDR[a3]}"
RUN2=$T/run-auto
make_run_dir "$RUN2" lbauto

out=$("$F" load --run-dir "$RUN2" --users 1000 --requests 4000 --json); rc=$?
is "AutoGenerate: load exits 0 (it ran; the report tells)" "$rc" 0
ok_if "AutoGenerate: --json parses with jq" jq -e . <<<"$out"
is "AutoGenerate: 4000 requests, no HTTP or transport error" "$(jq -c '[.requests, .errors.total]' <<<"$out")" '[4000,0]'
is "AutoGenerate: the report blames web3 for the logouts" "$(jq -c .logged_out.blame <<<"$out")" '["web3"]'
is "AutoGenerate: every logout is mac-mismatch" \
  "$(jq -c '[.logged_out.by_hop[].why] | unique' <<<"$out")" '["mac-mismatch"]'
is "AutoGenerate: every lost hop goes to or comes from web3" \
  "$(jq -c '[.logged_out.by_hop[] | select(.from != "web3" and .to != "web3")] | length' <<<"$out")" 0
is "AutoGenerate: web3 rejected every ticket web1 and web2 issued" \
  "$(jq -c '.nodes[] | select(.node == "web3") | .tickets_by_issuer | [.web1.rejected == .web1.checked, .web2.rejected == .web2.checked, .web1.checked > 0]' <<<"$out")" \
  '[true,true,true]'
is "AutoGenerate: web1 and web2 accept each other's tickets" \
  "$(jq -c '[.nodes[] | select(.node != "web3") | .tickets_by_issuer | to_entries[] | select(.key != "web3") | .value.rejected] | add' <<<"$out")" 0
ok_if "AutoGenerate: about a third of the hops go to web3 ($(jq -c '[.nodes[] | select(.node == "web3") | .hops_to.hops][0]' <<<"$out") of $(jq .hops.total <<<"$out"))" \
  jq -e '(.nodes[] | select(.node == "web3") | .hops_to.hops) / .hops.total | . > 0.25 and . < 0.42' <<<"$out"
is "AutoGenerate: every hop to web3 loses the ticket, but logins (they carry none)" \
  "$(jq -c '.nodes[] | select(.node == "web3") | .hops_to | [.lost_ticket == .hops - .logins, .lost_ticket > 0]' <<<"$out")" \
  '[true,true]'
frac=$(jq '.hops.lost_ticket / .hops.total' <<<"$out")
ok_if "AutoGenerate: a third to two thirds of all hops lose the ticket ($frac): to web3, and from it with its tickets" \
  jq -e '.hops.lost_ticket / .hops.total | . > 0.3 and . < 0.65' <<<"$out"
ok_if "AutoGenerate: hundreds of users logged out" jq -e '.logged_out.users > 300' <<<"$out"
is "AutoGenerate: the shared session survives (no cart lost)" "$(jq '.carts_lost.events' <<<"$out")" 0
like "AutoGenerate: the verdict names web3" "$(jq -r .verdict <<<"$out")" \
  '^sessions break at web3: [0-9]+ of [0-9]+ hops \([0-9.]+%\) lost the ticket \(mac-mismatch\)'
echo "# AutoGenerate: $(jq -r .verdict <<<"$out")"

out=$("$F" load --run-dir "$RUN2" --users 1000 --requests 4000); rc=$?
is "AutoGenerate (text): exit 0" "$rc" 0
is "AutoGenerate (text): under 'lost hops by node', web3 comes first" \
  "$(grep -A1 '^lost hops by node:$' <<<"$out" | tail -n 1 | cut -d: -f1)" "  web3"
like "AutoGenerate (text): web3 rejected every ticket web1 and web2 issued" "$out" \
  '^  web3: [0-9]+ of [0-9]+ hops to web3 lost the ticket \(mac-mismatch\): it rejected ([0-9]+) of \1 tickets issued by web1, web2$'
like "AutoGenerate (text): web1 rejected only tickets web3 issued" "$out" \
  '^  web1: [0-9]+ of [0-9]+ hops to web1 lost the ticket \(mac-mismatch\): it rejected ([0-9]+) of \1 tickets issued by web3$'
like "AutoGenerate (text): the logout table has web1 -> web3" "$out" \
  '^  web1 -> web3 +mac-mismatch +[0-9]+  [0-9.]+s-[0-9.]+s$'
unlike "AutoGenerate (text): ... and no hop between web1 and web2" "$out" '^  web[12] -> web[12] '
like "AutoGenerate (text): the verdict line" "$out" '^verdict: sessions break at web3: '

lb_finish
