#!/usr/bin/env bash
# farmctl's keys kept off the command line: --validation-key/--decryption-key @FILE and -
# (standard input) give what HEX gives; a HEX key still works, but is erased from the
# process's argv (what ps and /proc/PID/cmdline show) once parsed, with a warning.
# No raw key reaches this script's output: key checks grep with -f KEYFILE.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
: "${FARM_BIN:=$here/../../build/bin}"
farmctl=$FARM_BIN/farmctl
tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

warning='farmctl: warning: a key on the command line is visible to other users in ps and stays in shell history; use --machine-key FILE or --validation-key @FILE'

$farmctl key generate >"$tmp/k.config"
vk=$(grep -o 'validationKey="[0-9A-F]*"' "$tmp/k.config" | cut -d'"' -f2)
dk=$(grep -o 'decryptionKey="[0-9A-F]*"' "$tmp/k.config" | cut -d'"' -f2)
printf '%s\n' "$vk" >"$tmp/vk.txt"
printf '  %s \r\n\n' "$dk" >"$tmp/dk.txt" # whitespace around it is trimmed
printf '%s\n' "$dk" >"$tmp/dk.pat"
now=2026-01-02T03:30:00Z
cookie=$($farmctl ticket issue --machine-key "$tmp/k.config" --name alice --issued 2026-01-02T03:04:05Z)
like "a cookie to decode" "$cookie" '^[0-9A-F]+$'

# The reference: keys as HEX on the command line (still accepted, with one warning line).
ref=$($farmctl ticket decode --validation-key "$vk" --decryption-key "$dk" --now $now --json \
      "$cookie" 2>"$tmp/hex.err"); rc=$?
is "HEX keys: exit 0" "$rc" 0
is "HEX keys: valid, alice" "$(jq -r '.status + " " + .ticket.name' <<<"$ref")" "valid alice"
is "HEX keys: exactly one line on stderr, the warning" "$(cat "$tmp/hex.err")" "$warning"

decode_as_ref() { # description stdin-text decode-args...
  local desc=$1 in=$2 out rc; shift 2
  out=$(printf '%s' "$in" | $farmctl ticket decode "$@" --now $now --json "$cookie" 2>"$tmp/err"); rc=$?
  is "$desc: exit 0" "$rc" 0
  is "$desc: the same answer as HEX" "$out" "$ref"
  is "$desc: nothing on stderr (no warning)" "$(cat "$tmp/err")" ""
}
decode_as_ref "both keys as @FILE" "" \
  --validation-key "@$tmp/vk.txt" --decryption-key "@$tmp/dk.txt"
decode_as_ref "--validation-key - (stdin), --decryption-key @FILE" "$vk"$'\n' \
  --validation-key - --decryption-key "@$tmp/dk.txt"
decode_as_ref "--decryption-key - (stdin, blank lines and spaces around it)" $'\n  '"$dk"$' \n' \
  --validation-key "@$tmp/vk.txt" --decryption-key -
decode_as_ref "both keys -: the validation key's line first, whatever the option order" \
  "$vk"$'\n'"$dk"$'\n' --decryption-key - --validation-key -
decode_as_ref "--validation-key=@FILE (the = form)" "" \
  "--validation-key=@$tmp/vk.txt" "--decryption-key=@$tmp/dk.txt"

# Keys and the cookie all from standard input: the key lines, then the cookie.
out=$(printf '%s\n%s\n%s\n' "$vk" "$dk" "$cookie" |
      $farmctl ticket decode --validation-key - --decryption-key - --now $now --json - 2>"$tmp/err"); rc=$?
is "keys - and COOKIE - together: exit 0" "$rc" 0
is "keys - and COOKIE - together: the same answer as HEX" "$out" "$ref"

# issue takes them too: a cookie issued with @FILE keys is valid under the key file.
c2=$($farmctl ticket issue --validation-key "@$tmp/vk.txt" --decryption-key - --compat Framework45 \
     --name bob <"$tmp/dk.txt" 2>"$tmp/err")
out=$($farmctl ticket decode --machine-key "$tmp/k.config" --json "$c2")
is "issue with @FILE and - keys: valid under the key file" \
  "$(jq -r '.status + " " + .ticket.name' <<<"$out")" "valid bob"
is "issue with @FILE and - keys: no warning" "$(cat "$tmp/err")" ""

# Refused: exit 2, a message naming the option, never the key.
refused() { # description want-pattern stdin-file decode-args...
  local desc=$1 want=$2 in=$3 out rc; shift 3
  out=$($farmctl ticket decode "$@" --json "$cookie" <"$in" 2>&1); rc=$?
  is "$desc: exit 2" "$rc" 2
  like "$desc: says '$want'" "$out" "$want"
  ok_unless "$desc: the key is not echoed" grep -qiF -f "$tmp/dk.pat" <<<"$out"
}
head -c 5000 /dev/zero | tr '\0' A >"$tmp/long.txt"
: >"$tmp/empty.txt"
refused "@FILE of 5000 bytes" "--decryption-key @.*long\.txt: .*too long" /dev/null \
  --validation-key "@$tmp/vk.txt" --decryption-key "@$tmp/long.txt"
