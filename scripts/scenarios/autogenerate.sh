#!/usr/bin/env bash
# One node left on AutoGenerate (farms/autogenerate.ini): web3 never got the farm's
# <machineKey>, so it invents keys of its own. With round robin, a logged-in user is sent
# to the login page on every visit to web3 (X-Farm-Ticket: mac-mismatch), and a user who
# logged in on web3 is logged out everywhere else. lb's matrix names web3.
. "$(dirname "$0")/../lib/farm.sh"

step "web1 and web2 share the farm's key; web3 runs on AutoGenerate,IsolateApps"
farm_up autogenerate
expect_keys_differ web3
farm keys
check "farmctl keys finds incompatible pairs (exit 1)" test "$?" = 1

step "alice logs in on web1, then visits /account six times: two rounds of web1, web2, web3"
user_until web1 alice login
expect_logged_in
for _ in 1 2; do
  for node in web2 web3 web1; do
    user alice account
    expect_node $node
    if [ $node = web3 ]; then
      expect_logged_out
      expect_ticket mac-mismatch
    else
      expect_logged_in
    fi
  done
done

step "bob logs in on web3: now web1 and web2 are the ones that reject him"
user_until web3 bob login
expect_logged_in
user bob account
expect_node web1
expect_logged_out
user bob account
expect_node web2
expect_logged_out
user bob account
expect_node web3
expect_logged_in "bob account: web3 accepts its own ticket"

step "lb's session trace: every rejected pair has web3 at one end"
show_matrix
expect_matrix_rejects web1 web3
expect_matrix_rejects web3 web1
expect_matrix_accepts web1 web2
expect_matrix_names web3

step "A population: about a third of the hops go to web3 and lose the login"
load --users 300 --requests 3000
expect_load_logouts
expect_load_lost_hops_to web3
expect_load_lost_hop web1 web3
expect_jq "the report blames web3 alone" "$LOAD" '.logged_out.blame == ["web3"]'
finish
