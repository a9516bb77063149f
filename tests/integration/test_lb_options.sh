#!/usr/bin/env bash
# lb's startup errors say what is wrong, and where (file:line in a --config file); a long
# --health-path reaches the node whole and alone, and one past the limit is refused.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
. "$here/lb_lib.sh"
T=$SN_TMP

# --- the health check's request, byte for byte --------------------------------------------------
# A listener that prints its port, then (one line, Python repr) every byte of the first
# connection it gets, until lb closes it at --health-timeout.
mkfifo "$T/catch.out"
python3 -c '
import socket, sys
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
ls.settimeout(20)
print(ls.getsockname()[1], flush=True)
c, _ = ls.accept()
c.settimeout(20)
data = b""
while True:
    chunk = c.recv(65536)
    if not chunk:
        break
    data += chunk
print(repr(data), flush=True)
' >"$T/catch.out" &
catcher=$!
_sn_children+=("$catcher")
exec {catch_fd}<"$T/catch.out"
read -r -t 10 -u "$catch_fd" port || port=
ok_if "a listener catches the check ($port)" test -n "$port"
hp="/$(printf 'h%.0s' $(seq 400))"
lb_must_start hp --node "catch=127.0.0.1:$port" --health-path "$hp" --health-timeout 300ms
read -r -t 10 -u "$catch_fd" got || got=
want=$(python3 -c 'import sys; print(repr(("GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: farmlab-lb-check\r\nConnection: close\r\n\r\n" % (sys.argv[1], sys.argv[2])).encode()))' "$hp" "127.0.0.1:$port")
is "--health-path of 401 characters: the node gets the whole request and nothing else" \
  "$got" "$want"
exec {catch_fd}<&-
wait "$catcher" 2>/dev/null

long="/$(printf 'h%.0s' $(seq 1024))"
timeout 10 "$LB" --listen 127.0.0.1:0 --node web1=127.0.0.1:1 --health-path "$long" >"$T/o.out" 2>&1
is "--health-path of 1025 characters: exit 2" "$?" 2
like "... the error names the limit" "$(cat "$T/o.out")" '--health-path: at most 1024 characters'

# --- startup errors say what is wrong ----------------------------------------------------------
startup_error() { # description want-pattern lb-args...
  local desc=$1 want=$2; shift 2
  timeout 10 "$LB" "$@" >"$T/o.out" 2>&1
  local rc=$?
  is "$desc: exit 2" "$rc" 2
  like "$desc: says '$want'" "$(cat "$T/o.out")" "$want"
}
startup_error "--admin 127.0.0.1 (no port)" "--admin: '127\.0\.0\.1' has no port" \
  --listen 127.0.0.1:0 --node web1=127.0.0.1:1 --admin 127.0.0.1
unlike "--admin 127.0.0.1: not called 'not a loopback address'" "$(cat "$T/o.out")" 'loopback'
startup_error "--listen 127.0.0.1 (no port)" "--listen: '127\.0\.0\.1' has no port" \
  --listen 127.0.0.1 --node web1=127.0.0.1:1
startup_error "--admin 127.0.0.1:http (bad port)" "port is a number from 0 to 65535" \
  --listen 127.0.0.1:0 --node web1=127.0.0.1:1 --admin 127.0.0.1:http
startup_error "--max-sessions 0" "--max-sessions: a number from 1 to 10000000, not '0'" \
  --listen 127.0.0.1:0 --node web1=127.0.0.1:1 --max-sessions 0
unlike "--max-sessions 0: no talk of memory" "$(cat "$T/o.out")" 'memory'

config_error() { # description want-pattern file-lines...
  local desc=$1 want=$2; shift 2
  printf '%s\n' "$@" >"$T/bad.ini"
  timeout 10 "$LB" --config "$T/bad.ini" >"$T/o.out" 2>&1
  local rc=$?
  is "$desc: exit 2" "$rc" 2
  like "$desc: names file:line" "$(cat "$T/o.out")" "$want"
}
config_error "listen without a port on line 2" "bad\.ini:2: --listen: '127\.0\.0\.1' has no port" \
  "node = web1=127.0.0.1:1" "listen = 127.0.0.1"
config_error "a listen that is not an address on line 1" "bad\.ini:1: --listen: 'nowhere:80'" \
  "listen = nowhere:80"
config_error "admin without a port on line 3" "bad\.ini:3: --admin: '127\.0\.0\.1' has no port" \
  "listen = 127.0.0.1:0" "node = web1=127.0.0.1:1" "admin = 127.0.0.1"
config_error "max-sessions = 0 on line 2" "bad\.ini:2: --max-sessions: a number from 1" \
  "listen = 127.0.0.1:0" "max-sessions = 0"

# --- --admin-token on the command line: erased from argv, a warning, still required ----------
# The token is random per run, and looked for with grep -f so that it never reaches the output.
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/token"
token=$(cat "$T/token")
lb_must_start tok --node web1=127.0.0.1:1 --health-path '' --admin-token "$token"
tr '\0' ' ' <"/proc/${SN_PID[tok]}/cmdline" >"$T/tok.cmdline"
like "--admin-token: /proc/PID/cmdline still shows the option" "$(cat "$T/tok.cmdline")" \
  '--admin-token +$'
ok_unless "--admin-token: /proc/PID/cmdline does not hold the token while lb runs" \
  grep -qF -f "$T/token" "$T/tok.cmdline"
is "--admin-token: one warning event, before the ready lines" \
  "$(grep -c 'event=warning' "${SN_LOG[tok]}"):$(sed -n 1p "${SN_LOG[tok]}")" \
  '1:lb event=warning what="admin token on the command line: ps shows it; put admin-token in a --config file (mode 0600)"'
ok_unless "--admin-token: the log never shows the token" grep -qF -f "$T/token" "${SN_LOG[tok]}"
LB_TOKEN=
lb_api tok GET /nodes
is "--admin-token: still required: 401 without it" "$ST" 401
LB_TOKEN=$token
lb_api tok GET /nodes
is "--admin-token: 200 with it" "$ST" 200
LB_TOKEN=Bearer-not-$token
lb_api tok GET /nodes
is "--admin-token: 401 with another" "$ST" 401
LB_TOKEN=

printf 'listen = 127.0.0.1:0\nadmin = 127.0.0.1:0\nnode = web1=127.0.0.1:1\nhealth-path =\nadmin-token = %s\n' \
  "$token" >"$T/tok.ini"
chmod 600 "$T/tok.ini"
lb_must_start tokcfg --config "$T/tok.ini"
unlike "admin-token in --config: no warning" "$(cat "${SN_LOG[tokcfg]}")" 'event=warning'
LB_TOKEN=$token
lb_api tokcfg GET /nodes
is "admin-token in --config: 200 with it" "$ST" 200
LB_TOKEN=
lb_api tokcfg GET /nodes
is "admin-token in --config: 401 without it" "$ST" 401
out=$("$LB" --help)
like "lb --help: --admin-token says ps shows it" "$out" 'ps shows it'
if [ -n "${FARM_SOURCE_DIR:-}" ]; then
  like "docs/lb.md: the --admin-token row says so" \
    "$(grep '^| `--admin-token TOKEN`' "$FARM_SOURCE_DIR/docs/lb.md")" 'ps.*--config'
fi

lb_finish
