#!/usr/bin/env bash
# farmlab's narrated walk-through (make farm-demo): why every server of a web farm needs the
# same <machineKey>, in four short acts on real sim-nodes behind lb, on this machine.
#   1. a healthy farm: a session hops across three nodes with matching keys
#   2. one node left on AutoGenerate: logged out on every visit to it, "Validation of
#      viewstate MAC failed" on a post-back, and lb's matrix naming the node
#   3. the fix: one <machineKey> made here with `farmctl key generate`, on every node;
#      then a drainstop in which nobody loses a session
#   4. InProc sessions against a state server
# Under a minute once built. Colour on a terminal (not with NO_COLOR), plain text otherwise.
# Every claim it makes is checked; it exits 0 when all of them held.
set -u
FARM_STYLE=story
. "$(dirname "$0")/lib/farm.sh"

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  B=$'\033[1m' H=$'\033[1;35m' C=$'\033[33m' O=$'\033[0m'
else
  B='' H='' C='' O=''
fi

act() { printf '\n%s== %s ==%s\n' "$H" "$*" "$O"; }
say() { printf '%s\n' "$*" | fold -s -w 92; }
cmd() { printf '  %s$ %s%s\n' "$C" "$*" "$O"; }

# The farm files, as a reader would type them.
rel() { printf 'farms/%s.ini' "$1"; }

printf '%sfarmlab demo%s — why every server of a web farm needs the same <machineKey>\n' "$B" "$O"
say "Three simulated ASP.NET servers (sim-node) behind a load balancer (lb) that sends every \
request to the next server, as NLB with affinity None or a proxy without stickiness would. \
Each answer says which node served it and what that node thought of the user's ticket."

# --- 1 -------------------------------------------------------------------------------------
act "1. A healthy farm: three nodes, one key"
cmd "farmctl up $(rel healthy)"
farm_up healthy
cmd "farmctl client alice login; farmctl client alice account   # six times"
user alice login
valid=0 seen=" "
for i in 1 2 3 4 5 6; do
  user alice account
  [ "$LAST_TICKET" = valid ] && [ "$LAST_STATUS" = 200 ] && valid=$((valid + 1))
  [[ $seen == *" $LAST_NODE "* ]] || seen+="$LAST_NODE "
done
expect_eq "alice stayed logged in on all six requests, served by${seen% }" "$valid" 6
check "every node served her" test "$(wc -w <<<"$seen")" = 3
say "A forms ticket is signed and encrypted with the <machineKey>; any node with the same \
key can read it, so hopping is harmless."

# --- 2 -------------------------------------------------------------------------------------
act "2. The same farm, web3 left on AutoGenerate"
say "web3 was installed from the standard image and never got the farm's <machineKey>: \
ASP.NET's default, AutoGenerate,IsolateApps, makes random keys of its own."
cmd "farmctl up $(rel autogenerate)"
farm_up autogenerate
cmd "farmctl status"
farm status
cmd "farmctl client alice login; farmctl client alice account   # six times"
user_until web1 alice login
out=0 out_on_web3=0 in=0
for i in 1 2 3 4 5 6; do
  user alice account
  if [ "$LAST_TICKET" = valid ]; then
    in=$((in + 1))
  else
    out=$((out + 1))
    [ "$LAST_NODE" = web3 ] && out_on_web3=$((out_on_web3 + 1))
  fi
done
expect_eq "alice was sent to the login page on every visit to web3 ($out_on_web3 of 6 requests)" \
  "$out_on_web3" 2
expect_eq "and only there: web1 and web2 accepted her ($in of 6)" "$in" 4
say "No error anywhere: ASP.NET drops a ticket it cannot verify and treats the user as \
anonymous. A 302 to the login page is all anyone sees of it: the \"random logout\"."

step "A Web Forms post-back: the form comes from web1, the post-back lands on web3"
cmd "curl -b jar http://WEB1/form    # then POST its __VIEWSTATE to web2 and to web3"
form alice web1
postback alice web2
expect_viewstate valid "the post-back to web2 (same key) is accepted"
postback alice web3
expect_status 500 "the post-back to web3 fails with HTTP 500"
expect_body_has "Validation of viewstate MAC failed" \
  "\"Validation of viewstate MAC failed. ... AutoGenerate cannot be used in a cluster.\""

step "What lb saw: which node issued each ticket, which node refused it"
cmd "curl http://ADMIN/matrix    # lb's admin API"
show_matrix
expect_matrix_names web3 "every refused pair has web3 at one end: lb's matrix names web3"
cmd "farmctl keys"
farm keys
cmd "farmctl load --users 300 --requests 3000"
load --users 300 --requests 3000
expect_load_lost_hops_to web3 \
  "a population of 300 users: $(jq -r '.hops.lost_ticket' <<<"$LOAD") of $(jq -r '.hops.total' <<<"$LOAD") hops lost the login, and the report names web3"

