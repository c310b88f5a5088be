#!/usr/bin/env bash
# WAL-replay restart of two binaries on the same loaded data directory,
# alternating: CPU seconds and wall time at the first /readyz 200.
#
# Usage: bench/restart_ab.sh BIN_A BIN_B [--endpoints N] [--tenants N]
#                            [--rounds N]
#   BIN_A, BIN_B  webhook-ingress binaries (e.g. two builds' build-bench/);
#                 BIN_A loads the data, so BIN_B must read BIN_A's format
#   --endpoints   endpoints to load, default 1000000
#   --tenants     tenants they are spread over evenly, default 1000
#   --rounds      restarts per binary, default 4 (A B, B A, A B, ...)
#
# For comparisons where bench/restart_bench.sh (which loads its own data
# per binary and reports CPU in 10 ms ticks against a raw scan) is too
# coarse: one load (64 connections, bench/rotate.lua, --snapshot-every
# 100000000, then SIGKILL: nothing is snapshotted, every restart replays
# every record), one unmeasured restart (RocksDB flushes its own log), then
# the measured restarts, each stopped with SIGKILL right after ready.
# Prints one line per restart: "round R A|B cpu_s wall_s load L".
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=restart_ab
# shellcheck source=bench/bench_lib.sh
source "$repo/bench/bench_lib.sh"

endpoints=1000000
tenants=1000
rounds=4
bins=()
while (($# > 0)); do
  case "$1" in
    --endpoints) endpoints=${2:?}; shift 2 ;;
    --tenants) tenants=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown argument: $1 (see --help)" ;;
    *) bins+=("$1"); shift ;;
  esac
done
((${#bins[@]} == 2)) || die "two binaries expected (see --help)"
for b in "${bins[@]}"; do [[ -x $b ]] || die "not an executable: $b"; done
for n in "$endpoints" "$tenants" "$rounds"; do
  is_count "$n" || die "not a positive integer: $n"
done
command -v wrk > /dev/null || die "wrk not found"
bench_setup

admin=bench-admin-token
data="$tmp/data"
flags=(--listen 127.0.0.1:0 --admin-token "$admin" --snapshot-every 100000000
  --log-level warn)
mapfile -t limit_flags < <(known_flags "${bins[0]}" --tenant-max-endpoints 0)
start_server load "webhook-ingress listening on" "${bins[0]}" \
  --data-dir "$data" "${flags[@]}" "${limit_flags[@]}"
base="http://127.0.0.1:$port"
wait_ready "$base" 60
create_tenants "$base" "$admin" "$tenants" "$tmp/tokens"
run_mutations "$base" /v1/webhook/endpoints create "$tmp/tokens" "$endpoints" \
  64 2 1800
note "loaded $mutations_ok endpoints in ${mutation_seconds}s ($mutation_errors errors)"
stop_server "$server_pid" KILL 10

# restart BIN: prints "cpu_s wall_s" at the first /readyz 200.
restart() {
  start_server restart "webhook-ingress listening on" "$1" --data-dir "$data" \
    "${flags[@]}"
  wait_ready "http://127.0.0.1:$port" 600
  local cpu
  cpu=$(cpu_seconds "$server_pid")
  stop_server "$server_pid" KILL 10
  echo "$cpu $ready_seconds"
}

restart "${bins[0]}" > /dev/null
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) A=${bins[0]} B=${bins[1]}, $endpoints endpoints"
for ((r = 1; r <= rounds; r++)); do
  order="A B"
  ((r % 2 == 0)) && order="B A"
  for side in $order; do
    bin=${bins[0]}
    [[ $side == B ]] && bin=${bins[1]}
    echo "round $r $side $(restart "$bin") load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
