#!/usr/bin/env bash
# farmctl key and ticket commands, end to end, as a user runs them.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
: "${FARM_BIN:=$here/../../build/bin}"
: "${FARM_TEST_DATA:=$here/../data}"
farmctl=$FARM_BIN/farmctl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --help everywhere, exit 0, usage on stdout.
for cmd in "" "key" "ticket" "key generate" "key lint" "key fingerprint" "key compare" \
           "ticket issue" "ticket decode" "ticket which"; do
  out=$($farmctl $cmd --help 2>&1); rc=$?
  is "farmctl $cmd --help exits 0" "$rc" 0
  like "farmctl $cmd --help prints usage" "$out" "^usage: farmctl"
done
out=$($farmctl frobnicate 2>&1); rc=$?
is "unknown command exits 2" "$rc" 2
like "unknown command says so" "$out" "unknown command 'frobnicate'"

# key generate: a ready-to-paste element; lint finds nothing wrong with it.
$farmctl key generate > "$tmp/a.config"
$farmctl key generate > "$tmp/b.config"
like "generate prints a machineKey element" "$(cat "$tmp/a.config")" \
  '^<machineKey validationKey="[0-9A-F]{128}"'
like "generate: HMACSHA256 + AES-256, Framework45" "$(cat "$tmp/a.config")" \
  'decryptionKey="[0-9A-F]{64}".*|validation="HMACSHA256" decryption="AES" compatibilityMode="Framework45"'
cmp -s "$tmp/a.config" "$tmp/b.config"; is "two generated keys differ" "$?" 1
out=$($farmctl key lint "$tmp/a.config"); rc=$?
is "a generated key lints clean" "$rc" 0
like "lint summary" "$out" "^0 error\(s\), 0 warning\(s\) in 1 machineKey"
out=$($farmctl key generate --validation HMACSHA512 --decryption 3DES --compat Framework20SP2)
like "generate HMACSHA512 makes a 128-byte validation key" "$out" 'validationKey="[0-9A-F]{256}"'
like "generate 3DES makes a 24-byte key" "$out" 'decryptionKey="[0-9A-F]{48}"'
out=$($farmctl key generate --validation MD5 2>&1); rc=$?
is "generate refuses MD5 in Framework45" "$rc" 2
like "... in ASP.NET's words" "$out" "the 'validation' attribute must be one of these values"
vkey=$(grep -o 'validationKey="[0-9A-F]*"' "$tmp/a.config" | cut -d'"' -f2)

# ticket issue → decode with the generated key file.
cookie=$($farmctl ticket issue --machine-key "$tmp/a.config" --name alice --user-data "role=ops" \
         --persistent --issued 2026-01-02T03:04:05Z --ttl 1h)
like "issue prints upper-case hex" "$cookie" '^[0-9A-F]+$'
json=$($farmctl ticket decode --machine-key "$tmp/a.config" --now 2026-01-02T03:30:00Z --json "$cookie"); rc=$?
is "decode of a fresh cookie exits 0" "$rc" 0
is "json status" "$(jq -r .status <<<"$json")" valid
is "json name" "$(jq -r .ticket.name <<<"$json")" alice
is "json user_data" "$(jq -r .ticket.user_data <<<"$json")" "role=ops"
is "json persistent" "$(jq -r .ticket.persistent <<<"$json")" true
is "json issue_utc" "$(jq -r .ticket.issue_utc <<<"$json")" "2026-01-02T03:04:05.0000000Z"
is "json expiration_utc" "$(jq -r .ticket.expiration_utc <<<"$json")" "2026-01-02T04:04:05.0000000Z"
is "json issue_ticks" "$(jq -r .ticket.issue_ticks <<<"$json")" 639029198450000000
is "json format" "$(jq -r .ticket.format <<<"$json")" v1
is "json version (SetAuthCookie default)" "$(jq -r .ticket.version <<<"$json")" 2
is "json keys are exactly status and ticket" "$(jq -c 'keys' <<<"$json")" '["status","ticket"]'
json=$($farmctl ticket decode --machine-key "$tmp/a.config" --now 2026-01-02T05:00:00Z --json "$cookie"); rc=$?
is "expired cookie exits 0" "$rc" 0
is "expired status" "$(jq -r .status <<<"$json")" expired
json=$($farmctl ticket decode --machine-key "$tmp/b.config" --json "$cookie"); rc=$?
is "another key file: exit 3" "$rc" 3
is "another key file: mac-mismatch, no ticket" "$(jq -c . <<<"$json")" '{"status":"mac-mismatch"}'
json=$($farmctl ticket decode --machine-key "$tmp/a.config" --json "${cookie:0:40}XYZ"); rc=$?
is "non-hex cookie: exit 3" "$rc" 3
is "non-hex cookie: malformed" "$(jq -r .status <<<"$json")" malformed
out=$(printf '%s\n' "$cookie" | $farmctl ticket decode --machine-key "$tmp/a.config" --now 2026-01-02T03:30:00Z -)
like "decode reads the cookie from stdin with -" "$out" "status: +valid"

