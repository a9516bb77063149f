#!/usr/bin/env bash
# A node crashes (SIGKILL). lb retries the requests it could not connect to on the other
# nodes, so traffic continues; its health checks mark the node down. Sessions live on the
# state server, so nobody notices. Restarted, the node passes its checks and comes back.
. "$(dirname "$0")/../lib/farm.sh"

step "Three nodes, one key, sessions on a state server (farms/stateserver.ini)"
farm_up stateserver
user alice login
user alice add book
expect_cart_has book

step "web2 crashes"
farm kill web2

step "alice carries on: six requests, every one answered, by web1 or web3"
answered=0 from_web2=0 with_book=0
for i in 1 2 3 4 5 6; do
  user alice cart
  [ "$LAST_STATUS" = 200 ] && answered=$((answered + 1))
  [ "$LAST_NODE" = web2 ] && from_web2=$((from_web2 + 1))
  jqt '.body.cart | index("book") != null' <<<"$LAST" && with_book=$((with_book + 1))
done
expect_eq "all six requests were answered (200)" "$answered" 6
expect_eq "none by web2" "$from_web2" 0
expect_eq "the cart had the book every time (state server)" "$with_book" 6

step "lb's health checks mark web2 down"
wait_node_state web2 down 5
expect_node_state web2 down
expect_jq "farmctl status: web2's process is gone" "$("$FARMCTL" status --json)" \
  '.nodes[] | select(.name == "web2") | .alive == false'

step "A population of 100 users while web3 crashes in the middle of the run"
load_bg --users 100 --duration 2s --think 5
wait_logins 100 || note "lb did not see 100 logins"
farm kill web3
load_wait
expect_load_no_lost_session "load: no session lost when web3 crashed"
note "errors: $(jq -c '.errors | {by_status, by_transport_error}' <<<"$LOAD")"
expect_load_errors_at_most 34 \
  "load: at most one error per web3 user ($(jq -r .errors.total <<<"$LOAD"): POSTs in flight on web3, which lb may not retry)"
wait_node_state web3 down 5
expect_node_state web3 down

step "Restart web2 and web3: they pass their checks and come back into rotation"
farm restart web2
farm restart web3
wait_node_state web2 up 5
wait_node_state web3 up 5
expect_node_state web2 up
expect_node_state web3 up
user_until web2 alice cart
expect_node web2
expect_logged_in
expect_cart_has book
finish
