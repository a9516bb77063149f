#!/usr/bin/env bash
# sim-node, keys across a farm: forms tickets and ViewState carried from one node to others
# with the same, AutoGenerate'd or partly different <machineKey>; a real ASP.NET cookie;
# expiry and sliding renewal on a pinned clock; farmctl decoding what a node issued.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
T=$SN_TMP
MAC_FAILED='Validation of viewstate MAC failed. If this application is hosted by a Web Farm or cluster, ensure that <machineKey> configuration specifies the same validationKey and validation algorithm. AutoGenerate cannot be used in a cluster.'

# --- the keys -----------------------------------------------------------------------------
sn_keygen "$T/a.config"
cp "$T/a.config" "$T/a-copy.config"
sn_keygen "$T/b.config"
cat >"$T/auto.config" <<'EOF'
<machineKey validationKey="AutoGenerate,IsolateApps" decryptionKey="AutoGenerate,IsolateApps" compatibilityMode="Framework45"/>
EOF
a_v=$(grep -o 'validationKey="[0-9A-F]*"' "$T/a.config" | cut -d'"' -f2)
a_d=$(grep -o 'decryptionKey="[0-9A-F]*"' "$T/a.config" | cut -d'"' -f2)
b_v=$(grep -o 'validationKey="[0-9A-F]*"' "$T/b.config" | cut -d'"' -f2)
b_d=$(grep -o 'decryptionKey="[0-9A-F]*"' "$T/b.config" | cut -d'"' -f2)
# Only the validationKey differs from a.config; only the decryptionKey differs.
sed "s/$a_v/$b_v/" "$T/a.config" >"$T/vdiff.config"
sed "s/$a_d/$b_d/" "$T/a.config" >"$T/ddiff.config"
ok_if "key files: vdiff differs from a only in validationKey" \
  grep -q "validationKey=\"$b_v\".*" "$T/vdiff.config"
ok_if "key files: ddiff keeps a's validationKey" grep -q "validationKey=\"$a_v\"" "$T/ddiff.config"

sn_must_start web1 --name web1 --machine-key "$T/a.config"
sn_must_start web2 --name web2 --machine-key "$T/a-copy.config"
sn_must_start auto --name auto --machine-key "$T/auto.config"
sn_must_start vdiff --name vdiff --machine-key "$T/vdiff.config"
sn_must_start ddiff --name ddiff --machine-key "$T/ddiff.config"
like "ready line names the node, its key fingerprint and mode" "$(head -n 1 "${SN_LOG[web1]}")" \
  '^node=web1 event=ready listen=127\.0\.0\.1:[0-9]+ key="[^"]+" mode=Framework45'
like "ready line of an AutoGenerate node says so" "$(head -n 1 "${SN_LOG[auto]}")" \
  'autogenerate=yes'

# --- a ticket from web1 -------------------------------------------------------------------
sn_req GET "http://${SN_ADDR[web1]}/login?user=alice"
is "login on web1: 200" "$ST" 200
is "login on web1: X-Farm-Node web1" "$(sn_hdr X-Farm-Node)" web1
is "login on web1: X-Farm-Ticket valid" "$(sn_hdr X-Farm-Ticket)" valid
like "login sets .ASPXAUTH as ASP.NET does (hex, path=/; HttpOnly, no expiry)" \
  "$(printf '%s\n' "$HDR" | grep -i '^Set-Cookie: \.ASPXAUTH=')" \
  '^Set-Cookie: \.ASPXAUTH=[0-9A-F]+; path=/; HttpOnly$'
is "login body names the user" "$(printf '%s' "$BODY" | jq -r .logged_in)" alice
ticket=$(sn_cookie .ASPXAUTH)
key1=$(sn_hdr X-Farm-Key)
like "X-Farm-Key is a fingerprint" "$key1" '^v=[0-9a-f]{8} d=[0-9a-f]{8} m=fx45$'