# Legacy format round trip with keys on the command line.
dk=0123456789ABCDEF0123456789ABCDEF01234567
vk=F0E1D2C3B4A5968778695A4B3C2D1E0FF0E1D2C3B4A5968778695A4B3C2D1E0F
cookie=$($farmctl ticket issue --validation-key $vk --decryption-key ${dk}89ABCDEF --validation SHA1 \
         --decryption AES --compat Framework20SP1 --format legacy --name bob)
out=$($farmctl ticket decode --validation-key $vk --decryption-key ${dk}89ABCDEF --validation sha1 \
      --decryption aes --json "$cookie")
is "legacy-format ticket round trip" "$(jq -r '.status + " " + .ticket.format + " " + .ticket.name' <<<"$out")" "valid legacy bob"
out=$($farmctl ticket decode --validation-key $vk --decryption-key ${dk}89ABCDEF --validation SHA1 "$cookie")
like "no mode given: both pipelines tried, legacy matched" "$out" "pipeline: +legacy"

# Real ASP.NET cookies from the vectors, keys on the command line, no mode: the pipeline is named.
vec() { jq -r --arg id "$1" ".vectors[] | select(.id==\$id) | .$2" "$FARM_TEST_DATA/aspnet-vectors.json"; }
for id in dazinator-hmacsha512-aes256-fx45 kasem545-hmacsha256-aes256-legacy fa4j-legacyfmt-md5-aes192; do
  out=$($farmctl ticket decode --validation-key "$(vec $id validation_key_hex)" \
        --decryption-key "$(vec $id decryption_key_hex)" --validation "$(vec $id validation_alg)" \
        --decryption "$(vec $id decryption_alg)" --now "$(vec $id expected.issue_ticks_utc | head -c0)2000-01-01" \
        --json "$(vec $id cookie_hex)")
  is "$id: valid before expiry" "$(jq -r .status <<<"$out")" valid
  is "$id: name" "$(jq -r .ticket.name <<<"$out")" "$(vec $id expected.name)"
  is "$id: issue ticks" "$(jq -r .ticket.issue_ticks <<<"$out")" "$(vec $id expected.issue_ticks_utc)"
  case $id in *fx45) want=Framework45 ;; *) want="legacy (Framework20SP1/SP2)" ;; esac
  is "$id: pipeline" "$(jq -r .pipeline <<<"$out")" "$want"
done
id=leankit-negative-inner-mac
out=$($farmctl ticket decode --validation-key "$(vec $id validation_key_hex)" \
      --decryption-key "$(vec $id decryption_key_hex)" --validation SHA1 --decryption AES \
      --compat Framework20SP2 --json "$(vec $id cookie_hex)"); rc=$?
is "inner-MAC forgery: exit 3" "$rc" 3
is "inner-MAC forgery: bad-ticket" "$(jq -r .status <<<"$out")" bad-ticket

# Usage errors: exit 2, a clear message, no key echoed.
out=$($farmctl ticket decode --validation-key 0102 --decryption-key $dk --compat Framework45 "$cookie" 2>&1); rc=$?
is "bad keys: exit 2" "$rc" 2
out=$($farmctl ticket decode --validation-key ${vk}Q --decryption-key ${dk}89ABCDEF --compat Framework20SP2 "$cookie" 2>&1); rc=$?
is "bad hex: exit 2" "$rc" 2
unlike "bad hex: the key is not echoed" "$out" "F0E1D2C3"
out=$($farmctl ticket issue --machine-key "$tmp/a.config" 2>&1); rc=$?
is "issue without --name: exit 2" "$rc" 2
out=$($farmctl ticket decode "$cookie" 2>&1); rc=$?
is "decode without keys: exit 2" "$rc" 2
like "... says how to give keys" "$out" "--machine-key FILE"
out=$($farmctl ticket issue --machine-key /nonexistent.config --name x 2>&1); rc=$?
is "missing key file: exit 2" "$rc" 2

