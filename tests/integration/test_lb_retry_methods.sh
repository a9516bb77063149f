#!/usr/bin/env bash
# docs/lb.md's list of the methods lb retries on another node after the request reached a
# node that then failed (the idempotent ones) is exactly what lb does: every method is sent
# first to a node that reads the request and closes without answering; a retried method is
# answered by web1, the others get 502.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.sh"
. "$here/simnode_lib.sh"
. "$here/lb_lib.sh"
T=$SN_TMP
: "${FARM_SOURCE_DIR:=$here/../..}"

lb_farm 1
# The sink: prints its port, then takes every request (head and Content-Length body) and
# closes the connection without a byte of answer.
mkfifo "$T/sink.out"
python3 -c '
import re, socket, sys, threading
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(16)
print(ls.getsockname()[1], flush=True)
def serve(c):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", data)
    need = int(m.group(1)) if m else 0
    while len(data.partition(b"\r\n\r\n")[2]) < need:
        chunk = c.recv(65536)
        if not chunk:
            break
        data += chunk
    c.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
' >"$T/sink.out" &
_sn_children+=("$!")
exec {sink_fd}<"$T/sink.out"
read -r -t 10 -u "$sink_fd" sink_port || sink_port=
ok_if "the sink listens ($sink_port)" test -n "$sink_port"
# The sink first in every rotation (weight 256 against 1); no checks, no passive detection,
# so that it stays in.
lb_must_start r --node "sink=127.0.0.1:$sink_port" --weight sink=256 "${LB_NODE_ARGS[@]}" \
  --health-path '' --no-passive --retries 1

retried=
for m in GET HEAD PUT DELETE OPTIONS TRACE POST PATCH; do
  args=(-X "$m")
  [ "$m" = HEAD ] && args=(-I)
  case $m in PUT | POST | PATCH) args+=(--data x) ;; esac
  out=$(curl -sS --max-time 10 -D - -o /dev/null "${args[@]}" "http://${LB_ADDR[r]}/whoami" 2>/dev/null |
        tr -d '\r')
  st=$(printf '%s\n' "$out" | head -n 1 | cut -d' ' -f2)
  node=$(printf '%s\n' "$out" | grep -i '^x-farm-node:' | sed 's/^[^:]*: *//')
  if [ "$node" = web1 ]; then
    retried="$retried $m"
  else
    is "$m is not retried: 502" "$st" 502
  fi
done
retried=${retried# }
is "lb retries exactly the idempotent methods" "$retried" "GET HEAD PUT DELETE OPTIONS TRACE"

doc=$(tr '\n' ' ' <"$FARM_SOURCE_DIR/docs/lb.md" | tr -s ' ' |
      grep -o 'only when it is idempotent ([A-Z, ]*)' | sed 's/.*(\(.*\))/\1/; s/,//g')
is "docs/lb.md lists the methods lb retries" "$doc" "$retried"

lb_finish