sn_req GET "http://${SN_ADDR[web1]}/whoami" -H "Cookie: .ASPXAUTH=$ticket"
is "web1 /whoami with its own ticket: valid" "$(sn_hdr X-Farm-Ticket)" valid
is "web1 /whoami: JSON ticket.status valid" "$(printf '%s' "$BODY" | jq -r .ticket.status)" valid
is "web1 /whoami: JSON ticket.name alice" "$(printf '%s' "$BODY" | jq -r .ticket.name)" alice
is "web1 /whoami: X-Farm-User alice" "$(sn_hdr X-Farm-User)" alice
is "web1 /whoami: X-Farm-Session off by default" "$(sn_hdr X-Farm-Session)" off

# Same keys (a copied file): valid on web2 too.
sn_req GET "http://${SN_ADDR[web2]}/whoami" -H "Cookie: .ASPXAUTH=$ticket"
is "web2 (same keys) /whoami: 200" "$ST" 200
is "web2 (same keys): X-Farm-Node web2" "$(sn_hdr X-Farm-Node)" web2
is "web2 (same keys): X-Farm-Ticket valid" "$(sn_hdr X-Farm-Ticket)" valid
is "web2 (same keys): same X-Farm-Key as web1" "$(sn_hdr X-Farm-Key)" "$key1"
is "web2 (same keys): ticket.name alice" "$(printf '%s' "$BODY" | jq -r .ticket.name)" alice
sn_req GET "http://${SN_ADDR[web2]}/account" -H "Cookie: .ASPXAUTH=$ticket"
is "web2 (same keys) /account: 200" "$ST" 200
is "web2 (same keys) /account: the account of alice" "$(printf '%s' "$BODY" | jq -r .account)" alice

# AutoGenerate and a different validationKey: mac-mismatch, /account sends you to login.
for n in auto vdiff; do
  sn_req GET "http://${SN_ADDR[$n]}/whoami" -H "Cookie: .ASPXAUTH=$ticket"
  is "$n /whoami with web1's ticket: X-Farm-Ticket mac-mismatch" "$(sn_hdr X-Farm-Ticket)" mac-mismatch
  is "$n /whoami: JSON ticket.status mac-mismatch" "$(printf '%s' "$BODY" | jq -r .ticket.status)" mac-mismatch
  unlike "$n /whoami: no X-Farm-User for a rejected ticket" "$HDR" '^X-Farm-User:'
  like "$n /whoami: explains the MAC failure" "$(printf '%s' "$BODY" | jq -r .explain)" \
    'could not verify your ticket.s signature'
  unlike "$n: X-Farm-Key differs from web1's" "$(sn_hdr X-Farm-Key)" "^${key1}\$"
  sn_req GET "http://${SN_ADDR[$n]}/account" -H "Cookie: .ASPXAUTH=$ticket"
  is "$n /account with web1's ticket: 302" "$ST" 302
  is "$n /account: Location /login?ReturnUrl=%2faccount" "$(sn_hdr Location)" '/login?ReturnUrl=%2faccount'
done
sn_req GET "http://${SN_ADDR[auto]}/whoami" -H "Cookie: .ASPXAUTH=$ticket"
is "auto /whoami: keys.autogenerate true" "$(printf '%s' "$BODY" | jq -r .keys.autogenerate)" true
sn_req GET "http://${SN_ADDR[auto]}/whoami" -H "Cookie: .ASPXAUTH=$ticket" -H 'Accept: text/html'
like "auto /whoami as HTML: a page" "$(sn_hdr Content-Type)" '^text/html'
like "auto /whoami as HTML: says mac-mismatch" "$BODY" 'Ticket: <b>mac-mismatch</b>'
like "auto /whoami as HTML: warns about AutoGenerate" "$BODY" 'AutoGenerate: no other server'

