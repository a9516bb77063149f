# bench/lib.sh: what the benchmark scripts share. Source it from bash right after
# `set -euo pipefail`, with bench_name set (it prefixes every message):
#
#   bench_name=bench_lb
#   . "$(dirname "$0")/lib.sh"
#
# It sets root (the repository) and build (BUILD, default build, relative to root) and gives:
#   usage                    the script's opening comment, as its --help
#   say, die                 a message on stderr; die also exits 1
#   need_tools, need_built, need_cpus   exit 2 when a tool, a binary or CPU 0 or 1 is missing
#   bench_tmp                the private directory $tmp; every child stopped on any exit
#   start_ready, ready_addr  servers that print `event=ready` lines, pinned to a CPU
#   poll_start, start_polled servers that print none (nginx, HAProxy), polled until they answer
#   nginx_conf_head          the part of an nginx configuration both benchmarks use
#   sim_login                a forms ticket from a sim-node
#   wrk_field                a number from wrk's output
# shellcheck shell=bash

: "${bench_name:?set bench_name before sourcing bench/lib.sh}"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
# nginx and haproxy install into /usr/sbin, which is not on a normal user's PATH on Debian.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac

usage() {
  awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "$0"
}

say() { echo "$bench_name: $*" >&2; }
die() { say "$*"; exit 1; }

# --- what we need -----------------------------------------------------------------------
need_tools() { # WHAT_INSTALL_DEPS_INSTALLS TOOL...
  local installs=$1 tool missing=()
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "missing: ${missing[*]} — scripts/install-deps.sh --bench installs $installs"
    exit 2
  fi
}

need_built() { # BINARY...
  local bin
  for bin in "$@"; do
    [ -x "$bin" ] || { say "$bin not built: run make (or cmake --build $build)"; exit 2; }
  done
}

# One CPU for what is measured, another for wrk. nproc counts the CPUs we may run on.
need_cpus() { # WHAT_RUNS_WHERE, e.g. "server on 0, wrk on 1"
  if [ "$(nproc)" -lt 2 ] || ! taskset -c 0 true 2>/dev/null || ! taskset -c 1 true 2>/dev/null; then
    say "needs CPUs 0 and 1 ($1); this process may use: $(taskset -pc $$ | sed 's/.*: //')"
    exit 2
  fi
}

# --- cleanup: every child goes, whatever happens ----------------------------------------
tmp=""
pids=()   # servers, stopped with SIGTERM
drains=() # readers of their stderr, which end with them
# shellcheck disable=SC2317 # called through the trap
bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}" "${drains[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  [ -z "$tmp" ] || rm -rf "$tmp"
}

bench_tmp() { # NAME -> tmp=${TMPDIR:-/tmp}/bench-NAME.XXXXXX, removed on exit
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-$1.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# --- starting servers -------------------------------------------------------------------
# Start a program that prints `event=ready` lines on stderr; wait for COUNT of them (no
# sleeping), then keep draining its stderr into $tmp/NAME.log, so that it can never block
# on a full pipe. Sets started_pid.
started_pid=""
start_ready() { # NAME CPU COUNT CMD...
  local name=$1 cpu=$2 count=$3 fd line seen=0
  shift 3
  mkfifo "$tmp/$name.fifo"
  taskset -c "$cpu" "$@" 2>"$tmp/$name.fifo" >/dev/null &
  started_pid=$!
  pids+=("$started_pid")
  exec {fd}<"$tmp/$name.fifo"
  while [ $seen -lt "$count" ] && IFS= read -r -t 10 -u "$fd" line; do
    printf '%s\n' "$line" >>"$tmp/$name.log"
    case "$line" in *event=ready*) seen=$((seen + 1)) ;; esac
  done
  [ $seen -ge "$count" ] || die "$name did not become ready: $(cat "$tmp/$name.log" 2>/dev/null)"
  cat <&"$fd" >>"$tmp/$name.log" &
  drains+=($!)
  exec {fd}<&-
}

ready_addr() { # NAME [ROLE] -> the listen= address of its ready line (of that role)
  grep "event=ready${2:+ role=$2}" "$tmp/$1.log" | head -1 | sed -n 's/.* listen=\([^ ]*\).*/\1/p'
}

# Start a program that prints no ready line, then poll URL until it answers 200. Sets
# started_pid. Returns 1, the program stopped, when it exits first (a port taken after
# all) or does not answer within 10 s.
poll_start() { # NAME CPU URL CMD...
  local name=$1 cpu=$2 url=$3 pid
  shift 3
  taskset -c "$cpu" "$@" >/dev/null 2>>"$tmp/$name.stderr" &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 400); do
    if [ "$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "$url")" = 200 ]; then
      started_pid=$pid
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.025
  done
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset 'pids[-1]'
  return 1
}

not_started() { # NAME -> why: what it wrote on stderr and the end of its error log
  echo "$1 did not start: $(cat "$tmp/$1.stderr" 2>/dev/null; tail -3 "$tmp/$1-error.log" 2>/dev/null)"
}

start_polled() { # NAME CPU URL CMD...: poll_start, or die
  poll_start "$@" || die "$(not_started "$1")"
}

# nginx in the foreground as one process, everything it writes under $tmp: safe as any user.
# No access log: neither sim-node nor lb (as the benchmarks start it) writes a line per
# request. The caller adds settings and the server blocks, and closes the http block.
nginx_conf_head() { # NAME WORKER_CONNECTIONS
  cat <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $tmp/$1.pid;
error_log $tmp/$1-error.log warn;
events { worker_connections $2; }
http {
    access_log off;
    client_body_temp_path $tmp/$1-body;
    proxy_temp_path $tmp/$1-proxy;
    fastcgi_temp_path $tmp/$1-fastcgi;
    uwsgi_temp_path $tmp/$1-uwsgi;
    scgi_temp_path $tmp/$1-scgi;
    default_type text/plain;
EOF
}

# --- sim-node and wrk -------------------------------------------------------------------
sim_login() { # ADDR -> the .ASPXAUTH cookie that GET /login?user=bench on that sim-node sets
  curl -sS --max-time 5 -D - -o /dev/null "http://$1/login?user=bench" |
    tr -d '\r' | sed -n 's/^Set-Cookie: \.ASPXAUTH=\([^;]*\);.*/\1/Ip'
}

# One field of wrk's output: rps, requests, p99 (with --latency), non2xx (empty when every
# answer was 2xx or 3xx) or socket_errors (empty when there were none).
wrk_field() { # FILE FIELD
  local expr
  case "$2" in
    rps) expr='s/^Requests\/sec: *\([0-9.]*\).*/\1/p' ;;
    requests) expr='s/^ *\([0-9]*\) requests in .*/\1/p' ;;
    p99) expr='s/^ *99% *\([0-9.]*[a-z]*\).*/\1/p' ;;
    non2xx) expr='s/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' ;;
    socket_errors) expr='s/^ *Socket errors: *//p' ;;
    *) die "wrk_field: no field '$2'" ;;
  esac
  sed -n "$expr" "$1"
}
