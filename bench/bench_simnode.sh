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
bench_name=bench_simnode
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

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

sim_node="$build/bin/sim-node"
farmctl="$build/bin/farmctl"

# --- what we need -----------------------------------------------------------------------
need_tools them wrk nginx taskset curl jq
need_built "$sim_node" "$farmctl"
need_cpus "server on 0, wrk on 1"
bench_tmp simnode

# --- sim-node on CPU 0 ------------------------------------------------------------------
"$farmctl" key generate >"$tmp/web.config"
start_ready sim-node 0 1 "$sim_node" --name bench --listen 127.0.0.1:0 \
  --machine-key "$tmp/web.config"
sim_addr=$(ready_addr sim-node)
[ -n "$sim_addr" ] || die "sim-node did not become ready: $(cat "$tmp/sim-node.log" 2>/dev/null)"

# One login gives the ticket every benchmark request carries.
cookie=$(sim_login "$sim_addr")
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
# No access log: sim-node writes no line per request either, so neither side pays for one.
nginx_conf() { # PORT
  nginx_conf_head nginx 1024
  cat <<EOF
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
  # On another port when this one was taken after all.
  if poll_start nginx 0 "http://127.0.0.1:$port/" \
    nginx -p "$tmp" -e "$tmp/nginx-error.log" -c "$tmp/nginx.conf"; then
    nginx_addr="127.0.0.1:$port"
    break
  fi
done
[ -n "$nginx_addr" ] || die "$(not_started nginx)"
[ "$(curl -s --max-time 2 "http://$nginx_addr/")" = ok ] || die "nginx did not answer 'ok'"

# --- the runs ---------------------------------------------------------------------------
# Both servers get the same request headers; nginx ignores them.
run_wrk() { # NAME URL -> prints requests/s; fails on non-2xx answers or no requests at all
  local name=$1 url=$2 out="$tmp/wrk-$1-$run.txt" rps non2xx errors
  taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" \
    -H "$hdr_cookie" -H "$hdr_accept" "$url" >"$out" 2>&1 ||
    die "wrk against $name failed: $(tail -3 "$out")"
  rps=$(wrk_field "$out" rps)
  non2xx=$(wrk_field "$out" non2xx)
  errors=$(wrk_field "$out" socket_errors)
  [ -n "$rps" ] || die "wrk against $name: no Requests/sec in its output: $(cat "$out")"
  [ -z "$non2xx" ] || die "wrk against $name: $non2xx non-2xx answers"
  [ -z "$errors" ] || say "$name: Socket errors: $errors"
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
