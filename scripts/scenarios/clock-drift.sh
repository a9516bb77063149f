#!/usr/bin/env bash
# Clock drift: a ticket's expiry is judged by the clock of the node that checks it. When
# web3's clock runs 31 minutes ahead, web3 finds every fresh 30-minute ticket expired, and
# only web3 does.
. "$(dirname "$0")/../lib/farm.sh"

step "A healthy farm; alice logs in on web1 (her ticket lasts 30 minutes)"
farm_up healthy
user_until web1 alice login
expect_logged_in

step "web3's clock jumps 31 minutes ahead (no NTP on web3)"
node_clock web3 advance=31m

step "alice hops: web2 accepts her ticket, web3 finds it expired"
user alice account
expect_node web2
expect_logged_in
user alice account
expect_node web3
expect_logged_out
expect_ticket expired

step "lb traced it: the ticket's last verdict, on web3, is expired"
expect_jq "lb's trace: alice's ticket was refused by web3 as expired" "$(lb_sessions)" \
  'any(.sessions[]; .cookie == ".ASPXAUTH" and .user == "alice" and .last_node == "web3"
       and .last_verdict == "expired")'
finish