refused "a line of 5000 characters on stdin" "--decryption-key -: .*too long" "$tmp/long.txt" \
  --validation-key "@$tmp/vk.txt" --decryption-key -
refused "HEX of 5000 characters" "--decryption-key: .*too long" /dev/null \
  --validation-key "@$tmp/vk.txt" --decryption-key "$(cat "$tmp/long.txt")"
refused "an empty @FILE" "--decryption-key @.*empty\.txt: empty" /dev/null \
  --validation-key "@$tmp/vk.txt" --decryption-key "@$tmp/empty.txt"
refused "a missing @FILE" "--decryption-key @.*nothere\.txt: cannot open" /dev/null \
  --validation-key "@$tmp/vk.txt" --decryption-key "@$tmp/nothere.txt"
refused "--decryption-key @ (no file name)" "--decryption-key @: give a file name" /dev/null \
  --validation-key "@$tmp/vk.txt" --decryption-key @
refused "--decryption-key - with nothing on stdin" "--decryption-key -: .*no key" /dev/null \
  --validation-key "@$tmp/vk.txt" --decryption-key -
printf '%s\n' "$vk" >"$tmp/one-line.txt"
refused "both keys - with one line on stdin" "--decryption-key -: .*no key" "$tmp/one-line.txt" \
  --validation-key - --decryption-key -
printf 'ZZ%s\n' "$dk" >"$tmp/bad.txt"
refused "@FILE that is not hex" "decryption" /dev/null \
  --validation-key "@$tmp/vk.txt" --decryption-key "@$tmp/bad.txt"

# While a farmctl that was given HEX keys still runs (blocked reading the cookie from a fifo
# this script holds open), its command line no longer holds the keys.
mkfifo "$tmp/in.fifo" "$tmp/err.fifo"
$farmctl ticket decode --validation-key "$vk" "--decryption-key=$dk" --now $now --json - \
  <"$tmp/in.fifo" >"$tmp/blocked.out" 2>"$tmp/err.fifo" &
pid=$!
pids+=("$pid")
exec {w}>"$tmp/in.fifo"
exec {e}<"$tmp/err.fifo"
IFS= read -r -t 10 -u "$e" line || line=
is "HEX keys, blocked on the cookie: the warning came first" "$line" "$warning"
ok_if "... and it still runs" kill -0 "$pid"
tr '\0' ' ' <"/proc/$pid/cmdline" >"$tmp/cmdline" 2>/dev/null
like "... /proc/PID/cmdline still shows the command" "$(cat "$tmp/cmdline")" \
  'ticket decode --validation-key .* --now'
ok_unless "... /proc/PID/cmdline does not hold the validation key (--validation-key HEX)" \
  grep -qiF -f "$tmp/vk.txt" "$tmp/cmdline"
ok_unless "... /proc/PID/cmdline does not hold the decryption key (--decryption-key=HEX)" \
  grep -qiF -f "$tmp/dk.pat" "$tmp/cmdline"
ps -o args= -p "$pid" >"$tmp/ps" 2>/dev/null
ok_unless "... nor does ps" grep -qiF -f "$tmp/vk.txt" "$tmp/ps"
printf '%s\n' "$cookie" >&"$w"
exec {w}>&-
wait "$pid"; rc=$?
cat <&"$e" >"$tmp/rest.err"
exec {e}<&-
is "... then, given the cookie: exit 0" "$rc" 0
is "... the same answer as before" "$(cat "$tmp/blocked.out")" "$ref"
is "... and no second warning" "$(cat "$tmp/rest.err")" ""

# The help and the manual say how to keep keys off the command line.
out=$($farmctl ticket issue --help)
like "issue --help: @FILE" "$out" '@FILE'
like "issue --help: - reads standard input" "$out" "-  .*standard input"
like "issue --help: says ps shows HEX" "$out" 'ps'
out=$($farmctl ticket decode --help)
like "decode --help: keys and COOKIE from stdin, in order" "$out" 'after the key lines'
if [ -n "${FARM_SOURCE_DIR:-}" ]; then
  keys=$(sed -n '/^## KEYS/,/^## key generate/p' "$FARM_SOURCE_DIR/docs/farmctl.md")
  like "docs/farmctl.md KEYS: @FILE" "$keys" '--validation-key @FILE'
  like "docs/farmctl.md KEYS: -" "$keys" '--validation-key -'
  like "docs/farmctl.md KEYS: the warning" "$keys" 'warning'
fi

done_testing