# --- 3 -------------------------------------------------------------------------------------
act "3. The fix: one <machineKey>, made here, on every node"
say "Make the key on a machine you control (never copy one from a web page or an online \
generator), and give the same element to every server."
cmd "farmctl key generate > farm.config"
key=$(new_key farm)
cmd "farmctl key fingerprint farm.config     # what the key is, without showing it"
"$FARMCTL" key fingerprint "$key" | sed "s|$key|farm.config|" | _farm_show
cmd "farmctl rekey web1 farm.config; farmctl rekey web2 farm.config; farmctl rekey web3 farm.config"
for n in web1 web2 web3; do farm rekey $n "$key"; done
expect_keys_differ
cmd "farmctl load --users 300 --requests 3000"
load --users 300 --requests 3000
expect_load_no_logout "the same population: nobody logged out any more"
say "(Rekeying logs out everyone whose ticket was issued under the old keys, as on real \
servers: see scripts/scenarios/key-rotation.sh for which order costs least.)"

step "Maintenance on web2: a drainstop while 90 users shop"
say "The fixed farm behind lb's affinity cookie, each user on one node. Drain web2 in the \
middle of a load: it takes no new users, and its own users carry on."
cmd "farmctl up fixed.ini   # autogenerate.ini, farm.config on every node, affinity = cookie"
farm_up autogenerate --as fixed affinity=cookie \
  web1.machine-key="$key" web2.machine-key="$key" web3.machine-key="$key"
cmd "farmctl load --users 90 --duration 2s --think 10 &   farmctl drain web2"
load_bg --users 90 --duration 2s --think 10
wait_logins 90 || note "lb did not see 90 logins"
farm drain web2
before=$(node_stat web2 requests)
load_wait
after=$(node_stat web2 requests)
expect_load_no_lost_session "nobody lost a login or a cart while web2 drained"
check "web2 kept serving its own users meanwhile ($((after - before)) requests)" test "$after" -gt "$before"
expect_node_state web2 draining "web2 is draining: ready to be stopped once its users are gone"

# --- 4 -------------------------------------------------------------------------------------
act "4. InProc sessions against a state server"
say "The ticket proves who you are; the cart lives in the session. ASP.NET's default, \
InProc, keeps it in one server's memory."
cmd "farmctl up $(rel healthy); farmctl client bob login; farmctl client bob add book; farmctl client bob cart  # x3"
farm_up healthy
quietly user bob login
user bob add book
with_book=0
for i in 1 2 3; do
  user bob cart
  jqt '.body.cart | index("book") != null' <<<"$LAST" && with_book=$((with_book + 1))
done
expect_eq "InProc: the book shows on one node of three" "$with_book" 1
cmd "farmctl up $(rel stateserver)   # the same, with a session state server"
farm_up stateserver
quietly user bob login
user bob add book
with_book=0
for i in 1 2 3; do
  user bob cart
  jqt '.body.cart | index("book") != null' <<<"$LAST" && with_book=$((with_book + 1))
done
expect_eq "StateServer: the book shows on all three" "$with_book" 3
load --users 300 --requests 3000
expect_load_no_lost_session "300 users over the state-server farm: no login, no cart lost"

# --- summary --------------------------------------------------------------------------------
act "Summary"
say "- Every server of a farm needs the same <machineKey> (all of validationKey, decryptionKey, \
validation, decryption, compatibilityMode), written explicitly: no AutoGenerate, no IsolateApps."
say "- Make it yourself with farmctl key generate; never use a published key."
say "- Sessions belong on a state server (with the same IIS site ID on every node), not InProc."
say "- Affinity hides a key mismatch until a node fails; drainstop, not stop, for maintenance."
echo
printf '%sTry it by hand%s (put build/bin on your PATH; the farm runs in ./.farm):\n' "$B" "$O"
cat <<'EOF'
  farmctl up farms/autogenerate.ini        # also: healthy, decryption-mismatch,
  farmctl status                           #       stateserver, app-path-mismatch
  farmctl keys
  farmctl client alice login
  farmctl client alice account             # repeat: every third request is a 302
  farmctl load --users 1000 --duration 10s
  farmctl fault web3 lying-health          # or latency=200ms, health-down, clear
  farmctl drain web2; farmctl stop web2; farmctl start web2; farmctl kill web2
  farmctl down

The scenarios, each a short script with assertions (TAP):
  scripts/scenarios/healthy-round-robin.sh     a session survives 30 hops
  scripts/scenarios/autogenerate.sh            logged out on every visit to the AutoGenerate node
  scripts/scenarios/decryption-mismatch.sh     half a key: bad-ticket
  scripts/scenarios/drainstop-vs-stop.sh       drain keeps sessions, stop cuts requests
  scripts/scenarios/node-crash.sh              a node dies, traffic continues, it comes back
  scripts/scenarios/inproc-vs-stateserver.sh   where the cart lives
  scripts/scenarios/app-path-mismatch.sh       the site-ID trap on the state server
  scripts/scenarios/affinity-hides-mismatch.sh fine until a node fails
  scripts/scenarios/key-rotation.sh            rolling a new key: what it costs, in which order
  scripts/scenarios/lying-health.sh            a health check that lies
  scripts/scenarios/clock-drift.sh             one node's clock runs ahead
Write your own: docs/scenarios.md. The story behind it: docs/why-keys-must-match.md.
EOF
echo
finish
