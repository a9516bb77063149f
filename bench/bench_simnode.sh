#!/usr/bin/env bash
# bench_simnode.sh: GET /whoami with a valid forms ticket on a sim-node, against nginx
# answering `return 200` in the same run. wrk drives both from CPU 1, the server under test
# runs on CPU 0. The issue's requirement: sim-node reaches at least half of nginx's rate.
#
#   bench/bench_simnode.sh             3 rounds of 5 s per server (about 35 s)
#   bench/bench_simnode.sh --quick     3 rounds of 1 s: a smoke test, not a measurement
#   bench/bench_simnode.sh --json      the results as one JSON object on stdout
#   bench/bench_simnode.sh --no-fail   exit 0 even when the ratio is below 0.5
#
# Exit status: 0 pass, 1 ratio below 0.5 or a check failed, 2 usage or missing tools.
# Environment: BUILD (default build) is the CMake build directory holding bin/sim-node.
set -euo pipefail

usage() {
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
}

duration=5
rounds=3
connections=32
min_ratio=0.5
json=0
no_fail=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) duration=1 ;;
    --json) json=1 ;;
    --no-fail) no_fail=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench_simnode: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
sim_node="$build/bin/sim-node"
farmctl="$build/bin/farmctl"

say() { echo "bench_simnode: $*" >&2; }
die() { say "$*"; exit 1; }

# --- what we need -----------------------------------------------------------------------
missing=()
for tool in wrk nginx taskset curl jq; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "missing: ${missing[*]} — scripts/install-deps.sh --bench installs them"
  exit 2
fi
for bin in "$sim_node" "$farmctl"; do
  [ -x "$bin" ] || { say "$bin not built: run make (or cmake --build $build)"; exit 2; }
done
# One core for the server, another for wrk. nproc counts the CPUs we may run on.
if [ "$(nproc)" -lt 2 ] || ! taskset -c 0 true 2>/dev/null || ! taskset -c 1 true 2>/dev/null; then
  say "needs CPUs 0 and 1 (server on 0, wrk on 1); this process may use: $(taskset -pc $$ | sed 's/.*: //')"
  exit 2
fi

# --- cleanup: every child goes, whatever happens ----------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-simnode.XXXXXX")
sim_pid=""
drain_pid=""
nginx_pid=""
# shellcheck disable=SC2317 # called through the trap
cleanup() {
  local pid
  for pid in "$sim_pid" "$nginx_pid"; do
    if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in "$sim_pid" "$nginx_pid" "$drain_pid"; do
    if [ -n "$pid" ]; then wait "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- sim-node on CPU 0 ------------------------------------------------------------------
"$farmctl" key generate >"$tmp/web.config"
mkfifo "$tmp/sim-node.stderr"
taskset -c 0 "$sim_node" --name bench --listen 127.0.0.1:0 --machine-key "$tmp/web.config" \
  2>"$tmp/sim-node.stderr" >/dev/null &
sim_pid=$!
exec {sim_fd}<"$tmp/sim-node.stderr"
sim_addr=""
while IFS= read -r -t 10 -u "$sim_fd" line; do
  printf '%s\n' "$line" >>"$tmp/sim-node.log"
  case "$line" in
    *event=ready*)
      sim_addr=$(printf '%s\n' "$line" | sed -n 's/.* listen=\([^ ]*\).*/\1/p')
      break
      ;;
  esac
done
[ -n "$sim_addr" ] || die "sim-node did not become ready: $(cat "$tmp/sim-node.log" 2>/dev/null)"
# Keep reading its stderr so that it can never block on a full pipe.
cat <&"$sim_fd" >>"$tmp/sim-node.log" &
drain_pid=$!
exec {sim_fd}<&-

# One login gives the ticket every benchmark request carries.
cookie=$(curl -sS --max-time 5 -D - -o /dev/null "http://$sim_addr/login?user=bench" |
  tr -d '\r' | sed -n 's/^Set-Cookie: \.ASPXAUTH=\([^;]*\);.*/\1/Ip')
