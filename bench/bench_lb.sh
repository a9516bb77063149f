#!/usr/bin/env bash
# bench_lb.sh: lb against HAProxy (nbthread 1) and nginx (worker_processes 1) as round-robin
# proxies in one run. The proxy under test runs on CPU 0; wrk and the backends (three nginx
# answering `return 200 "ok"`, and three sim-nodes for the /health line) run on CPU 1.
#
#   bench/bench_lb.sh                3 rounds of 5 s per run (about 4 minutes)
#   bench/bench_lb.sh --quick        3 rounds of 1 s: a smoke test, not a measurement
#   bench/bench_lb.sh --rounds N     N interleaved rounds (at least 3)
#   bench/bench_lb.sh --no-sim-node  skip the line with sim-node backends
#   bench/bench_lb.sh --json         the results as one JSON object on stdout
#   bench/bench_lb.sh --no-fail      exit 0 even when lb misses a target
#
# Exit status: 0 every target met, 1 a target missed or a check failed, 2 usage or missing
# tools. Environment: BUILD (default build) is the CMake build directory holding bin/lb.
set -euo pipefail
bench_name=bench_lb
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

duration=5
rounds=3
connections=32
n_backends=3
idle_conns=1000
json=0
no_fail=0
with_sim=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) duration=1 ;;
    --rounds)
      if [ $# -lt 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt 3 ]; then
        echo "bench_lb: --rounds needs a number of at least 3" >&2; exit 2
      fi
      rounds=$2; shift ;;
    --no-sim-node) with_sim=0 ;;
    --json) json=1 ;;
    --no-fail) no_fail=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench_lb: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

lb_bin="$build/bin/lb"
sim_node="$build/bin/sim-node"
farmctl="$build/bin/farmctl"

# --- what we need -----------------------------------------------------------------------
need_tools "wrk, nginx and haproxy" wrk nginx haproxy taskset curl jq python3
bins=("$lb_bin")
[ $with_sim = 0 ] || bins+=("$sim_node" "$farmctl")
need_built "${bins[@]}"
need_cpus "proxy on 0, wrk and backends on 1"
# 1,000 idle connections plus the runs' sockets, on both sides.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
  ulimit -n 4096 2>/dev/null || { say "needs 4096 open files (ulimit -n); the hard limit is $(ulimit -Hn)"; exit 2; }
fi
clk_tck=$(getconf CLK_TCK)

bench_tmp lb

# --- starting servers -------------------------------------------------------------------
# Ports for the servers that print no ready line (nginx, HAProxy): chosen below the kernel's
# ephemeral range, so that no outgoing connection takes one between the check and the bind;
# all held open at once, so that they differ.
pick_ports() { # COUNT -> prints COUNT free ports
  python3 - "$1" <<'EOF'
import random, socket, sys
held, ports = [], []
while len(ports) < int(sys.argv[1]):
    p = random.randint(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        s.close()
        continue
    held.append(s)
    ports.append(p)
print(" ".join(map(str, ports)))
EOF
}

# keepalive_requests is raised everywhere: nginx's default of 1000 would close a busy
# keep-alive connection every 1000 requests, which neither lb nor HAProxy does.
nginx_head() { # NAME
  nginx_conf_head "$1" 4096
  echo "    keepalive_requests 1000000;"
}

# A backend: `return 200 "ok"`, and its request counter (stub_status) to check the spread.
backend_conf() { # NAME PORT
  nginx_head "$1"
  cat <<EOF
    server {
        listen 127.0.0.1:$2;
        location / { return 200 "ok"; }
        location = /_status { stub_status; }
    }
}
EOF
}