# which: name the file that issued a cookie.
cookie=$($farmctl ticket issue --machine-key "$tmp/b.config" --name carol)
out=$($farmctl ticket which "$cookie" --machine-key "$tmp/a.config" --machine-key "$tmp/b.config"); rc=$?
is "which: exit 0" "$rc" 0
like "which names b.config" "$out" "issued by: $tmp/b.config\$"
out=$($farmctl ticket which "$cookie" "$tmp/a.config"); rc=$?
is "which: no match exits 3" "$rc" 3
# 257 key files, the issuer last: refused whole, not answered from the first 256.
many=()
for i in $(seq 1 256); do many+=("$tmp/a.config"); done
out=$($farmctl ticket which "$cookie" "${many[@]}" "$tmp/b.config" 2>&1); rc=$?
is "which with 257 key files: exit 2" "$rc" 2
is "... too many key files (at most 256)" "$out" "farmctl: too many key files (at most 256)"
mk=()
for i in $(seq 1 200); do mk+=(--machine-key "$tmp/a.config"); done
out=$($farmctl ticket which "$cookie" "${mk[@]}" "${many[@]:0:57}" 2>&1); rc=$?
is "which with 200 --machine-key and 57 more files: exit 2, the same message" "$rc:$out" \
  "2:farmctl: too many key files (at most 256)"
out=$($farmctl ticket which "$cookie" "${many[@]:0:255}" "$tmp/b.config"); rc=$?
is "which with 256 key files, the issuer last: exit 0" "$rc" 0
like "... names it" "$out" "issued by: $tmp/b.config\$"

# lint: AutoGenerate, disclosed keys (built-in and from a list), exit codes.
cat > "$tmp/auto.config" <<'XML'
<configuration>
  <system.web>
    <machineKey validationKey="AutoGenerate,IsolateApps" decryptionKey="AutoGenerate,IsolateApps" />
  </system.web>
</configuration>
XML
out=$($farmctl key lint "$tmp/auto.config"); rc=$?
is "lint AutoGenerate: exit 1" "$rc" 1
like "lint AutoGenerate: file:line: error" "$out" "auto.config:3: error: validationKey is AutoGenerate.*\[autogenerate\]"
cat > "$tmp/blog.config" <<'XML'
<machineKey validationKey="8ED2CDBA742675EB1EDB2C650245CD179998786C2F74D2EF56BE488519BAE55B26717CF76A5348DC83D34F3E3F079DECAD2075FF278BD927C06F784923F59DD1"
            decryptionKey="B134B1E055D415013E31DECBF84B80492E8A8F1623F7332E" validation="SHA1" decryption="3DES" />
XML
out=$($farmctl key lint "$tmp/blog.config"); rc=$?
is "lint the 2006 blog key: exit 1" "$rc" 1
like "lint the 2006 blog key: disclosed" "$out" "publicly known \(the 2006 IIS 6 web-farm blog post"
unlike "lint never prints the key" "$out" "8ED2CDBA"
h=$(printf %s "$vkey" | tr a-f A-F | sha256sum | cut -d' ' -f1)
printf 'validationKey, decryptionKey\n%s, e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n' "$h" > "$tmp/list.csv"
out=$($farmctl key lint --disclosed "$tmp/list.csv" "$tmp/a.config"); rc=$?
is "lint --disclosed: exit 1" "$rc" 1
like "lint --disclosed: names the list" "$out" "disclosed-key list given"
out=$($farmctl key lint "$tmp/a.config" "$tmp/b.config"); rc=$?
is "lint of two files with different keys: exit 1" "$rc" 1
like "... says the farm disagrees" "$out" "\[mismatch\]"
printf '<machineKey validationKey="%s" decryptionKey="BAD" />' "$vkey" > "$tmp/bad.config"
out=$($farmctl key lint "$tmp/bad.config"); rc=$?
is "lint of a bad key: exit 1" "$rc" 1
like "... with file:line" "$out" "bad.config:1: error: "
echo 'not xml <' > "$tmp/notxml.config"
out=$($farmctl key lint "$tmp/notxml.config" 2>"$tmp/err"); rc=$?
is "lint of a non-XML file: exit 2 (unreadable input, not a finding)" "$rc" 2
like "... says not well-formed, on stderr" "$(cat "$tmp/err")" "^farmctl: .*notxml.config:1: not well-formed"
unlike "... and not on stdout" "$out" "not well-formed"

# lint: input it cannot read is not a finding. Exit 2 with the error on stderr, as
# fingerprint and compare do; the other files given are still linted.
mkdir "$tmp/a-directory.config"
for what in "missing file:$tmp/missing.config:No such file" \
            "directory:$tmp/a-directory.config:" \
            "non-XML file:$tmp/notxml.config:not well-formed"; do
  IFS=: read -r name file why <<<"$what"
  out=$($farmctl key lint "$file" 2>"$tmp/err"); rc=$?
  is "lint of a $name: exit 2" "$rc" 2
  like "lint of a $name: the error on stderr, naming the file" "$(cat "$tmp/err")" "^farmctl: $file.*$why"
  unlike "lint of a $name: no error on stdout" "$out" "$file"
  out=$($farmctl key fingerprint "$file" 2>/dev/null); rc=$?
  is "fingerprint of the same $name: exit 2 too" "$rc" 2