[ -n "$cookie" ] || die "GET /login on sim-node gave no .ASPXAUTH cookie"
hdr_cookie="Cookie: .ASPXAUTH=$cookie"
hdr_accept="Accept: application/json"

# The ticket must really be valid, or we would be timing the cheap rejection path.
curl -sS --max-time 5 -D "$tmp/whoami.head" -o "$tmp/whoami.body" \
  -H "$hdr_cookie" -H "$hdr_accept" "http://$sim_addr/whoami"
tr -d '\r' <"$tmp/whoami.head" >"$tmp/whoami.h"
grep -q '^HTTP/1.1 200 ' "$tmp/whoami.h" || die "GET /whoami: $(head -1 "$tmp/whoami.h")"
grep -qi '^X-Farm-Ticket: valid$' "$tmp/whoami.h" ||
  die "GET /whoami: $(grep -i '^X-Farm-Ticket:' "$tmp/whoami.h" || echo 'no X-Farm-Ticket'), want valid"

# --- nginx on CPU 0 ---------------------------------------------------------------------
# Foreground, one process, everything it writes under $tmp: safe as any user. No access
# log: sim-node writes no line per request either, so neither side pays for one.
nginx_conf() {
  cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx-body;
    proxy_temp_path $tmp/nginx-proxy;
    fastcgi_temp_path $tmp/nginx-fastcgi;
    uwsgi_temp_path $tmp/nginx-uwsgi;
    scgi_temp_path $tmp/nginx-scgi;
    default_type text/plain;
    server {
        listen 127.0.0.1:$1;
        location / { return 200 "ok"; }
    }
}
EOF
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

nginx_addr=""
port=$((20000 + RANDOM % 40000))
for _ in $(seq 1 20); do
  port=$((port + 1))
  [ "$port" -gt 60000 ] && port=20000
  port_in_use "$port" && continue
  nginx_conf "$port" >"$tmp/nginx.conf"
  taskset -c 0 nginx -p "$tmp" -e "$tmp/nginx-error.log" -c "$tmp/nginx.conf" \
    >/dev/null 2>>"$tmp/nginx-stderr.log" &
  nginx_pid=$!
  # nginx prints no ready line: poll until it answers, or it exits (port taken after all).
  for _ in $(seq 1 200); do
    if curl -s --max-time 1 -o /dev/null "http://127.0.0.1:$port/"; then
      nginx_addr="127.0.0.1:$port"
      break 2
    fi
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.025
  done
  kill -TERM "$nginx_pid" 2>/dev/null || true
  wait "$nginx_pid" 2>/dev/null || true
  nginx_pid=""
