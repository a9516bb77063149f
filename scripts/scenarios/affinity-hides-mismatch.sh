#!/usr/bin/env bash
# Affinity hides a key mismatch until a node fails (the Wednesday and Thursday of
# docs/why-keys-must-match.md). With NLB's affinity Single, a client stays on one node, so
# a ticket never meets a node with other keys and nobody is logged out. The day that node
# fails, its users move, and those who land on the odd node are logged out.
. "$(dirname "$0")/../lib/farm.sh"

step "Three nodes with one key behind lb with affinity single (by client address)"
farm_up healthy affinity=single

step "Setup: which node serves 127.0.0.1, and which one takes over when it fails?"
user probe whoami
home=$LAST_NODE
quietly farm stop "$home"
user probe whoami
heir=$LAST_NODE
quietly farm start "$home"
note "127.0.0.1 is served by $home; if $home fails, by $heir"

step "$heir is rebuilt from the standard image: no <machineKey>, so AutoGenerate"
farm rekey "$heir" "$FARMS/keys/autogenerate.config"
expect_keys_differ "$heir"

step "alice logs in and works for a while: every request stays on $home, all is well"
user alice login
expect_node "$home"
ok_requests=0
for i in $(seq 1 10); do
  quietly user alice account
  [ "$LAST_NODE" = "$home" ] && [ "$LAST_TICKET" = valid ] && ok_requests=$((ok_requests + 1))
done
expect_eq "10 requests, all on $home, all logged in" "$ok_requests" 10
expect_jq "lb's matrix shows no rejected ticket: the mismatch is invisible" "$(matrix)" \
  '[.cells[] | select(.cookie == ".ASPXAUTH" and .rejected > 0)] | length == 0'

step "$home crashes; alice's next request goes to $heir"
farm kill "$home"
user alice account
expect_node "$heir"
expect_logged_out
expect_ticket mac-mismatch
expect_matrix_rejects "$home" "$heir"

step "A population on farms/autogenerate.ini (web3 odd), affinity single, 64 source addresses"
farm_up autogenerate affinity=single
load --users 128 --source-ips 64 --duration 1s --think 10
expect_load_no_logout "load: nobody logged out: nobody ever reaches another node"
expect_jq "no hops at all" "$LOAD" '.hops.total == 0'

step "The same population again, and web1 crashes in the middle of the run"
load_bg --users 128 --source-ips 64 --duration 2s --think 10
wait_logins 128 || note "lb did not see 128 logins"
farm kill web1
load_wait
expect_load_logouts
expect_jq "web1's users who landed on web3 were logged out (mac-mismatch)" "$LOAD" \
  'any(.logged_out.by_hop[]; .from == "web1" and .to == "web3" and .why == "mac-mismatch")'
expect_jq "every logout was on a hop to or from web3, the odd node" "$LOAD" \
  '(.logged_out.by_hop | length > 0) and all(.logged_out.by_hop[]; .to == "web3" or .from == "web3")'
expect_jq "web1's users who moved to web2 kept their login" "$LOAD" \
  'any(.hops.pairs[]; .from == "web1" and .to == "web2" and .hops > 0 and .lost_ticket == 0)'
finish