done
if [ "$(id -u)" != 0 ]; then
  cp "$tmp/a.config" "$tmp/locked.config"; chmod 000 "$tmp/locked.config"
  out=$($farmctl key lint "$tmp/locked.config" 2>"$tmp/err"); rc=$?
  is "lint of an unreadable file: exit 2" "$rc" 2
  like "... Permission denied, on stderr" "$(cat "$tmp/err")" "locked.config: .*Permission denied"
fi
out=$($farmctl key lint "$tmp/missing.config" "$tmp/auto.config" "$tmp/a.config" 2>"$tmp/err"); rc=$?
is "lint of a missing file and two others: exit 2 (over the others' findings)" "$rc" 2
like "... still lints the others" "$out" "auto.config:3: error: validationKey is AutoGenerate"
like "... and counts what it could not read" "$out" "in 2 machineKey element\(s\) of 3 file\(s\); 1 file\(s\) could not be read$"
out=$($farmctl key lint "$tmp/auto.config"); rc=$?
is "lint of a file with no error but AutoGenerate still: exit 1 (a finding)" "$rc" 1

# lint: a file in a folder with a space in its name keeps its path whole, once.
mkdir -p "$tmp/my keys"
printf '<machineKey validationKey="%s" decryptionKey="BAD" />' "$vkey" > "$tmp/my keys/web.config"
out=$($farmctl key lint "$tmp/my keys/web.config"); rc=$?
is "lint of 'my keys/web.config' with a bad key: exit 1" "$rc" 1
like "... the finding names file:line once, then ASP.NET's words" "$out" \
  "^$tmp/my keys/web.config:1: error: [^/]*\[config\]$"
unlike "... no second copy of the path in the message" "$out" "error: .*keys/web.config"

# lint --disclosed with a list it cannot read: exit 2, and why.
out=$($farmctl key lint --disclosed "$tmp/no-list.csv" "$tmp/a.config" 2>&1); rc=$?
is "lint --disclosed missing.csv: exit 2" "$rc" 2
like "... says why it cannot open it" "$out" "no-list.csv: cannot open: No such file or directory"
out=$($farmctl key lint --disclosed "$tmp/a-directory.config" "$tmp/a.config" 2>&1); rc=$?
is "lint --disclosed DIRECTORY: exit 2 (not an empty list)" "$rc" 2
like "... says it is a directory" "$out" "a-directory.config: cannot read: Is a directory"

# fingerprint and compare: same keys → same fingerprint; never the key itself.
cp "$tmp/a.config" "$tmp/a2.config"
out=$($farmctl key fingerprint "$tmp/a.config" "$tmp/a2.config" "$tmp/b.config")
fa=$(grep -o 'v=[0-9a-f]* d=[0-9a-f]*' <<<"$out" | sed -n 1p)
fa2=$(grep -o 'v=[0-9a-f]* d=[0-9a-f]*' <<<"$out" | sed -n 2p)
fb=$(grep -o 'v=[0-9a-f]* d=[0-9a-f]*' <<<"$out" | sed -n 3p)
is "same keys, same fingerprint" "$fa" "$fa2"
ok_if "other keys, other fingerprint" test "$fa" != "$fb"
unlike "fingerprint never prints the key" "$out" "${vkey:0:16}"
out=$($farmctl key compare "$tmp/a.config" "$tmp/a2.config"); rc=$?
is "compare of identical keys: exit 0" "$rc" 0
out=$($farmctl key compare "$tmp/a.config" "$tmp/b.config" "$tmp/auto.config"); rc=$?
is "compare with a mismatch: exit 1" "$rc" 1
like "compare explains: validationKey differs" "$out" "a.config -> .*b.config: mac-mismatch: validationKey differs; decryptionKey differs"
like "compare explains: AutoGenerate" "$out" "auto.config: mac-mismatch: .*AutoGenerate"
like "compare names the file on AutoGenerate (as issuer)" "$out" \
  "^$tmp/auto.config -> $tmp/a.config: mac-mismatch: $tmp/auto.config uses AutoGenerate"
like "compare names the file on AutoGenerate (as checker)" "$out" \
  "^$tmp/a.config -> $tmp/auto.config: mac-mismatch: $tmp/auto.config uses AutoGenerate"
unlike "compare calls no side A or B" "$out" "(^|: )[AB] uses"
like "compare says what AutoGenerate means for that file" "$out" \
  "^$tmp/auto.config: AutoGenerate: a server with this file makes random keys per process"
unlike "compare never prints the key" "$out" "${vkey:0:16}"

done_testing
