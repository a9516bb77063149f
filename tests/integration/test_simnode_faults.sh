#!/usr/bin/env bash
# sim-node faults, Toxiproxy-style: each one set at run time with POST /_farm/fault and at
# start with --fault, behaving as named; cleared; seeded random choices reproducible.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
T=$SN_TMP
trap '' PIPE

sn_keygen "$T/a.config"
sn_must_start f --name f --machine-key "$T/a.config" --seed 7
addr=${SN_ADDR[f]}

fault() {
  sn_req POST "http://$addr/_farm/fault?spec=$1"
  is "POST /_farm/fault?spec=$1: 200" "$ST" 200
}
# Greater or equal, for the times curl reports (seconds with decimals).
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }

sn_req GET "http://$addr/_farm/fault"
is "GET /_farm/fault: none at first" "$(printf '%s' "$BODY" | jq -r .faults)" none
sn_req POST "http://$addr/_farm/fault?spec=frobnicate"
is "an unknown fault spec: 400" "$ST" 400
sn_req POST "http://$addr/_farm/fault"
is "no spec: 400" "$ST" 400

# --- latency ---------------------------------------------------------------------------------
fault latency=300ms
like "latency: /_farm/fault describes it" "$(printf '%s' "$BODY" | jq -r .faults)" '^latency=300ms'
ok_if "latency: logged as event=fault" sn_wait_log f 'event=fault faults=latency=300ms'
sn_req GET "http://$addr/whoami"
is "latency=300ms: /whoami still 200" "$ST" 200
ok_if "latency=300ms: /whoami took >= 0.3 s (took $TIME)" ge "$TIME" 0.3
fault latency=400ms:100ms
sn_req GET "http://$addr/whoami"
ok_if "latency=400ms:100ms: /whoami took >= 0.3 s (took $TIME)" ge "$TIME" 0.3
fault clear
sn_req GET "http://$addr/_farm/fault"
is "clear: no faults" "$(printf '%s' "$BODY" | jq -r .faults)" none
sn_req GET "http://$addr/whoami"
ok_if "clear: /whoami fast again (took $TIME)" lt "$TIME" 0.3

# --- error ---------------------------------------------------------------------------------
fault error=1:503
sn_req GET "http://$addr/whoami"
is "error=1:503: /whoami 503" "$ST" 503
is "error=1:503: X-Farm-Node still says who answered" "$(sn_hdr X-Farm-Node)" f
sn_req GET "http://$addr/account"
is "error=1:503: /account 503" "$ST" 503
sn_req GET "http://$addr/health"
is "error=1:503: /health untouched (200)" "$ST" 200
fault error=1
sn_req GET "http://$addr/whoami"
is "error=1 (no status): 500" "$ST" 500
fault clear
sn_req GET "http://$addr/whoami"
is "cleared: /whoami 200" "$ST" 200

# --- hang ----------------------------------------------------------------------------------
fault hang
curl -sS --max-time 1 -o /dev/null "http://$addr/whoami" 2>/dev/null
is "hang: curl --max-time 1 times out (exit 28)" "$?" 28
sn_req GET "http://$addr/health"
is "hang: the node still answers /health" "$ST" 200
fault clear
sn_req GET "http://$addr/whoami"
is "hang cleared: /whoami 200" "$ST" 200

# --- reset ---------------------------------------------------------------------------------
fault reset
curl -sS --max-time 5 -o "$SN_CAP/reset.body" "http://$addr/form" 2>/dev/null
rc=$?
like "reset: curl fails receiving (exit 56, 18 or 52; got $rc)" "$rc" '^(56|18|52)$'
sn_req GET "http://$addr/health"
is "reset: /health still 200" "$ST" 200
fault clear

# --- slow body -----------------------------------------------------------------------------
fault slow=2000
sn_req GET "http://$addr/form"
is "slow=2000: GET /form 200" "$ST" 200
ok_if "slow=2000: ~1 KB took >= 0.3 s (took $TIME)" ge "$TIME" 0.3
like "slow=2000: the whole page arrived" "$BODY" '</html>$'
fault clear