# Same validationKey, another decryptionKey: the MAC passes, decryption does not.
sn_req GET "http://${SN_ADDR[ddiff]}/whoami" -H "Cookie: .ASPXAUTH=$ticket"
is "ddiff (other decryptionKey) /whoami: X-Farm-Ticket bad-ticket" "$(sn_hdr X-Farm-Ticket)" bad-ticket
like "ddiff /whoami: explains to copy the whole machineKey" "$(printf '%s' "$BODY" | jq -r .explain)" \
  'Copy the whole <machineKey> element'
sn_req GET "http://${SN_ADDR[ddiff]}/account" -H "Cookie: .ASPXAUTH=$ticket"
is "ddiff /account: 302" "$ST" 302
is "ddiff /account: Location /login?ReturnUrl=%2faccount" "$(sn_hdr Location)" '/login?ReturnUrl=%2faccount'

# No cookie, a cookie that is not a ticket.
sn_req GET "http://${SN_ADDR[web2]}/whoami"
is "no cookie: X-Farm-Ticket absent" "$(sn_hdr X-Farm-Ticket)" absent
sn_req GET "http://${SN_ADDR[web2]}/account"
is "no cookie /account: 302" "$ST" 302
sn_req GET "http://${SN_ADDR[web2]}/whoami" -H "Cookie: .ASPXAUTH=not-hex"
is "garbage cookie: X-Farm-Ticket malformed" "$(sn_hdr X-Farm-Ticket)" malformed
sn_req GET "http://${SN_ADDR[web2]}/whoami" -H "Cookie: .ASPXAUTH=${ticket:0:20}"
is "cut-short ticket: X-Farm-Ticket malformed" "$(sn_hdr X-Farm-Ticket)" malformed
c=${ticket:20:1}
[ "$c" = 0 ] && c=1 || c=0
flipped=${ticket:0:20}$c${ticket:21}
sn_req GET "http://${SN_ADDR[web1]}/whoami" -H "Cookie: .ASPXAUTH=$flipped"
is "a tampered ticket on its own node: mac-mismatch" "$(sn_hdr X-Farm-Ticket)" mac-mismatch

# Persistent login and logout.
sn_req GET "http://${SN_ADDR[web1]}/login?user=bob&persistent=1&data=role%3Dadmin"
like "persistent login: the cookie has an expiry in ASP.NET's date format" \
  "$(printf '%s\n' "$HDR" | grep -i '^Set-Cookie: \.ASPXAUTH=')" \
  '; path=/; HttpOnly; expires=[A-Z][a-z]{2}, [0-9]{2}-[A-Z][a-z]{2}-[0-9]{4} [0-9:]{8} GMT$'
bob=$(sn_cookie .ASPXAUTH)
sn_req GET "http://${SN_ADDR[web2]}/whoami" -H "Cookie: .ASPXAUTH=$bob"
is "persistent ticket on web2: persistent true" "$(printf '%s' "$BODY" | jq -r .ticket.persistent)" true
is "persistent ticket on web2: user_data kept" "$(printf '%s' "$BODY" | jq -r .ticket.user_data)" 'role=admin'
sn_req GET "http://${SN_ADDR[web1]}/logout" -H "Cookie: .ASPXAUTH=$bob"
like "logout clears the cookie" "$(printf '%s\n' "$HDR" | grep -i '^Set-Cookie: \.ASPXAUTH=')" \
  '^Set-Cookie: \.ASPXAUTH=; expires=Mon, 11-Oct-1999'

# --- farmctl decodes what a node issued ----------------------------------------------------
out=$("$FARMCTL" ticket decode --machine-key "$T/a.config" --json "$ticket"); rc=$?
is "farmctl ticket decode of web1's ticket: exit 0" "$rc" 0
is "farmctl ticket decode: status valid" "$(printf '%s' "$out" | jq -r .status)" valid
is "farmctl ticket decode: name alice" "$(printf '%s' "$out" | jq -r .ticket.name)" alice
out=$("$FARMCTL" ticket decode --machine-key "$T/vdiff.config" --json "$ticket"); rc=$?
is "farmctl ticket decode under other keys: exit 3" "$rc" 3
is "farmctl ticket decode under other keys: mac-mismatch" "$(printf '%s' "$out" | jq -r .status)" mac-mismatch