# nginx as the round-robin proxy: upstream keep-alive as its documentation prescribes.
nginx_proxy_conf() { # PORT SIM_PORT
  nginx_head nginx-proxy
  local i
  echo "    upstream be {"
  for i in "${!be_addr[@]}"; do echo "        server ${be_addr[$i]};"; done
  echo "        keepalive 32;"
  echo "        keepalive_requests 1000000;"
  echo "    }"
  if [ $with_sim = 1 ]; then
    echo "    upstream be_sim {"
    for i in "${!sim_addr[@]}"; do echo "        server ${sim_addr[$i]};"; done
    echo "        keepalive 32;"
    echo "        keepalive_requests 1000000;"
    echo "    }"
  fi
  cat <<EOF
    server {
        listen 127.0.0.1:$1;
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
EOF
  [ $with_sim = 0 ] || cat <<EOF
    server {
        listen 127.0.0.1:$2;
        location / {
            proxy_pass http://be_sim;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
EOF
  echo "}"
}

haproxy_conf() { # PORT SIM_PORT
  local i
  cat <<EOF
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 30s
    timeout http-keep-alive 60s
    option http-keep-alive
    http-reuse always
frontend fe
    bind 127.0.0.1:$1
    default_backend be
backend be
    balance roundrobin
EOF
  for i in "${!be_addr[@]}"; do echo "    server b$((i + 1)) ${be_addr[$i]}"; done
  [ $with_sim = 1 ] || return 0
  cat <<EOF
frontend fe_sim
    bind 127.0.0.1:$2
    default_backend be_sim
backend be_sim
    balance roundrobin
EOF
  for i in "${!sim_addr[@]}"; do echo "    server s$((i + 1)) ${sim_addr[$i]}"; done
}

# --- backends on CPU 1 ------------------------------------------------------------------
read -r -a ports <<<"$(pick_ports $((n_backends + 4)))"
be_addr=()
be_pid=()
for i in $(seq 0 $((n_backends - 1))); do
  name="backend$((i + 1))"
  backend_conf "$name" "${ports[$i]}" >"$tmp/$name.conf"
  start_polled "$name" 1 "http://127.0.0.1:${ports[$i]}/" \
    nginx -p "$tmp" -e "$tmp/$name-error.log" -c "$tmp/$name.conf"
  be_addr+=("127.0.0.1:${ports[$i]}")
  be_pid+=("$started_pid")
done
port_haproxy=${ports[$n_backends]}
port_haproxy_sim=${ports[$((n_backends + 1))]}
port_nginx=${ports[$((n_backends + 2))]}
port_nginx_sim=${ports[$((n_backends + 3))]}

# Every request carries the two session cookies lb traces, as a logged-in ASP.NET user's
# browser would. The proxies that do not trace ignore them.
session_id=$(python3 -c 'import secrets; print("".join(secrets.choice("abcdefghijklmnopqrstuvwxyz012345") for _ in range(24)))')
fake_ticket=$(od -An -tx1 -N148 /dev/urandom | tr -d ' \n' | tr 'a-f' 'A-F')
hdr_cookie="Cookie: .ASPXAUTH=$fake_ticket; ASP.NET_SessionId=$session_id"

sim_addr=()
sim_pid=()
if [ $with_sim = 1 ]; then
  "$farmctl" key generate >"$tmp/web.config"
  for i in $(seq 1 "$n_backends"); do
    start_ready "sim$i" 1 1 "$sim_node" --name "sim$i" --listen 127.0.0.1:0 \
      --machine-key "$tmp/web.config"
    sim_addr+=("$(ready_addr "sim$i")")
    sim_pid+=("$started_pid")
  done
  # A real ticket, valid on every node (they share the key): the nodes do the full check.
  ticket=$(sim_login "${sim_addr[0]}")
  [ -n "$ticket" ] || die "GET /login on sim-node gave no .ASPXAUTH cookie"
  hdr_cookie_sim="Cookie: .ASPXAUTH=$ticket; ASP.NET_SessionId=$session_id"
  for a in "${sim_addr[@]}"; do
    curl -sS --max-time 5 -D - -o /dev/null -H "$hdr_cookie_sim" "http://$a/health" |
      tr -d '\r' | grep -qi '^X-Farm-Ticket: valid$' || die "sim-node $a: /health did not find the ticket valid"
  done
fi

# --- the proxies on CPU 0 ---------------------------------------------------------------
# lb: no health checks (nginx has none, HAProxy's are not configured), no access log.
lb_nodes=()
for i in "${!be_addr[@]}"; do lb_nodes+=(--node "b$((i + 1))=${be_addr[$i]}"); done
start_ready lb 0 2 "$lb_bin" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --health-path '' "${lb_nodes[@]}"
lb_pid=$started_pid
# The same, tracing a cookie nobody sends: session tracing does no work.
start_ready lb-notrace 0 2 "$lb_bin" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --health-path '' \
  --session-cookie X-None "${lb_nodes[@]}"
lb_notrace_pid=$started_pid
if [ $with_sim = 1 ]; then
  lb_sim_nodes=()
  for i in "${!sim_addr[@]}"; do lb_sim_nodes+=(--node "s$((i + 1))=${sim_addr[$i]}"); done
  start_ready lb-sim 0 2 "$lb_bin" --listen 127.0.0.1:0 --admin 127.0.0.1:0 --health-path '' \
    "${lb_sim_nodes[@]}"
  lb_sim_pid=$started_pid
fi

haproxy_conf "$port_haproxy" "$port_haproxy_sim" >"$tmp/haproxy.cfg"
haproxy -c -q -f "$tmp/haproxy.cfg" 2>"$tmp/haproxy-check.log" ||
  die "haproxy rejects its configuration: $(cat "$tmp/haproxy-check.log")"
start_polled haproxy 0 "http://127.0.0.1:$port_haproxy/" haproxy -db -f "$tmp/haproxy.cfg"
haproxy_pid=$started_pid

nginx_proxy_conf "$port_nginx" "$port_nginx_sim" >"$tmp/nginx-proxy.conf"
start_polled nginx-proxy 0 "http://127.0.0.1:$port_nginx/" \
  nginx -p "$tmp" -e "$tmp/nginx-proxy-error.log" -c "$tmp/nginx-proxy.conf"
nginx_pid=$started_pid

# What each line drives: URL, the process whose CPU time is counted (none for direct).
declare -A url pid_of
url[ka/direct]="http://${be_addr[0]}/"
url[ka/lb]="http://$(ready_addr lb proxy)/"
url[ka/lb-notrace]="http://$(ready_addr lb-notrace proxy)/"
url[ka/haproxy]="http://127.0.0.1:$port_haproxy/"
url[ka/nginx]="http://127.0.0.1:$port_nginx/"
pid_of[lb]=$lb_pid
pid_of[lb-notrace]=$lb_notrace_pid
pid_of[haproxy]=$haproxy_pid
pid_of[nginx]=$nginx_pid
for t in direct lb lb-notrace haproxy nginx; do url[close/$t]=${url[ka/$t]}; done
if [ $with_sim = 1 ]; then
  url[sim/direct]="http://${sim_addr[0]}/health"
  url[sim/lb]="http://$(ready_addr lb-sim proxy)/health"
  url[sim/haproxy]="http://127.0.0.1:$port_haproxy_sim/health"
  url[sim/nginx]="http://127.0.0.1:$port_nginx_sim/health"
fi
for k in "${!url[@]}"; do
  [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "${url[$k]}")" = 200 ] ||
    die "$k: ${url[$k]} does not answer 200"
done

# --- measuring --------------------------------------------------------------------------
# The readers below use shell builtins only and set globals: a command substitution would
# fork, and the forks' CPU time would land in the counts they take.
proc_ticks=0
ticks_of() { # PID... -> proc_ticks: their utime + stime (fields 14, 15 of /proc/PID/stat)
  local line f pid
  proc_ticks=0
  for pid in "$@"; do
    read -r line <"/proc/$pid/stat"
    read -r -a f <<<"${line##*) }"
    proc_ticks=$((proc_ticks + f[11] + f[12]))
  done
}
children_ticks=0
ticks_of_children() { # -> children_ticks: cutime + cstime of this shell (its reaped children)
  local line f
  read -r line <"/proc/$$/stat"
  read -r -a f <<<"${line##*) }"
  children_ticks=$((f[13] + f[14]))
}
busy0=0
busy1=0
cpu_busy() { # -> busy0, busy1: ticks CPU 0 and 1 were not idle (user nice system irq softirq steal)
  local name user nice system irq softirq steal rest
  while read -r name user nice system _ _ irq softirq steal rest; do
    case "$name" in
      cpu0) busy0=$((user + nice + system + irq + softirq + steal)) ;;
      cpu1) busy1=$((user + nice + system + irq + softirq + steal)) ;;
    esac
  done </proc/stat
}

backend_counts() { # MODE -> requests each backend has answered so far, space-separated
  local a
  if [ "$1" = sim ]; then
    for a in "${sim_addr[@]}"; do
      curl -s --max-time 2 "http://$a/_farm/info" | jq -r '.counters.requests'
    done
  else
    for a in "${be_addr[@]}"; do
      curl -s --max-time 2 "http://$a/_status" | awk 'NR == 3 { print $3 }'
    done
  fi | paste -sd' '
}

to_us() { # a wrk duration (850.00us, 1.23ms, 2.00s) -> microseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000;
    else if (v ~ /m$/) print n * 60e6; else if (v ~ /s$/) print n * 1e6; else print n }'
}