done
[ -n "$nginx_addr" ] || die "nginx did not start: $(cat "$tmp/nginx-stderr.log" 2>/dev/null; tail -3 "$tmp/nginx-error.log" 2>/dev/null)"
[ "$(curl -s --max-time 2 "http://$nginx_addr/")" = ok ] || die "nginx did not answer 'ok'"

# --- the runs ---------------------------------------------------------------------------
# Both servers get the same request headers; nginx ignores them.
run_wrk() { # NAME URL -> prints requests/s; fails on non-2xx answers or no requests at all
  local name=$1 url=$2 out="$tmp/wrk-$1-$run.txt" rps non2xx
  taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" \
    -H "$hdr_cookie" -H "$hdr_accept" "$url" >"$out" 2>&1 ||
    die "wrk against $name failed: $(tail -3 "$out")"
  rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$out")
  non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$out")
  [ -n "$rps" ] || die "wrk against $name: no Requests/sec in its output: $(cat "$out")"
  [ -z "$non2xx" ] || die "wrk against $name: $non2xx non-2xx answers"
  if grep -q '^ *Socket errors:' "$out"; then
    say "$name: $(grep '^ *Socket errors:' "$out" | sed 's/^ *//')"
  fi
  awk -v r="$rps" 'BEGIN { if (r + 0 <= 0) exit 1 }' || die "wrk against $name: 0 requests/s"
  echo "$rps"
}

ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# sim-node counts each request's ticket verdict; compare the counts after the runs.
tickets_jq='.counters.tickets | [.valid, ([to_entries[] | select(.key != "valid") | .value] | add)] | @tsv'
read -r sim_before other_before < <(curl -s --max-time 2 "http://$sim_addr/_farm/info" | jq -r "$tickets_jq")

nginx_rps=()
sim_rps=()
ratios=()
[ $json = 1 ] || printf '%-6s %-10s %14s %14s %8s\n' round first nginx/s sim-node/s ratio
run=0
for round in $(seq 1 "$rounds"); do
  # A/B, then B/A: the order alternates so that a drift in the machine's speed hits both.
  if [ $((round % 2)) = 1 ]; then
    run=$((run + 1)); n=$(run_wrk nginx "http://$nginx_addr/")
    run=$((run + 1)); s=$(run_wrk sim-node "http://$sim_addr/whoami")
    first=nginx
  else
    run=$((run + 1)); s=$(run_wrk sim-node "http://$sim_addr/whoami")
    run=$((run + 1)); n=$(run_wrk nginx "http://$nginx_addr/")
    first=sim-node
  fi
  nginx_rps+=("$n")
  sim_rps+=("$s")
  ratios+=("$(ratio_of "$s" "$n")")
  [ $json = 1 ] || printf '%-6s %-10s %14.0f %14.0f %8s\n' "$round" "$first" "$n" "$s" "${ratios[-1]}"
done

# Every request sim-node answered in the runs must have carried a valid ticket.
sim_info=$(curl -s --max-time 2 "http://$sim_addr/_farm/info")
read -r sim_valid sim_other < <(jq -r "$tickets_jq" <<<"$sim_info")
[ "$sim_other" = "$other_before" ] ||
  die "sim-node saw $((sim_other - other_before)) requests without a valid ticket: $(jq -c .counters.tickets <<<"$sim_info")"
[ "$sim_valid" -gt "$sim_before" ] || die "sim-node validated no tickets during the runs"

nginx_median=$(median "${nginx_rps[@]}")
sim_median=$(median "${sim_rps[@]}")
ratio=$(median "${ratios[@]}")
pass=$(awk -v r="$ratio" -v m="$min_ratio" 'BEGIN { print (r >= m) ? "true" : "false" }')

if [ $json = 1 ]; then
  jq -n --argjson nginx "[$(IFS=,; echo "${nginx_rps[*]}")]" \
    --argjson sim "[$(IFS=,; echo "${sim_rps[*]}")]" \
    --argjson ratios "[$(IFS=,; echo "${ratios[*]}")]" \
    --argjson nm "$nginx_median" --argjson sm "$sim_median" --argjson r "$ratio" \
    --argjson min "$min_ratio" --argjson pass "$pass" --argjson d "$duration" \
    --argjson c "$connections" --argjson valid "$((sim_valid - sim_before))" \
    '{benchmark: "sim-node /whoami vs nginx return 200", duration_s: $d, connections: $c,
      server_cpu: 0, client_cpu: 1,
      nginx: {rps: $nginx, median: $nm},
      sim_node: {rps: $sim, median: $sm, valid_tickets: $valid},
      ratios: $ratios, ratio: $r, min_ratio: $min, pass: $pass}'
else
  printf '%-6s %-10s %14.0f %14.0f %8s\n' median "" "$nginx_median" "$sim_median" "$ratio"
  echo "sim-node/nginx = $ratio (median of the per-round ratios; at least $min_ratio required)" \
    "— $((sim_valid - sim_before)) tickets validated, all valid"
fi

if [ "$pass" != true ]; then
  say "FAILED: sim-node reaches $ratio of nginx's rate, below $min_ratio"
  [ $no_fail = 1 ] || exit 1
fi
exit 0
