#!/usr/bin/env bash
# sim-node and what a browser sends that it must not trust: a ReturnUrl that leaves the
# site, a session id the browser chose, a login too big for a cookie, a user name that is
# not ASCII; and X-Farm-* headers that tell the truth when a fault answers first.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
T=$SN_TMP

sn_keygen "$T/a.config"
sn_must_start u --name u --machine-key "$T/a.config" --session inproc
addr=${SN_ADDR[u]}
info() { sn_req GET "http://$addr/_farm/info"; printf '%s' "$BODY" | jq -c -r "$1"; }
repeat() { local i s=; for ((i = 0; i < $2; i++)); do s+=$1; done; printf '%s' "$s"; }

# --- ReturnUrl: a local path or nothing ------------------------------------------------------
sn_req GET "http://$addr/login?user=bob&ReturnUrl=%2Faccount%3Fx%3D1"
is "ReturnUrl=/account?x=1: 302" "$ST" 302
is "ReturnUrl=/account?x=1: Location is that path" "$(sn_hdr Location)" '/account?x=1'
# Each of these becomes //host or /\host in a browser, or smuggles bytes into the header.
for bad in '%2F%09%2Fevil.example%2Fx' '%09%2F%2Fevil.example' '%2F%0A%2Fevil.example' \
  '%2F%0D%2Fevil.example' '%2F%7F%2Fevil.example' '%2F%00%2Fevil.example' \
  '%2F%2Fevil.example' '%2F%5Cevil.example' '%2Fa%5C..%5C%5Cevil.example' \
  'https%3A%2F%2Fevil.example' 'evil.example'; do
  sn_req GET "http://$addr/login?user=bob&ReturnUrl=$bad"
  is "ReturnUrl=$bad: refused, 200 and no redirect" "$ST" 200
  is "ReturnUrl=$bad: no Location" "$(sn_hdr Location)" ""
  is "ReturnUrl=$bad: the JSON answer instead" "$(printf '%s' "$BODY" | jq -r .logged_in)" bob
done

# --- session ids: 24 characters of a-z0-5 or a new one ---------------------------------------
for bad in ZZZ "$(repeat A 24)" "$(repeat a 23)" "$(repeat a 25)" "$(repeat a 23)6" \
  "$(repeat a 23)-"; do
  sn_req GET "http://$addr/cart" -H "Cookie: ASP.NET_SessionId=$bad"
  is "session id '$bad': 200" "$ST" 200
  is "session id '$bad': not adopted (X-Farm-Session new)" "$(sn_hdr X-Farm-Session)" new
  fresh=$(sn_cookie ASP.NET_SessionId)
  like "session id '$bad': a fresh id is issued" "$fresh" '^[a-z0-5]{24}$'
  sn_req GET "http://$addr/cart" -H "Cookie: ASP.NET_SessionId=$bad"
  is "session id '$bad' again: still new, never found" "$(sn_hdr X-Farm-Session)" new
done
# A well-formed id the store does not know is taken up, as ASP.NET does.
known=$(repeat a 12)$(repeat 5 12)
sn_req GET "http://$addr/cart" -H "Cookie: ASP.NET_SessionId=$known"
is "a well-formed unknown id: lost" "$(sn_hdr X-Farm-Session)" lost
sn_req GET "http://$addr/cart" -H "Cookie: ASP.NET_SessionId=$known"
is "a well-formed unknown id, next time: found" "$(sn_hdr X-Farm-Session)" found

# --- a login too big for the browser's cookie -------------------------------------------------
logins=$(info .counters.logins)
sn_req GET "http://$addr/login?user=$(repeat u 511)&data=$(repeat d 511)&ReturnUrl=%2Faccount"
is "oversized login: 400" "$ST" 400
like "oversized login: says the 4096-byte cookie limit" "$(printf '%s' "$BODY" | jq -r .error)" \
  '4096-byte cookie limit'
is "oversized login: no .ASPXAUTH cookie" "$(sn_cookie .ASPXAUTH)" ""
is "oversized login: no redirect" "$(sn_hdr Location)" ""
is "oversized login: no logged_in" "$(printf '%s' "$BODY" | jq -r .logged_in)" null
is "oversized login: X-Farm-Ticket is the verdict on what was sent (absent)" \
  "$(sn_hdr X-Farm-Ticket)" absent
