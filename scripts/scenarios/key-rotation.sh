#!/usr/bin/env bash
# Rolling key rotation. A farm moves from its old <machineKey> (A) to a new one (B) made
# with `farmctl key generate`, one node at a time. ASP.NET's <machineKey> holds exactly one
# key: a node cannot accept A and B at once (ASP.NET Core's key ring can; classic ASP.NET
# cannot), so every ticket issued under A dies with the last A node, and every user
# logged in before the rotation logs in once more, whatever the order. What the order and
# the balancing decide is how often and how: with round robin, every moment of the mixed
# farm logs users out, again and again, in both directions; behind affinity, drain ->
# rekey -> start costs each user exactly one login, and nothing else.
. "$(dirname "$0")/../lib/farm.sh"

B=$(new_key rotated)

# rotate HOW: the three nodes one after the other (each: HOW NODE, rekey, start),
# letting the population of a background load send 800 requests between two nodes.
rotate() {
  local how=$1 n
  for n in web1 web2 web3; do
    [ "$how" = rekey ] || quietly farm "$how" $n
    quietly farm rekey $n "$B"
    [ "$how" = rekey ] || quietly farm start $n
    wait_requests 800 || note "the load did not make progress"
  done
}

# --- round robin ---------------------------------------------------------------------
step "Round robin per request; web1, web2, web3 on key A; alice logs in (an A ticket)"
farm_up healthy
user alice login
expect_logged_in

step "web1 gets key B first. alice's A ticket is now refused by web1, and only by web1"
farm rekey web1 "$B"
user_until web1 alice account
expect_logged_out
expect_ticket mac-mismatch
user alice account
expect_node web2
expect_logged_in "alice account: web2 (still on A) accepts her"

step "bob logs in on web1 and gets a B ticket: the A nodes refuse it. Both directions break"
user_until web1 bob login
expect_logged_in
user bob account
expect_node web2
expect_logged_out

step "A population of 100 users through a whole rotation, round robin"
farm_up healthy
load_bg --users 100 --requests 6000 --think 20
wait_logins 100 || note "lb did not see 100 logins"
rotate rekey
load_wait
rr_events=$(jq -r .logged_out.events <<<"$LOAD")
expect_jq "every user was logged out" "$LOAD" '.logged_out.users == .users'
expect_jq "and most of them more than once ($rr_events logouts for 100 users)" "$LOAD" \
  '.logged_out.events > 2 * .users'

# --- affinity + drain ------------------------------------------------------------------
step "Behind affinity (lb's cookie): each user stays on the node that logged them in"
farm_up healthy affinity=cookie
declare -A home
for u in ann ben cat; do
  quietly user $u login
  home[$u]=$LAST_NODE
  note "$u lives on $LAST_NODE"
done

for n in web1 web2 web3; do
  step "Drain $n, give it key B, start it again"
  farm drain $n
  farm rekey $n "$B"
  farm start $n
  for u in ann ben cat; do
    user $u account
    if [ "${home[$u]}" = "$n" ]; then
      expect_logged_out "$u account: drain does not move $u: $n, now on B, refuses the A ticket"
      user $u login
      expect_node $n "$u logs in again, on $n, and gets a B ticket"
    else
      expect_logged_in "$u account: still on ${home[$u]}, logged in"
    fi
  done
done
check "after the rotation everyone is logged in" bash -c '
  for u in ann ben cat; do "$FARMCTL" client $u account >/dev/null || exit 1; done'
expect_keys_differ

step "A population of 100 users through the rotation: drain -> rekey -> start, behind affinity"
farm_up healthy affinity=cookie
load_bg --users 100 --requests 6000 --think 20
wait_logins 100 || note "lb did not see 100 logins"
rotate drain
load_wait
expect_jq "every user was logged out exactly once (at their own node's turn)" "$LOAD" \
  '.logged_out.users == .users and .logged_out.events == .users'
expect_load_no_cart_lost "load: no cart lost: nobody changed node"

step "The same with stop instead of drain: users move to another node (on A or B)"
farm_up healthy affinity=cookie
load_bg --users 100 --requests 6000 --think 20
wait_logins 100 || note "lb did not see 100 logins"
rotate stop
load_wait
expect_jq "every user was logged out exactly once: the login survives a move to an A node, until that node's turn" \
  "$LOAD" '.logged_out.users == .users and .logged_out.events == .users'
expect_load_carts_lost "load: but the moves cost InProc carts ($(jq -r .carts_lost.users <<<"$LOAD") users)"

step "So: no order keeps everyone logged in with one key per node. Round robin turns the"
step "mixed farm into random logouts ($rr_events for 100 users); behind affinity, drain -> rekey ->"
step "start costs each user one login and keeps their cart. Rotate at a quiet hour."
finish
