#!/usr/bin/env bash
# The site-ID trap (farms/app-path-mismatch.ini): the same keys and a shared state server,
# but web3 hosts the site as IIS site 2 (/LM/W3SVC/2/ROOT). The state server files
# sessions under application path + session id, so web3 asks for another application's
# sessions: the cart is "lost" on every visit to web3, while the login is fine.
. "$(dirname "$0")/../lib/farm.sh"

step "web1 and web2 run the shop as /LM/W3SVC/1/ROOT, web3 as /LM/W3SVC/2/ROOT"
farm_up app-path-mismatch
expect_keys_differ
expect_jq "web3's app path is /LM/W3SVC/2/ROOT" "$(node_info web3)" '.app_path == "/LM/W3SVC/2/ROOT"'

step "alice logs in on web1 and puts a book in the cart on web2"
user_until web1 alice login
user alice add book
expect_node web2
expect_session found
expect_cart_has book

step "Her cart on each node: web3 finds nothing"
user alice cart
expect_node web3
expect_logged_in "alice cart: web3 accepts her ticket (same keys)"
expect_session lost "alice cart: but the state server has no such session for web3's app path"
expect_cart_lacks book
user alice cart
expect_node web1
expect_session found
expect_cart_has book "alice cart: web1 still sees the book"

step "What the state server holds: two applications where there should be one"
ss=$(curl -s "http://$(stateserver_addr)/_farm/info")
note "apps: $(jq -c .apps <<<"$ss")"
expect_jq "the state server has sessions under both app paths" "$ss" \
  '.apps | has("/LM/W3SVC/1/ROOT") and has("/LM/W3SVC/2/ROOT")'

step "A population: carts are lost on the hops to (and from) web3; nobody is logged out"
load --users 150 --requests 1500
expect_load_no_logout
expect_load_carts_lost
expect_load_lost_hops_to web3
expect_jq "every lost cart was on a hop to or from web3" "$LOAD" \
  '(.carts_lost.by_hop | length > 0) and all(.carts_lost.by_hop[]; .from == "web3" or .to == "web3")'
finish