is "oversized login: no X-Farm-User" "$(sn_hdr X-Farm-User)" ""
is "oversized login: the logins counter did not move" "$(info .counters.logins)" "$logins"
# A ticket that cannot be written at all (its expiry past a DateTime's range): no login either.
sn_must_start y --name y --machine-key "$T/a.config" --clock 9999-12-31T23:59:00Z
sn_req GET "http://${SN_ADDR[y]}/login?user=bob"
is "login whose expiry passes the year 9999: 500" "$ST" 500
like "... says why" "$(printf '%s' "$BODY" | jq -r .error)" 'past the year 9999'
is "... no .ASPXAUTH cookie" "$(sn_cookie .ASPXAUTH)" ""
is "... X-Farm-Ticket absent" "$(sn_hdr X-Farm-Ticket)" absent
sn_req GET "http://${SN_ADDR[y]}/_farm/info"
is "... the logins counter did not move" "$(printf '%s' "$BODY" | jq -r .counters.logins)" 0
sn_req GET "http://$addr/login?user=$(repeat u 511)"
is "a long user name that fits: 200" "$ST" 200
like "a long user name that fits: .ASPXAUTH set" "$(sn_cookie .ASPXAUTH)" '^[0-9A-F]+$'
is "a long user name that fits: counted" "$(info .counters.logins)" "$((logins + 1))"

# --- an injected error does not look at the session -------------------------------------------
sn_req POST "http://$addr/cart/add?item=tea"
sid=$(sn_cookie ASP.NET_SessionId)
sessions=$(info .counters.sessions)
sn_req POST "http://$addr/_farm/fault?spec=error=1:503"
is "fault error=1:503 set" "$ST" 200
sn_req GET "http://$addr/cart" -H "Cookie: ASP.NET_SessionId=$sid"
is "error fault, existing session: 503" "$ST" 503
is "error fault, existing session: X-Farm-Session off (not looked at)" \
  "$(sn_hdr X-Farm-Session)" off
is "error fault, existing session: no Set-Cookie" "$(sn_cookie ASP.NET_SessionId)" ""
sn_req GET "http://$addr/cart"
is "error fault, no session: X-Farm-Session off" "$(sn_hdr X-Farm-Session)" off
is "error fault, no session: no Set-Cookie" "$(sn_cookie ASP.NET_SessionId)" ""
is "error fault: the session counters did not move" "$(info .counters.sessions)" "$sessions"
sn_req POST "http://$addr/_farm/fault?spec=clear"
sn_req GET "http://$addr/cart" -H "Cookie: ASP.NET_SessionId=$sid"
is "fault cleared: the session is found" "$(sn_hdr X-Farm-Session)" found
is "fault cleared: the cart is intact" "$(printf '%s' "$BODY" | jq -c .cart)" '["tea"]'

# --- X-Farm-User: percent-encoded UTF-8, cut between characters --------------------------------
user_hdr() { # login as the percent-encoded $1, then ask /whoami with the ticket
  sn_req GET "http://$addr/login?user=$1"
  local c
  c=$(sn_cookie .ASPXAUTH)
  LOGIN_USER=$(sn_hdr X-Farm-User)
  sn_req GET "http://$addr/whoami" -H "Cookie: .ASPXAUTH=$c"
  WHOAMI_USER=$(sn_hdr X-Farm-User)
  WHOAMI_NAME=$(printf '%s' "$BODY" | jq -r .ticket.name)
}
user_hdr 'zo%C3%AB%E2%82%AC'
is "user zoë€: X-Farm-User on /login" "$LOGIN_USER" 'zo%C3%AB%E2%82%AC'
is "user zoë€: X-Farm-User on /whoami" "$WHOAMI_USER" 'zo%C3%AB%E2%82%AC'
is "user zoë€: /whoami's JSON keeps the name as it is" "$WHOAMI_NAME" 'zoë€'
user_hdr '100%25%20sure%09'
is "user '100% sure<TAB>': %, space and control bytes are encoded" "$WHOAMI_USER" \
  '100%25%20sure%09'
user_hdr 'zo%3Fe'
is "user 'zo?e': a literal ? stays (no longer ambiguous)" "$WHOAMI_USER" 'zo?e'
user_hdr "$(repeat a 126)%E2%82%AC%E2%82%AC"
is "126 a + €€: the first 127 characters, the € whole" "$WHOAMI_USER" "$(repeat a 126)%E2%82%AC"
user_hdr "$(repeat %C3%A9 200)"
is "200 × é: 127 characters, each whole" "$WHOAMI_USER" "$(repeat %C3%A9 127)"

# The fault and clock endpoints, from a browser page on this machine: loopback, but with
# the page's site in Host (DNS rebinding) or Origin (a form post).
sn_req POST "http://${SN_ADDR[u]}/_farm/fault?spec=crash" -H 'Host: rebind.attacker.example'
is "fault control with a foreign Host: 403" "$ST" 403
sn_req POST "http://${SN_ADDR[u]}/_farm/clock?set=2000-01-01T00:00:00Z" \
  -H 'Origin: http://attacker.example' -H 'Content-Type: text/plain'
is "clock control with a foreign Origin: 403" "$ST" 403
sn_req GET "http://${SN_ADDR[u]}/_farm/fault"
is "fault control naming the node by address: 200" "$ST" 200

for n in u y; do
  ok_if "$n still running at the end" kill -0 "${SN_PID[$n]}"
done
sn_assert_no_secrets "$T/a.config"
done_testing