# --- lying health, health down ---------------------------------------------------------------
fault lying-health
sn_req GET "http://$addr/health"
is "lying-health: /health 200" "$ST" 200
sn_req GET "http://$addr/whoami"
is "lying-health: /whoami 500" "$ST" 500
fault clear
fault health-down
sn_req GET "http://$addr/health"
is "health-down: /health 503" "$ST" 503
sn_req GET "http://$addr/whoami"
is "health-down: /whoami 200" "$ST" 200
fault clear
sn_req GET "http://$addr/health"
is "cleared: /health 200" "$ST" 200

# Several at once, then clear.
fault 'error=1:502,health-down'
sn_req GET "http://$addr/_farm/fault"
like "two faults at once: both described" "$(printf '%s' "$BODY" | jq -r .faults)" 'error=1\.00:502.*health-down'
sn_req GET "http://$addr/whoami"
is "two faults at once: error" "$ST" 502
sn_req GET "http://$addr/health"
is "two faults at once: health down" "$ST" 503
fault clear
sn_req GET "http://$addr/_farm/info"
is "/_farm/info: faults none after clear" "$(printf '%s' "$BODY" | jq -r .faults)" none
ok_if "/_farm/info: counts injected faults" test "$(printf '%s' "$BODY" | jq -r .counters.faults_injected)" -ge 8

# --- crash ---------------------------------------------------------------------------------
curl -sS --max-time 5 -o /dev/null -X POST "http://$addr/_farm/fault?spec=crash" 2>/dev/null
sn_wait_exit f
is "crash: the process exits with status 3" "${SN_RC[f]}" 3
like "crash: logged event=crash" "$(tail -n 1 "${SN_LOG[f]}")" 'event=crash exit=3'

# --- faults from the command line --------------------------------------------------------------
sn_must_start g --name g --machine-key "$T/a.config" --fault 'error=1:502,health-down'
like "--fault: the ready line lists the faults" "$(head -n 1 "${SN_LOG[g]}")" 'faults=error=1\.00:502.*health-down'
sn_req GET "http://${SN_ADDR[g]}/whoami"
is "--fault error=1:502: /whoami 502" "$ST" 502
sn_req GET "http://${SN_ADDR[g]}/health"
is "--fault health-down: /health 503" "$ST" 503
sn_req POST "http://${SN_ADDR[g]}/_farm/fault?spec=clear"
sn_req GET "http://${SN_ADDR[g]}/whoami"
is "--fault cleared at run time: 200" "$ST" 200
sn_must_start l --name l --machine-key "$T/a.config" --fault latency=300ms
sn_req GET "http://${SN_ADDR[l]}/whoami"
ok_if "--fault latency=300ms: /whoami took >= 0.3 s (took $TIME)" ge "$TIME" 0.3
sn_start c --name c --machine-key "$T/a.config" --fault crash
sn_wait_exit c
is "--fault crash: exits with status 3 after start" "${SN_RC[c]}" 3
"$SIMNODE" --listen 127.0.0.1:0 --machine-key "$T/a.config" --fault frobnicate >"$T/badfault.log" 2>&1
is "--fault with an unknown spec: exit 1" "$?" 1
like "--fault with an unknown spec: says so" "$(cat "$T/badfault.log")" '--fault'

# --- seeded randomness -----------------------------------------------------------------------
statuses() {
  local i out=
  for i in $(seq 20); do
    sn_req GET "http://${SN_ADDR[$1]}/whoami"
    out="$out$ST "
  done
  printf '%s' "$out"
}
sn_must_start r1 --name r --machine-key "$T/a.config" --seed 42 --fault error=0.5
seq1=$(statuses r1)
sn_stop r1
sn_must_start r2 --name r --machine-key "$T/a.config" --seed 42 --fault error=0.5
seq2=$(statuses r2)
sn_must_start r3 --name r --machine-key "$T/a.config" --seed 43 --fault error=0.5
seq3=$(statuses r3)
like "seed 42, error=0.5: 20 outcomes, some 500" "$seq1" '500'
like "seed 42, error=0.5: ... and some 200" "$seq1" '200'
is "same --seed, two runs: the same 20 outcomes" "$seq2" "$seq1"
unlike "another --seed: another sequence" "$seq3" "^$seq1\$"
sn_req POST "http://${SN_ADDR[r2]}/_farm/fault?spec=error=0.5:503"
seq4=$(statuses r2)
like "error=0.5:503 at run time: some 503" "$seq4" '503'

sn_assert_no_secrets "$T/a.config"
done_testing