# --- ViewState -----------------------------------------------------------------------------
sn_req GET "http://${SN_ADDR[web1]}/form"
is "GET /form on web1: 200" "$ST" 200
vs=$(printf '%s' "$BODY" | grep -o 'name="__VIEWSTATE" id="__VIEWSTATE" value="[^"]*"' |
  sed 's/.*value="//; s/"$//; s/&#43;/+/g; s/&#47;/\//g; s/&#61;/=/g; s/&amp;/\&/g')
gen=$(printf '%s' "$BODY" | grep -o 'id="__VIEWSTATEGENERATOR" value="[^"]*"' | sed 's/.*value="//; s/"$//')
like "GET /form: a base64 __VIEWSTATE" "$vs" '^[A-Za-z0-9+/]{40,}={0,2}$'
like "GET /form: a __VIEWSTATEGENERATOR" "$gen" '^[0-9A-F]{8}$'

sn_req POST "http://${SN_ADDR[web2]}/form" --data-urlencode "__VIEWSTATE=$vs" \
  --data-urlencode "__VIEWSTATEGENERATOR=$gen"
is "ViewState from web1 posted to web2 (same keys): 200" "$ST" 200
is "... X-Farm-ViewState valid" "$(sn_hdr X-Farm-ViewState)" valid
is "... viewstate valid" "$(printf '%s' "$BODY" | jq -r .viewstate)" valid
is "... issued_by web1" "$(printf '%s' "$BODY" | jq -r .issued_by)" web1
for n in auto vdiff; do
  sn_req POST "http://${SN_ADDR[$n]}/form" --data-urlencode "__VIEWSTATE=$vs" \
    --data-urlencode "__VIEWSTATEGENERATOR=$gen"
  is "ViewState from web1 posted to $n: 500" "$ST" 500
  is "... $n answers with ASP.NET's exact text" "$(printf '%s' "$BODY" | jq -r .error)" "$MAC_FAILED"
  unlike "... $n: no X-Farm-ViewState valid" "$(sn_hdr X-Farm-ViewState)" '^valid$'
done
sn_req POST "http://${SN_ADDR[auto]}/form" -H 'Accept: text/html' \
  --data-urlencode "__VIEWSTATE=$vs" --data-urlencode "__VIEWSTATEGENERATOR=$gen"
is "ViewState to auto, as HTML: 500" "$ST" 500
html_text=$(printf '%s' "$MAC_FAILED" | sed 's/</\&lt;/g; s/>/\&gt;/g')
ok_if "... the HTML error page has the text, HTML-escaped" grep -qF -- "$html_text" "$SN_CAP/$_sn_n.body"
like "... in ASP.NET's yellow-screen words" "$BODY" "Server Error in '/' Application"
sn_req POST "http://${SN_ADDR[ddiff]}/form" --data-urlencode "__VIEWSTATE=$vs"
is "ViewState to ddiff (other decryptionKey): 500" "$ST" 500
c=${vs:20:1}
[ "$c" = A ] && c=B || c=A
sn_req POST "http://${SN_ADDR[web2]}/form" --data-urlencode "__VIEWSTATE=${vs:0:20}$c${vs:21}"
is "a tampered ViewState on a same-keys node: 500" "$ST" 500
sn_req POST "http://${SN_ADDR[web2]}/form" --data-urlencode "other=1"
is "POST /form without __VIEWSTATE: 400" "$ST" 400

# --- a real ASP.NET cookie ------------------------------------------------------------------
vec=$(jq -c '.vectors[] | select(.id == "dazinator-hmacsha512-aes256-fx45")' \
  "$FARM_TEST_DATA/aspnet-vectors.json")
