#!/usr/bin/env bash
# Half a key (farms/decryption-mismatch.ini): web3 has the farm's validationKey but a
# decryptionKey of its own, as if someone copied one attribute of the <machineKey>. A
# ticket from web1 passes web3's MAC check and then fails to decrypt: X-Farm-Ticket:
# bad-ticket, not mac-mismatch, which proves the validationKey matched.
. "$(dirname "$0")/../lib/farm.sh"

step "web3 has the farm's validationKey, but its own decryptionKey"
farm_up decryption-mismatch
expect_keys_differ web3
expect_jq "the fingerprints share v= and differ in d=" "$("$FARMCTL" status --json)" '
  [.nodes[] | .key | capture("v=(?<v>[0-9a-f]+) d=(?<d>[0-9a-f]+)")] as $k
  | ($k | map(.v) | unique | length) == 1 and ($k | map(.d) | unique | length) == 2'
farm keys

step "alice logs in on web1 and hops: web2 reads her ticket, web3 cannot decrypt it"
user_until web1 alice login
expect_logged_in
user alice account
expect_node web2
expect_logged_in
user alice account
expect_node web3
expect_logged_out
expect_ticket bad-ticket "alice account: web3 says bad-ticket (the MAC passed, decryption failed)"
user alice whoami
expect_node web1
expect_logged_in "alice whoami: back on web1, still logged in"

step "A ticket web3 issues is bad-ticket on web1 and web2 as well"
user_until web3 bob login
user bob whoami
expect_node web1
expect_ticket bad-ticket

step "lb's matrix: web3 and web1 reject each other with bad-ticket"
show_matrix
expect_matrix_rejects web1 web3
expect_matrix_rejects web3 web1
expect_matrix_names web3
expect_jq "lb's last verdict web1 -> web3 is bad-ticket" "$(matrix)" '
  any(.cells[]; .cookie == ".ASPXAUTH" and .issuer == "web1" and .checker == "web3"
      and .last_verdict == "bad-ticket")'
finish
