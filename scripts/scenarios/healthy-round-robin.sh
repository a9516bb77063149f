#!/usr/bin/env bash
# Healthy round robin: three nodes with one <machineKey> behind lb, which sends every
# request to the next node (the hardest test a farm can get). A forms ticket issued by any
# node validates on all of them, so a logged-in user survives 30 hops without noticing.
# With a state server behind the nodes, the cart survives them too.
. "$(dirname "$0")/../lib/farm.sh"

# hop30 USER ACTION: 30 requests; counts hops, valid tickets and carts with 'book'.
hop30() {
  local i prev=$LAST_NODE
  valid=0 hops=0 carts=0 seen=" " bad=()
  for i in $(seq 1 30); do
    quietly user "$@"
    [ "$LAST_NODE" != "$prev" ] && hops=$((hops + 1))
    prev=$LAST_NODE
    [[ $seen == *" $LAST_NODE "* ]] || seen+="$LAST_NODE "
    if [ "$LAST_STATUS" = 200 ] && [ "$LAST_TICKET" = valid ]; then
      valid=$((valid + 1))
    else
      bad+=("request $i: $(last_line)")
    fi
    jqt '.body.cart | arrays | index("book") != null' <<<"$LAST" && carts=$((carts + 1))
  done
  note "30 requests, $hops hops, nodes:$seen"
}

step "A healthy farm: web1, web2, web3 share one <machineKey>; lb round-robins every request"
farm_up healthy
expect_keys_differ

step "alice logs in, then asks for the protected page 30 times: every request hops"
user alice login
expect_logged_in
first=$LAST_NODE
hop30 alice account
expect_eq "alice's ticket was valid on all 30 requests" "$valid" 30 || printf '#   %s\n' "${bad[@]}"
expect_eq "she hopped on every request (30 hops)" "$hops" 30
check "all three nodes served her" test "$(wc -w <<<"$seen")" = 3

step "lb saw every node accept the tickets $first issued"
expect_matrix_accepts "$first" web1
expect_matrix_accepts "$first" web2
expect_matrix_accepts "$first" web3

step "The same farm with a state server (farms/stateserver.ini): the cart hops too"
farm_up stateserver
user bob login
user bob add book
expect_cart_has book
hop30 bob cart
expect_eq "bob's ticket was valid on all 30 requests" "$valid" 30 || printf '#   %s\n' "${bad[@]}"
expect_eq "his cart had the book on all 30" "$carts" 30
expect_eq "he hopped on every request" "$hops" 30

step "A population: 300 users, 3000 requests, round robin per request"
load --users 300 --requests 3000
expect_load_no_lost_session
expect_load_errors_at_most 0
finish
