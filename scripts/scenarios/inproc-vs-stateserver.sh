#!/usr/bin/env bash
# InProc against StateServer. With InProc sessions (ASP.NET's default) the cart lives in
# the memory of the node that made it: round robin sends the user to another node, which
# has never heard of the session id ("lost"). With a state server every node finds it.
. "$(dirname "$0")/../lib/farm.sh"

# three_carts USER: three cart requests, one per node; counts those showing the book.
three_carts() {
  local i
  with_book=0 lost=0
  for i in 1 2 3; do
    user "$1" cart
    jqt '.body.cart | index("book") != null' <<<"$LAST" && with_book=$((with_book + 1))
    [ "$LAST_SESSION" = lost ] && lost=$((lost + 1))
  done
}

step "InProc (farms/healthy.ini): one key, sessions in each node's memory"
farm_up healthy
user_until web1 alice login
user alice add book
expect_node web2
expect_session lost "alice add book: web2 does not know the session web1 made (lost)"
expect_cart_has book "alice add book: web2 starts an empty session and puts the book in it"
three_carts alice
expect_eq "the book shows on one node of three (web2's memory)" "$with_book" 1
check "the session was lost on at least one node ($lost)" test "$lost" -ge 1
user alice account
expect_logged_in "alice account: still logged in: the ticket is not in the session"

step "A population over InProc: every hop loses the cart"
load --users 100 --requests 1000
expect_load_carts_lost
expect_load_no_logout
expect_jq "the report says InProc" "$LOAD" '.verdict | test("InProc")'

step "StateServer (farms/stateserver.ini): the same farm, sessions on a state server"
farm_up stateserver
user alice login
user alice add book
expect_session found "alice add book: the state server has the session (found)"
three_carts alice
expect_eq "the book shows on all three nodes" "$with_book" 3
expect_eq "no node lost the session" "$lost" 0
expect_jq "the state server holds one application's sessions" \
  "$(curl -s "http://$(stateserver_addr)/_farm/info")" '.apps | keys == ["/LM/W3SVC/1/ROOT"]'

step "A population over StateServer: no session lost"
load --users 100 --requests 1000
expect_load_no_lost_session
finish
