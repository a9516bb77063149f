#!/usr/bin/env bash
# Install the Debian packages farmlab builds and tests with, only those that are missing.
# Idempotent; when everything is present it only asks dpkg once and exits.
#
#   scripts/install-deps.sh           install what is missing
#   scripts/install-deps.sh --check   list what is missing, exit 1 if anything is
#   scripts/install-deps.sh --bench   also the benchmark peers: wrk, nginx-light and
#                                     haproxy (combines with --check)
set -euo pipefail

packages=(
  # toolchain
  gcc make cmake pkg-config
  # libfarm: machineKey crypto, config files, JSON output, HTTP parsing
  libssl-dev libxml2-dev libjansson-dev node-llhttp
  # farmctl client and load: the simulated users
  libcurl4-openssl-dev
  # sim-node and lb: the event loop; lb: its config files
  libev-dev libinih-dev
  # tests (procps: ps and pgrep, which check that no process is left running)
  libcmocka-dev jq curl python3 procps
)

# make bench: bench/bench_simnode.sh measures sim-node against nginx, bench/bench_lb.sh lb
# against HAProxy and nginx as proxies; wrk drives both.
bench_packages=(wrk nginx-light haproxy)

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
}

check_only=0
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    --bench) packages+=("${bench_packages[@]}") ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

missing=()
installed=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${packages[@]}" 2>/dev/null || true)
for p in "${packages[@]}"; do
  grep -qx "$p installed" <<<"$installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ $check_only = 1 ]; then
  echo "missing: ${missing[*]}"
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine's package lists may be missing or stale: refresh them first.
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