# One wrk run against MODE/TARGET; writes its results as one JSON line to $tmp/run.json.
run_one() { # ROUND MODE TARGET
  local round=$1 mode=$2 target=$3 out="$tmp/wrk-$1-$2-$3.txt" pid="${pid_of[$3]:-}"
  local extra=() cookie=$hdr_cookie backends=("${be_pid[@]}") before after
  local t0=0 t1=0 b0 b1 c0 c1 w0 w1 p0 p1 q0 q1
  [ "$mode" = close ] && extra=(-H 'Connection: close')
  if [ "$mode" = sim ]; then
    cookie=$hdr_cookie_sim
    backends=("${sim_pid[@]}")
    [ "$target" = lb ] && pid=$lb_sim_pid
  fi
  before=$(backend_counts "$mode")
  # Everything read twice around wrk and nothing else in between: the proxy's CPU time; the
  # backends' and wrk's (this shell's reaped children: wrk is the only one in the window);
  # each CPU's busy time, so that time used by processes not ours shows up as "other".
  [ -z "$pid" ] || { ticks_of "$pid"; t0=$proc_ticks; }
  ticks_of "${backends[@]}"; b0=$proc_ticks
  ticks_of_children; c0=$children_ticks
  cpu_busy; p0=$busy0; q0=$busy1
  w0=${EPOCHREALTIME//[!0-9]/}
  taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" --latency -H "$cookie" "${extra[@]}" \
    "${url[$mode/$target]}" >"$out" 2>&1 || die "wrk against $mode/$target failed: $(tail -3 "$out")"
  w1=${EPOCHREALTIME//[!0-9]/}
  cpu_busy; p1=$busy0; q1=$busy1
  ticks_of_children; c1=$children_ticks
  ticks_of "${backends[@]}"; b1=$proc_ticks
  [ -z "$pid" ] || { ticks_of "$pid"; t1=$proc_ticks; }
  after=$(backend_counts "$mode")

  local rps requests p99 non2xx errors
  rps=$(wrk_field "$out" rps)
  requests=$(wrk_field "$out" requests)
  p99=$(wrk_field "$out" p99)
  non2xx=$(wrk_field "$out" non2xx)
  errors=$(wrk_field "$out" socket_errors)
  if [ -z "$rps" ] || [ -z "$requests" ] || [ -z "$p99" ]; then
    die "wrk against $mode/$target: unexpected output: $(cat "$out")"
  fi
  [ "$requests" -gt 0 ] || die "wrk against $mode/$target: no requests"
  [ -z "$non2xx" ] || die "wrk against $mode/$target: $non2xx non-2xx answers"
  [ -z "$errors" ] || say "$mode/$target round $round: socket errors: $errors"

  # The backends answered the requests (none served from a cache), and round robin spread
  # them: with N backends, each must have answered at least half of its fair share.
  local spread
  spread=$(awk -v b="$before" -v a="$after" -v want="$requests" -v direct="$([ "$target" = direct ] && echo 1 || echo 0)" 'BEGIN {
    n = split(b, x, " "); split(a, y, " "); total = 0; min = -1
    for (i = 1; i <= n; i++) { d = y[i] - x[i]; total += d; if (min < 0 || d < min) min = d }
    if (total < want) { printf "backends answered %d of %d requests", total, want; exit }
    if (!direct && min < total / n / 2) { printf "uneven spread: %s -> %s", b, a; exit }
  }')
  [ -z "$spread" ] || die "$mode/$target round $round: $spread"

  jq -cn --argjson round "$round" --arg mode "$mode" --arg target "$target" \
    --argjson rps "$rps" --argjson requests "$requests" --argjson p99 "$(to_us "$p99")" \
    --argjson ticks "$((t1 - t0))" --argjson hz "$clk_tck" --argjson has_cpu "$([ -n "$pid" ] && echo true || echo false)" \
    --argjson wall "$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }')" \
    --argjson other0 "$((p1 - p0 - (t1 - t0)))" --argjson other1 "$((q1 - q0 - (c1 - c0) - (b1 - b0)))" \
    --argjson busy1 "$((q1 - q0))" --argjson load1 "$((c1 - c0 + b1 - b0))" \
    --arg errors "$errors" \
    '{round: $round, mode: $mode, target: $target, rps: $rps, requests: $requests,
      p99_us: $p99, wall_s: $wall, socket_errors: ($errors | [scan("[0-9]+") | tonumber] | add // 0),
      socket_errors_text: (if $errors == "" then null else $errors end),
      cpu_s: (if $has_cpu then $ticks / $hz else null end),
      cpu_us_per_req: (if $has_cpu then $ticks / $hz * 1e6 / $requests else null end),
      busy: (if $has_cpu then $ticks / $hz / $wall else null end),
      cpu1_busy: ($busy1 / $hz / $wall), cpu1_us_per_req: ($load1 / $hz * 1e6 / $requests),
      other_cpu0: ([$other0 / $hz / $wall, 0] | max), other_cpu1: ([$other1 / $hz / $wall, 0] | max)}
    # Other processes on CPU 0 do not disturb a direct run: only wrk and the backend run then.
    | .other = (if .target == "direct" then .other_cpu1 else ([.other_cpu0, .other_cpu1] | max) end)' \
    >"$tmp/run.json"
  jq -r '"\(.mode)/\(.target) round \(.round): \(.rps | floor) req/s, p99 \(.p99_us) us" +
    (if .cpu_us_per_req then ", \(.cpu_us_per_req * 100 | round / 100) us CPU/req, busy \(.busy * 100 | round)%" else "" end)
    + ", other \(.other_cpu0 * 100 | round)%/\(.other_cpu1 * 100 | round)%"' \
    "$tmp/run.json" | sed 's/^/bench_lb: /' >&2
}

modes=(ka close)
[ $with_sim = 0 ] || modes+=(sim)
declare -A targets
# lb sits between the two runs it is compared with most closely, HAProxy and lb-notrace.
targets[ka]="nginx haproxy lb lb-notrace direct"
targets[close]="nginx haproxy lb lb-notrace direct"
targets[sim]="nginx haproxy lb direct"

n_runs=0
for m in "${modes[@]}"; do read -r -a ts <<<"${targets[$m]}"; n_runs=$((n_runs + ${#ts[@]})); done
say "$rounds rounds of $n_runs runs, ${duration} s each; proxies on CPU 0, wrk -t1 -c$connections and backends on CPU 1"
: >"$tmp/runs.jsonl"
for round in $(seq 1 "$rounds"); do
  for m in "${modes[@]}"; do
    # Interleaved, and the order reversed from one round to the next (A B C, C B A, ...):
    # the machine's speed drifts (other guests on the host are invisible from here), and
    # this way a steady drift favours each side of a neighbouring pair in turn.
    read -r -a ts <<<"${targets[$m]}"
    for k in $(seq 0 $((${#ts[@]} - 1))); do
      if [ $((round % 2)) = 1 ]; then t=${ts[$k]}; else t=${ts[$((${#ts[@]} - 1 - k))]}; fi
      # A run during which other processes took more than 5 % of a CPU is measured again,
      # up to twice; the least disturbed attempt counts.
      best=""
      for attempt in 1 2 3; do
        run_one "$round" "$m" "$t"
        if [ -z "$best" ] || jq -e --slurpfile b "$tmp/best.json" '.other < $b[0].other' "$tmp/run.json" >/dev/null; then
          jq -c --argjson a "$attempt" '.attempts = $a' "$tmp/run.json" >"$tmp/best.json"
          best=1
        fi
        jq -e '.other <= 0.05' "$tmp/run.json" >/dev/null && break
        [ "$attempt" = 3 ] || say "$m/$t round $round: other processes took $(jq -r '.other * 100 | round' "$tmp/run.json")% of a CPU; again"
      done
      cat "$tmp/best.json" >>"$tmp/runs.jsonl"
    done
  done
done

# lb really traced the sessions (every request hops between nodes), and lb-notrace did not.
lb_stats=$(curl -s --max-time 2 "http://$(ready_addr lb admin)/stats")
notrace_stats=$(curl -s --max-time 2 "http://$(ready_addr lb-notrace admin)/stats")
lb_hops=$(jq '.sessions.hops' <<<"$lb_stats")
notrace_tracked=$(jq '.sessions.tracked' <<<"$notrace_stats")
[ "$lb_hops" -gt 0 ] || die "lb traced no session hops: $lb_stats"
[ "$notrace_tracked" = 0 ] || die "lb-notrace tracked sessions: $notrace_stats"

# --- RSS at 1,000 idle keep-alive connections --------------------------------------------
# A client on CPU 1 opens the connections one after the other, sends one keep-alive GET on
# each, reads the whole answer, and holds them all; VmRSS of the proxy before and after.
cat >"$tmp/hold.py" <<'EOF'
import signal, socket, sys
host, port = sys.argv[1].rsplit(":", 1)
n = int(sys.argv[2])
signal.alarm(300)  # never outlive a forgotten script
req = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: keep-alive\r\n\r\n"
held = []
for i in range(n):
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("connection %d: closed before the answer's head" % i)
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 200"):
        sys.exit("connection %d: %s" % (i, lines[0]))
    length = [int(l.split(":", 1)[1]) for l in lines[1:] if l.lower().startswith("content-length:")]
    if not length:
        sys.exit("connection %d: no Content-Length" % i)
    while len(body) < length[0]:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("connection %d: closed in the body" % i)
        body += chunk
    held.append(s)
print("held", len(held), flush=True)
signal.pause()
EOF

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

declare -A rss_before rss_after
idle_rss() { # TARGET ADDRESS
  local target=$1 addr=$2 pid=${pid_of[$1]} fd line hold_pid
  rss_before[$target]=$(rss_kib "$pid")
  rm -f "$tmp/hold.fifo"
  mkfifo "$tmp/hold.fifo"
  taskset -c 1 python3 "$tmp/hold.py" "$addr" "$idle_conns" >"$tmp/hold.fifo" 2>"$tmp/hold-$target.err" &
  hold_pid=$!
  pids+=("$hold_pid") # stopped on exit too, until it is stopped below
  exec {fd}<"$tmp/hold.fifo"
  IFS= read -r -t 120 -u "$fd" line || line=""
  exec {fd}<&-
  [ "$line" = "held $idle_conns" ] || die "$target: could not hold $idle_conns connections: $(cat "$tmp/hold-$target.err")"
  rss_after[$target]=$(rss_kib "$pid")
  kill -TERM "$hold_pid" 2>/dev/null || true
  wait "$hold_pid" 2>/dev/null || true
  unset 'pids[-1]'
  say "$target: VmRSS ${rss_before[$target]} KiB, with $idle_conns idle connections ${rss_after[$target]} KiB"
}
idle_rss lb "$(ready_addr lb proxy)"
idle_rss haproxy "127.0.0.1:$port_haproxy"
idle_rss nginx "127.0.0.1:$port_nginx"

rss_json=$(for t in lb haproxy nginx; do
  jq -cn --arg t "$t" --argjson b "${rss_before[$t]}" --argjson a "${rss_after[$t]}" --argjson n "$idle_conns" \
    '{target: $t, before_kib: $b, after_kib: $a, bytes_per_conn: (($a - $b) * 1024 / $n)}'
done | jq -s .)

# --- the summary ------------------------------------------------------------------------
# Medians per mode and target; each ratio is the median of the per-round ratios, so that a
# slow round affects both sides of a pair the same way.
summary=$(jq -s --argjson rss "$rss_json" --argjson d "$duration" --argjson rounds "$rounds" \
  --argjson c "$connections" --argjson nb "$n_backends" --argjson idle "$idle_conns" \
  --argjson lb_hops "$lb_hops" '
  def median: sort | if length == 0 then null
    elif length % 2 == 1 then .[(length - 1) / 2] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def r3: if . == null then null else (. * 1000 | round) / 1000 end;
  . as $runs
  | def val($m; $t; $r; $f): ($runs[] | select(.mode == $m and .target == $t and .round == $r) | .[$f]);
    def ratio($m; $a; $b; $f):
      [range(1; $rounds + 1) as $r | (val($m; $a; $r; $f)) / (val($m; $b; $r; $f))] | median | r3;
  (["ka", "close", "sim"] | map(select(. as $m | $runs | any(.mode == $m)))) as $modes
  | {benchmark: "lb vs HAProxy vs nginx, round-robin proxies",
     duration_s: $d, rounds: $rounds, connections: $c, backends: $nb,
     proxy_cpu: 0, client_and_backend_cpu: 1, lb_session_hops: $lb_hops,
     lines: [ $runs | group_by(.mode + "/" + .target)[] | {
       mode: .[0].mode, target: .[0].target,
       rps: (map(.rps) | median | round), p99_us: (map(.p99_us) | median),
       cpu_us_per_req: (if .[0].cpu_us_per_req then map(.cpu_us_per_req) | median | (. * 100 | round) / 100 else null end),
       busy: (if .[0].busy then map(.busy) | median | r3 else null end),
       cpu1_busy: (map(.cpu1_busy) | median | r3),
       cpu1_us_per_req: (map(.cpu1_us_per_req) | median | (. * 100 | round) / 100),
       socket_errors: (map(.socket_errors) | add),
       other: (map(.other) | median | r3),
       rps_rounds: map(.rps), p99_rounds: map(.p99_us), cpu_rounds: map(.cpu_us_per_req)} ],
     ratios: [ $modes[] as $m | ($runs | map(select(.mode == $m) | .target) | unique) as $ts |
       {mode: $m,
        lb_over_direct: ratio($m; "lb"; "direct"; "rps"),
        haproxy_over_direct: ratio($m; "haproxy"; "direct"; "rps"),
        nginx_over_direct: ratio($m; "nginx"; "direct"; "rps"),
        lb_over_haproxy: ratio($m; "lb"; "haproxy"; "rps"),
        lb_over_nginx: ratio($m; "lb"; "nginx"; "rps"),
        haproxy_over_nginx: ratio($m; "haproxy"; "nginx"; "rps"),
        direct_over_haproxy: ratio($m; "direct"; "haproxy"; "rps"),
        cpu_lb_over_haproxy: ratio($m; "lb"; "haproxy"; "cpu_us_per_req"),
        cpu_lb_over_nginx: ratio($m; "lb"; "nginx"; "cpu_us_per_req"),
        p99_lb_over_haproxy: ratio($m; "lb"; "haproxy"; "p99_us"),
        lb_over_notrace: (if ($ts | index("lb-notrace")) then ratio($m; "lb"; "lb-notrace"; "rps") else null end),
        cpu_lb_over_notrace: (if ($ts | index("lb-notrace")) then ratio($m; "lb"; "lb-notrace"; "cpu_us_per_req") else null end)} ],
     idle: {connections: $idle, rss: $rss},
     noisy_runs: [$runs[] | select(.other > 0.05)
       | {round, mode, target, other_cpu0: (.other_cpu0 | r3), other_cpu1: (.other_cpu1 | r3)}],
     runs: ($runs | length), repeated_runs: ($runs | map(.attempts - 1) | add)}
  | . as $s
  | def line($m; $t): ($s.lines[] | select(.mode == $m and .target == $t));
    def rat($m): ($s.ratios[] | select(.mode == $m));
    def rssof($t): ($s.idle.rss[] | select(.target == $t));
  .targets = [
    {name: "keep-alive req/s, lb / haproxy", value: rat("ka").lb_over_haproxy, op: ">=", limit: 1.2},
    {name: "keep-alive p99, lb / haproxy (medians)", value: ((line("ka"; "lb").p99_us / line("ka"; "haproxy").p99_us) | r3), op: "<=", limit: 1.0},
    {name: "keep-alive CPU per request, lb / haproxy", value: rat("ka").cpu_lb_over_haproxy, op: "<=", limit: 0.8},
    {name: "close req/s, lb / haproxy", value: rat("close").lb_over_haproxy, op: ">=", limit: 1.0},
    {name: "RSS per idle keep-alive connection, lb (bytes)", value: (rssof("lb").bytes_per_conn | round), op: "<=", limit: 1024},
    {name: "session tracing: keep-alive CPU per request, lb / lb-notrace", value: rat("ka").cpu_lb_over_notrace, op: "<=", limit: 1.1},
    {name: "session tracing: keep-alive req/s, lb / lb-notrace", value: rat("ka").lb_over_notrace, op: ">=", limit: 0.9}
  ] | .targets |= map(.pass = (if .op == ">=" then .value >= .limit else .value <= .limit end))
  # A correct server gives wrk no socket errors, in close mode neither: a read error there
  # means the connection closed where the answer had not said it would.
  | .checks = [.lines[] | select(.socket_errors > 0)
      | "\(.mode)/\(.target): wrk counted \(.socket_errors) socket errors over the rounds"]
  | .pass = all(.targets[]; .pass)
  # When CPU 1 is saturated through a proxy, CPU 1 sets the rate: wrk and the backends use
  # the same time per request behind any proxy, so a rate ratio between two proxies that
  # both saturate CPU 1 measures CPU 1, not the proxies.
  | .notes = [ $modes[] as $m | select(($s.lines | any(.mode == $m and .target == "lb"))
      and ($s.lines | any(.mode == $m and .target == "haproxy")))
      | line($m; "lb") as $l | line($m; "haproxy") as $h
      | select($l.cpu1_busy >= 0.9 and $h.cpu1_busy >= 0.9)
      | "\({ka: "keep-alive", close: "close", sim: "sim /health"}[$m]): CPU 1 (wrk and the backends) was "
        + "\($l.cpu1_busy * 100 | round)% busy through lb and \($h.cpu1_busy * 100 | round)% through HAProxy, "
        + "at \($l.cpu1_us_per_req * 10 | round / 10) and \($h.cpu1_us_per_req * 10 | round / 10) µs per request: CPU 1 sets both rates; "
        + "compare the proxies by CPU per request" ]' "$tmp/runs.jsonl")

if [ $json = 1 ]; then
  printf '%s\n' "$summary"
else
  jq -r '
    def mname: {ka: "keep-alive", close: "close", sim: "sim /health"}[.];
    def fixed($d): if . == null then "-" else
      (pow(10; $d)) as $p | (. * $p | round) as $x
      | "\($x / $p | floor)" + (if $d > 0 then "." + ("\($x % $p + $p)" | .[1:]) else "" end) end;
    def pct: if . == null then "-" else "\(. * 100 | round)%" end;
    def lpad($n): tostring | (" " * ([$n - length, 0] | max)) + .;
    def rpad($n): tostring | . + (" " * ([$n - length, 0] | max));
    . as $s
    | def ratio_of($m; $t): ($s.ratios[] | select(.mode == $m)) as $r
        | {direct: 1, lb: $r.lb_over_direct, "lb-notrace": null, haproxy: $r.haproxy_over_direct,
           nginx: $r.nginx_over_direct}[$t];
    "\(.rounds) rounds × \(.duration_s) s, wrk -t1 -c\(.connections), \(.backends) backends; proxy on CPU 0, wrk and backends on CPU 1",
    "",
    ("mode" | rpad(12)) + ("target" | rpad(11)) + ("req/s" | lpad(9)) + ("÷direct" | lpad(9))
      + ("p99 µs" | lpad(9)) + ("CPU µs/req" | lpad(12)) + ("CPU0 busy" | lpad(11))
      + ("CPU1 µs/req" | lpad(13)) + ("CPU1 busy" | lpad(11)) + ("other" | lpad(7)),
    (.lines | sort_by({ka: 0, close: 1, sim: 2}[.mode], {direct: 0, lb: 1, "lb-notrace": 2, haproxy: 3, nginx: 4}[.target])[]
      | (.mode | mname | rpad(12)) + (.target | rpad(11)) + (.rps | lpad(9))
        + (ratio_of(.mode; .target) | fixed(3) | lpad(9)) + (.p99_us | fixed(0) | lpad(9))
        + (.cpu_us_per_req | fixed(2) | lpad(12)) + (.busy | pct | lpad(11))
        + (.cpu1_us_per_req | fixed(2) | lpad(13)) + (.cpu1_busy | pct | lpad(11)) + (.other | pct | lpad(7))),
    "",
    ("ratios (median of per-round ratios)" | rpad(34)) + ([.ratios[].mode | mname | lpad(12)] | join("")),
    ((["lb / haproxy     req/s", "lb_over_haproxy"], ["lb / nginx       req/s", "lb_over_nginx"],
      ["haproxy / nginx  req/s", "haproxy_over_nginx"], ["lb / lb-notrace  req/s", "lb_over_notrace"],
      ["direct / haproxy req/s", "direct_over_haproxy"],
      ["lb / haproxy     CPU/request", "cpu_lb_over_haproxy"], ["lb / nginx       CPU/request", "cpu_lb_over_nginx"],
      ["lb / lb-notrace  CPU/request", "cpu_lb_over_notrace"], ["lb / haproxy     p99", "p99_lb_over_haproxy"])
      as [$lab, $k]
      | ($lab | rpad(34)) + ([$s.ratios[] | .[$k] | fixed(3) | lpad(12)] | join(""))),
    "",
    ("\(.idle.connections) idle keep-alive connections" | rpad(34)) + ("VmRSS before" | lpad(14))
      + ("after" | lpad(11)) + ("bytes/conn" | lpad(12)),
    (.idle.rss[] | ("  " + .target | rpad(34)) + ("\(.before_kib) KiB" | lpad(14))
      + ("\(.after_kib) KiB" | lpad(11)) + (.bytes_per_conn | fixed(0) | lpad(12))),
    (if .repeated_runs > 0 then "",
      "noise: \(.repeated_runs) runs were measured again because other processes took more than 5% of a CPU"
      else empty end),
    (if (.noisy_runs | length) > 0 then
      "noise: in \(.noisy_runs | length) of \(.runs) runs other processes still took more than 5% of CPU 0 or 1: \(.noisy_runs | map("\(.mode)/\(.target) #\(.round)") | join(", "))",
      "       the medians absorb one such run per line; with more, rerun on an idle machine" else empty end),
    (if (.checks | length) > 0 then "", "FAILED checks:", (.checks[] | "  " + .) else empty end),
    "",
    "targets",
    (.targets[] | "  " + (if .pass then "met " else "MISS" end) + "  " + (.name | rpad(62))
      + " \(.value | fixed(if . > 100 then 0 else 3 end)) \(.op) \(.limit)"),
    (if (.notes | length) > 0 then "", "what bounds the rates", (.notes[] | "  " + .) else empty end)
  ' <<<"$summary"
fi

checks_failed=$(jq '.checks | length' <<<"$summary")
if [ "$checks_failed" != 0 ]; then
  say "FAILED: $(jq -r '.checks | join("; ")' <<<"$summary")"
fi
if [ "$(jq '.pass' <<<"$summary")" != true ]; then
  say "lb misses: $(jq -r '[.targets[] | select(.pass | not) | .name] | join("; ")' <<<"$summary")"
  [ $no_fail = 1 ] || exit 1
fi
[ "$checks_failed" = 0 ] || exit 1
exit 0