ok_if "vector dazinator-hmacsha512-aes256-fx45 is in the test data" test -n "$vec"
jv() { printf '%s' "$vec" | jq -r "$1"; }
compat=$(jv .mode)
printf '<machineKey validationKey="%s" decryptionKey="%s" validation="%s" decryption="%s" compatibilityMode="%s"/>\n' \
  "$(jv .validation_key_hex)" "$(jv .decryption_key_hex)" "$(jv .validation_alg)" \
  "$(jv .decryption_alg)" "$compat" >"$T/vector.config"
# .NET ticks (100 ns since 0001-01-01) to Unix seconds, then ISO 8601.
iso_of_ticks() { date -u -d "@$((($1 - 621355968000000000) / 10000000 + $2))" +%Y-%m-%dT%H:%M:%SZ; }
issue=$(jv .expected.issue_ticks_utc)
expire=$(jv .expected.expiration_ticks_utc)
inside=$(iso_of_ticks "$issue" 60)
after=$(iso_of_ticks "$expire" 60)
is "the vector's validity starts 2019-06-26 15:20:10" "$(iso_of_ticks "$issue" 0)" 2019-06-26T15:20:10Z
cookie=$(jv .cookie_hex)
sn_must_start vec --name vec --machine-key "$T/vector.config" --clock "$inside"
sn_req GET "http://${SN_ADDR[vec]}/whoami" -H "Cookie: .ASPXAUTH=$cookie"
is "real ASP.NET cookie, clock $inside: X-Farm-Ticket valid" "$(sn_hdr X-Farm-Ticket)" valid
is "... ticket.status valid" "$(printf '%s' "$BODY" | jq -r .ticket.status)" valid
is "... name test@example.com" "$(printf '%s' "$BODY" | jq -r .ticket.name)" "$(jv .expected.name)"
is "... name is test@example.com" "$(jv .expected.name)" test@example.com
is "... user_data" "$(printf '%s' "$BODY" | jq -r .ticket.user_data)" "$(jv .expected.user_data)"
is "... X-Farm-User test@example.com" "$(sn_hdr X-Farm-User)" test@example.com
sn_req GET "http://${SN_ADDR[vec]}/account" -H "Cookie: .ASPXAUTH=$cookie"
is "real ASP.NET cookie: /account 200" "$ST" 200
sn_must_start vec2 --name vec2 --machine-key "$T/vector.config" --clock "$after"
sn_req GET "http://${SN_ADDR[vec2]}/whoami" -H "Cookie: .ASPXAUTH=$cookie"
is "real ASP.NET cookie, clock $after (past expiry): expired" "$(sn_hdr X-Farm-Ticket)" expired
is "... still names the user" "$(printf '%s' "$BODY" | jq -r .ticket.name)" test@example.com
sn_req GET "http://${SN_ADDR[vec2]}/account" -H "Cookie: .ASPXAUTH=$cookie"
is "expired ticket: /account 302" "$ST" 302
sn_req GET "http://${SN_ADDR[web1]}/whoami" -H "Cookie: .ASPXAUTH=$cookie"
is "real ASP.NET cookie on a node with other keys: mac-mismatch" "$(sn_hdr X-Farm-Ticket)" mac-mismatch

# --- expiry and sliding renewal on a pinned clock ---------------------------------------------
clock=2030-01-15T12:00:00Z
sn_must_start fixed --name fixed --machine-key "$T/a.config" --clock "$clock" --ticket-timeout 10m
sn_must_start slide --name slide --machine-key "$T/a.config" --clock "$clock" --ticket-timeout 10m --sliding
sn_req GET "http://${SN_ADDR[slide]}/login?user=carol"
c0=$(sn_cookie .ASPXAUTH)
sn_req GET "http://${SN_ADDR[slide]}/whoami" -H "Cookie: .ASPXAUTH=$c0"
is "pinned clock: ticket issued at the clock" "$(printf '%s' "$BODY" | jq -r .ticket.issue_utc)" \
  2030-01-15T12:00:00.0000000Z
