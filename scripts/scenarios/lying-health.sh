#!/usr/bin/env bash
# Health checks that lie. A node whose /health answers 200 while every page answers 500
# (lying-health) is kept in rotation by a balancer that trusts its health check alone,
# as NLB's heartbeat only proves the host is alive. A node whose check fails while the
# application still works (health-down) is taken out cleanly.
. "$(dirname "$0")/../lib/farm.sh"

step "A balancer that trusts only its health checks (lb with no-passive = yes)"
farm_up healthy no-passive=yes
farm fault web3 lying-health
expect_jq "web3's /health still answers 200" \
  "{\"status\": $(curl -s -o /dev/null -w '%{http_code}' "http://$(node_addr web3)/health")}" '.status == 200'

step "alice's visits to web3 get 500; web1 and web2 are fine"
user_until web3 alice whoami
expect_status 500
expect_body_has "Injected fault"
user alice whoami
expect_node web1
expect_status 200

step "Two more health checks pass: lb keeps web3 in rotation"
wait_health_checks web3 2 || note "lb ran no health checks on web3"
expect_node_state web3 up
load --users 90 --requests 900
errors=$(jq -r '.errors.by_status["500"] // 0' <<<"$LOAD")
expect_jq "about a third of the population's requests got 500 ($errors of 900)" "$LOAD" \
  '(.errors.by_status["500"] // 0) > 200'

step "lb's default adds passive detection: 5xx answers in a row mark web3 down ..."
farm_up healthy
farm fault web3 lying-health
load_bg --users 30 --requests 3000 --think 5
expect_node_becomes web3 down
note "reason: $(curl -s "http://$FARM_ADMIN/nodes/web3" | jq -r .reason)"
load_wait
expect_jq "the population got 500s before that ($(jq -r '.errors.total' <<<"$LOAD"))" "$LOAD" '.errors.total > 0'

step "... but the lying health check brings it back, and it fails again: it flaps"
expect_node_becomes web3 up
user_until web3 carol whoami
expect_status 500 "carol whoami: web3 is back in rotation and still answers 500"

step "health-down: web3's check fails while its pages work; lb takes it out cleanly"
farm fault web3 clear,health-down
expect_node_becomes web3 down
answered=0 on_web3=0
for i in 1 2 3 4 5 6; do
  quietly user bob whoami
  [ "$LAST_STATUS" = 200 ] && answered=$((answered + 1))
  [ "$LAST_NODE" = web3 ] && on_web3=$((on_web3 + 1))
done
expect_eq "bob's six requests were all answered (200)" "$answered" 6
expect_eq "none of them by web3" "$on_web3" 0
load --users 90 --requests 900
expect_load_errors_at_most 0
expect_jq "web3 answered nobody in the population" "$LOAD" '(.nodes | length > 0) and all(.nodes[]; .node != "web3")'

step "Clear the fault: web3 passes its checks and comes back"
farm fault web3 clear
expect_node_becomes web3 up
user_until web3 bob whoami
expect_status 200
finish
