#!/usr/bin/env bash
# Drainstop against stop. NLB's drainstop (lb's drain) takes a node out of rotation for
# new clients only: users already bound to it keep going there, and requests in flight
# finish; once they have finished, the node stops by itself. Stop cuts everything at once:
# the request in flight is lost, and the node's users land on other nodes, where their
# InProc session does not exist.
#
# The farm binds users with lb's affinity cookie (FARMLB): the scripted users all come
# from 127.0.0.1, so address affinity would put every one of them on the same node. Its
# drain-quiet is 3 s instead of 10 s: a draining node that has had no request for 3 s is
# taken to have no user left (longer than the 1 s request the first drain waits for).
. "$(dirname "$0")/../lib/farm.sh"

quiet=3
step "Three nodes, one key, InProc sessions, lb's affinity cookie keeps each user on one node"
farm_up healthy affinity=cookie drain-quiet=${quiet}s

step "Four users log in and put a book in the cart; round robin spreads them"
on_web2=
for u in ann ben cat dan; do
  quietly user $u login
  user $u add book
  [ "$LAST_NODE" = web2 ] && [ -z "$on_web2" ] && on_web2=$u
done
[ -n "$on_web2" ] || bail_out "nobody landed on web2"
note "$on_web2 is on web2"

step "Drainstop web2 while $on_web2's request is in flight (a 1 s latency fault keeps it there)"
farm fault web2 latency=1s
user_bg "$on_web2" cart
wait_in_flight web2 || note "no request in flight on web2"
farm drain web2
expect_node_state web2 draining
user_wait
expect_status 200 "$on_web2's request in flight on web2 finished (HTTP 200)"
expect_node web2
expect_cart_has book
farm fault web2 clear

step "While web2 drains, its users stay on it; new users go elsewhere"
user "$on_web2" cart
expect_node web2 "$on_web2 cart: still served by web2 (bound by the cookie)"
expect_session found
expect_cart_has book
for u in eve fay gus; do
  user $u login
  expect_not_node web2 "new user $u: not sent to the draining web2 (got $LAST_NODE)"
done

step "A population of 90 users; web2 is drained in the middle of the run"
farm start web2
load_bg --users 90 --duration 2s --think 10
wait_logins 90 || note "lb did not see 90 logins"
farm drain web2
before=$(node_stat web2 requests)
load_wait
after=$(node_stat web2 requests)
expect_load_no_lost_session
check "web2 kept serving its users while draining ($((after - before)) requests)" test "$after" -gt "$before"
expect_node_state web2 draining "web2 is still draining when its users have just finished"

step "Its users have finished: the drain ends by itself, as NLB's drainstop does"
farm drain web2 --wait --timeout 15s
rc=$?
expect_eq "farmctl drain web2 --wait returned once lb had drained web2 (exit $rc)" "$rc" 0
expect_node_state web2 stopped
expect_node_reason web2 drained
web2_json=$(curl -s --max-time 5 "http://$FARM_ADMIN/nodes/web2")
gap=$(seconds_between "$(jq -r '.last_request // empty' <<<"$web2_json")" "$(jq -r '.since // empty' <<<"$web2_json")")
expect_at_least "web2 stopped no sooner than ${quiet} s after its last request (${gap:-?} s)" \
  "$gap" "$quiet"

step "Now stop web2 (no drain) while $on_web2's request is in flight (a 3 s latency fault)"
farm start web2
quietly user "$on_web2" cart
farm fault web2 latency=3s
t0=$(_farm_usec)
user_bg "$on_web2" cart
wait_in_flight web2 || note "no request in flight on web2"
farm stop web2
expect_node_state web2 stopped
user_wait
ms=$((($(_farm_usec) - t0) / 1000))
check "the request in flight was cut (HTTP $LAST_STATUS, not 200)" test "$LAST_STATUS" != 200
check "it was cut at the stop, not answered after the fault's 3 s (${ms} ms)" test "$ms" -lt 2500
user "$on_web2" cart
expect_not_node web2 "$on_web2 cart: moved to $LAST_NODE"
expect_session lost "$on_web2 cart: the InProc session stayed on web2 (lost on $LAST_NODE)"
expect_cart_lacks book
farm fault web2 clear

step "The population again; this time web2 is stopped in the middle of the run"
farm start web2
load_bg --users 90 --duration 2s --think 10
wait_logins 90 || note "lb did not see 90 logins"
farm stop web2
load_wait
expect_load_carts_lost
expect_jq "every lost cart was on a hop away from web2" "$LOAD" \
  '(.carts_lost.by_hop | length > 0) and all(.carts_lost.by_hop[]; .from == "web2")'
expect_load_no_logout "nobody was logged out (the nodes share one key)"
finish