is "pinned clock: expiry 10 minutes later" "$(printf '%s' "$BODY" | jq -r .ticket.expiration_utc)" \
  2030-01-15T12:10:00.0000000Z
for n in fixed slide; do
  sn_req POST "http://${SN_ADDR[$n]}/_farm/clock?advance=4m"
  is "$n: clock advanced 4m" "$(printf '%s' "$BODY" | jq -r .clock)" 2030-01-15T12:04:00.0000000Z
done
sn_req GET "http://${SN_ADDR[slide]}/whoami" -H "Cookie: .ASPXAUTH=$c0"
is "sliding, 4 of 10 minutes: valid" "$(sn_hdr X-Farm-Ticket)" valid
is "sliding, 4 of 10 minutes: not renewed yet" "$(sn_cookie .ASPXAUTH)" ""
for n in fixed slide; do sn_req POST "http://${SN_ADDR[$n]}/_farm/clock?advance=2m"; done
sn_req GET "http://${SN_ADDR[slide]}/whoami" -H "Cookie: .ASPXAUTH=$c0"
is "sliding, 6 of 10 minutes: still valid" "$(sn_hdr X-Farm-Ticket)" valid
c1=$(sn_cookie .ASPXAUTH)
like "sliding, 6 of 10 minutes: a renewed ticket in Set-Cookie" "$c1" '^[0-9A-F]+$'
unlike "... a different cookie" "$c1" "^$c0\$"
sn_req GET "http://${SN_ADDR[fixed]}/whoami" -H "Cookie: .ASPXAUTH=$c0"
is "not sliding, 6 of 10 minutes: valid" "$(sn_hdr X-Farm-Ticket)" valid
is "not sliding: no renewal" "$(sn_cookie .ASPXAUTH)" ""
for n in fixed slide; do sn_req POST "http://${SN_ADDR[$n]}/_farm/clock?advance=5m"; done
sn_req GET "http://${SN_ADDR[slide]}/whoami" -H "Cookie: .ASPXAUTH=$c1"
is "sliding, 11 minutes: the renewed ticket is valid" "$(sn_hdr X-Farm-Ticket)" valid
is "... it expires 10 minutes after renewal" "$(printf '%s' "$BODY" | jq -r .ticket.expiration_utc)" \
  2030-01-15T12:16:00.0000000Z
sn_req GET "http://${SN_ADDR[slide]}/whoami" -H "Cookie: .ASPXAUTH=$c0"
is "sliding, 11 minutes: the first ticket has expired" "$(sn_hdr X-Farm-Ticket)" expired
sn_req GET "http://${SN_ADDR[fixed]}/account" -H "Cookie: .ASPXAUTH=$c0"
is "not sliding, 11 minutes: /account 302" "$ST" 302
out=$("$FARMCTL" ticket decode --machine-key "$T/a.config" --now 2030-01-15T12:11:00Z --json "$c1")
is "farmctl decodes the renewed ticket: valid" "$(printf '%s' "$out" | jq -r .status)" valid
is "farmctl decodes the renewed ticket: carol" "$(printf '%s' "$out" | jq -r .ticket.name)" carol

# --- /_farm/info: fingerprints, never keys -------------------------------------------------
sn_req GET "http://${SN_ADDR[web1]}/_farm/info"
is "/_farm/info: fingerprint as in X-Farm-Key" "$(printf '%s' "$BODY" | jq -r .keys.fingerprint)" "$key1"
is "/_farm/info: counts the valid tickets" "$(printf '%s' "$BODY" | jq -r '.counters.tickets.valid >= 1')" true

sn_assert_no_secrets "$T"/*.config
done_testing
