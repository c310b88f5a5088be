#!/usr/bin/env bash
# Restart benchmark: restart-to-ready of a loaded server against a raw scan
# of the same data directory, same run; resident memory per endpoint.
#
# Usage: bench/restart_bench.sh [--build-dir DIR] [--endpoints N]
#                               [--tenants N] [--connections N] [--rounds N]
#                               [--shutdown-grace S] [--out FILE]
#   --build-dir       Release build dir, default <repo>/build-bench
#                     (configured with -DCMAKE_BUILD_TYPE=Release
#                     -DWI_BUILD_TESTS=OFF if it has no CMakeCache.txt)
#   --endpoints       endpoints to load, default 1000000
#   --tenants         tenants they are spread over evenly, default 1000
#   --connections     wrk connections of the load, default 64
#   --rounds          measured restarts (and raw scans) per mode, default 2
#   --shutdown-grace  the server's --shutdown-grace for the SIGTERM that
#                     writes the snapshots, default 300
#   --out FILE        also write the markdown report to FILE
#
# Steps, all on 127.0.0.1, one data dir:
#   0. RSS of the server ready on an empty data dir (each round).
#   1. Load: start with --snapshot-every 100000000 (no snapshot during the
#      load), register the tenants, create the endpoints with wrk and
#      bench/rotate.lua (every tenant gets the same count), SIGKILL.
#   2. Mode "WAL replay": restart (same flags) and time process start to
#      /readyz 200, read VmRSS; then GET one endpoint list of every tenant
#      (so every tenant is decoded: tenants stay in their stored form until
#      first use) and time process start to the last answer, read VmRSS
#      again; SIGKILL. And time bench_raw_scan of the dir (process start to
#      exit: read-only open, iterate `wal` and `snapshot`).
#      One unmeasured restart first, so RocksDB has flushed its own log
#      and every measured open sees the same files.
#   3. SIGTERM a server on the dir: it writes a snapshot of every tenant
#      and of the directory (the shutdown time is reported).
#   4. Mode "snapshots": as 2, stopping each restart with SIGTERM.
# Within each mode rounds alternate restart/scan, then scan/restart. The
# figures are medians; the ratio restart/raw scan of this run is the one to
# track. Memory per endpoint = (VmRSS with every tenant decoded - VmRSS
# ready on an empty dir) / endpoints.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=restart_bench
# shellcheck source=bench/bench_lib.sh
source "$repo/bench/bench_lib.sh"

build_dir="$repo/build-bench"
endpoints=1000000
tenants=1000
connections=64
rounds=2
grace=300
out=""
cmdline="bench/restart_bench.sh $*"

while (($# > 0)); do
  case "$1" in
    --build-dir) build_dir=${2:?}; shift 2 ;;
    --endpoints) endpoints=${2:?}; shift 2 ;;
    --tenants) tenants=${2:?}; shift 2 ;;
    --connections) connections=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --shutdown-grace) grace=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
for n in "$endpoints" "$tenants" "$connections" "$rounds" "$grace"; do
  is_count "$n" || die "not a positive integer: $n"
done
((connections >= 2)) || die "--connections must be at least 2"
command -v wrk > /dev/null || die "wrk not found"
command -v curl > /dev/null || die "curl not found"
command -v python3 > /dev/null || die "python3 not found"
[[ $build_dir = /* ]] || build_dir="$PWD/$build_dir"

ensure_build "$build_dir" webhook-ingress bench_raw_scan
bin="$build_dir/webhook-ingress"
scan_bin="$build_dir/bench/bench_raw_scan"
mapfile -t limit_flags < <(known_flags "$bin" --tenant-max-endpoints 0)
bench_setup

admin=bench-admin-token
data="$tmp/data"
ready_timeout=900
# Flags of every start on the loaded dir: snapshots only at shutdown.
flags=(--listen 127.0.0.1:0 --admin-token "$admin"
  --snapshot-every 100000000 --shutdown-grace "$grace"
  "${limit_flags[@]}") # any --endpoints / --tenants ratio

# start_on DIR NAME: starts the server on DIR and waits for /readyz.
start_on() {
  start_server "$2" "webhook-ingress listening on" "$bin" \
    --data-dir "$1" "${flags[@]}"
  base="http://127.0.0.1:$port"
  wait_ready "$base" "$ready_timeout"
}

# empty_rss: VmRSS (KiB) of the server ready on a fresh empty dir.
empty_rss() {
  rm -rf "$tmp/empty"
  start_on "$tmp/empty" empty
  sleep 1
  rss_kib "$server_pid" >> "$tmp/rss_empty"
  stop_server "$server_pid" KILL 10
  rm -rf "$tmp/empty"
}

# restart MODE SIGNAL: one measured restart on $data.
restart() {
  start_on "$data" "restart-$1"
  echo "$ready_seconds" >> "$tmp/ready_$1"
  cpu_seconds "$server_pid" >> "$tmp/cpu_$1"
  sleep 1 # let the last replies and RocksDB's open-time work settle
  rss_kib "$server_pid" >> "$tmp/rss_$1"
  # Every tenant decoded: what a fully used node holds. Nothing decodes
  # during the sleep above (no tenant has pending deliveries), so ready +
  # the time of the touches is when all would be decoded, touched at once.
  local touch_started
  touch_started=$(now_ns)
  touch_tenants "$base" "$tmp/tokens" > "$tmp/touch.out"
  awk -v a="$touch_started" -v b="$(now_ns)" -v r="$ready_seconds" \
    'BEGIN { printf "%.3f\n", r + (b - a) / 1e9 }' >> "$tmp/all_$1"
  cpu_seconds "$server_pid" >> "$tmp/cpuall_$1"
  sed -n 's/^first_ms=\([0-9.]*\).*/\1/p' "$tmp/touch.out" >> "$tmp/firstreq_$1"
  sed -n 's/.*again_ms=\([0-9.]*\).*/\1/p' "$tmp/touch.out" >> "$tmp/againreq_$1"
  sleep 1
  rss_kib "$server_pid" >> "$tmp/rssall_$1"
  grep -o 'recovered [0-9]* tenants up to WAL sequence [0-9]*' \
    "$tmp/restart-$1.log" > "$tmp/recovered_$1" || true
  stop_server "$server_pid" "$2" "$((grace + 60))"
  ((server_status == 0)) || [[ $2 == KILL ]] ||
    die "server exited with $server_status after SIG$2"
}

# raw_scan MODE: one timed bench_raw_scan of $data.
raw_scan() {
  local started
  started=$(now_ns)
  # `times` in the subshell: its children's user and system CPU time.
  (
    "$scan_bin" "$data" > "$tmp/scan_$1.out"
    times > "$tmp/times"
  )
  awk -v a="$started" -v b="$(now_ns)" 'BEGIN { printf "%.3f\n", (b - a) / 1e9 }' \
    >> "$tmp/scan_$1"
  awk 'function s(x) { split(x, p, "m"); return p[1] * 60 + p[2] }
    NR == 2 { printf "%.2f\n", s($1) + s($2) }' "$tmp/times" >> "$tmp/scancpu_$1"
}

# measure_mode MODE SIGNAL: an unmeasured restart, then the rounds.
measure_mode() {
  local mode=$1 sig=$2 r
  note "$mode: warm-up restart ..."
  start_on "$data" "warmup-$mode"
  echo "$ready_seconds" > "$tmp/first_$mode"
  stop_server "$server_pid" "$sig" "$((grace + 60))"
  for ((r = 1; r <= rounds; r++)); do
    note "$mode: round $r ..."
    empty_rss
    if ((r % 2)); then
      restart "$mode" "$sig"
      raw_scan "$mode"
    else
      raw_scan "$mode"
      restart "$mode" "$sig"
    fi
  done
  du -sk "$data" | cut -f1 > "$tmp/du_$mode"
  dir_breakdown "$data" > "$tmp/dir_$mode"
}

# -- load ---------------------------------------------------------------------

note "load: $tenants tenants, $endpoints endpoints, $connections connections"
start_on "$data" load
create_tenants "$base" "$admin" "$tenants" "$tmp/tokens"
run_mutations "$base" /v1/webhook/endpoints create "$tmp/tokens" \
  "$endpoints" "$connections" 2 3600
load_seconds=$mutation_seconds
load_ok=$mutations_ok
load_errors=$mutation_errors
((load_ok == endpoints)) ||
  note "warning: $load_ok endpoints created, $load_errors failed"
# Spot check: the first tenant holds its share.
code=$(http_status GET "$base/v1/webhook/endpoints/list?pageSize=1" \
  -H "Authorization: Bearer $(head -n 1 "$tmp/tokens")")
expect 200 "$code" "list endpoints of the first tenant"
first_tenant_items=$(json_get pagination.total_items)
stop_server "$server_pid" KILL 10

# -- mode a: no snapshot, the whole WAL is replayed -------------------------

measure_mode wal KILL

# -- snapshots at shutdown ------------------------------------------------------

note "writing snapshots: SIGTERM ..."
start_on "$data" snapshot-writer
started=$(now_ns)
stop_server "$server_pid" TERM "$((grace + 60))"
shutdown_seconds=$(awk -v a="$started" -v b="$(now_ns)" \
  'BEGIN { printf "%.1f", (b - a) / 1e9 }')
((server_status == 0)) || die "SIGTERM: exit status $server_status"
snapshots_written=$(sed -n 's/.*wrote \([0-9]*\) snapshots.*/\1/p' \
  "$tmp/snapshot-writer.log" | tail -n 1)
[[ -n $snapshots_written ]] || {
  tail -n 5 "$tmp/snapshot-writer.log" >&2
  die "the SIGTERM log does not say how many snapshots were written"
}

# -- mode b: snapshots -----------------------------------------------------------

measure_mode snap TERM

# -- report -----------------------------------------------------------------

med() { mapfile -t values < "$1"; median "${values[@]}"; }
wal_records() { sed -n 's/^wal records=\([0-9]*\).*/\1/p' "$tmp/scan_$1.out"; }
snap_records() { sed -n 's/^snapshot records=\([0-9]*\).*/\1/p' "$tmp/scan_$1.out"; }
scan_bytes() { sed -n 's/^total records=[0-9]* bytes=\([0-9]*\).*/\1/p' "$tmp/scan_$1.out"; }

report() {
  local rss_empty mode label ready scan
  rss_empty=$(med "$tmp/rss_empty")
  echo "## Restart to ready vs raw scan, memory per endpoint"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- command: \`$cmdline\`"
  echo "- commit: $(commit_note)"
  echo "- machine: $(machine_note)"
  echo "- load: $tenants tenants, $load_ok endpoints created ($load_errors" \
    "failed) in ${load_seconds}s ($(awk -v n="$load_ok" -v s="$load_seconds" \
      'BEGIN { printf "%.0f", n / s }')/s) with wrk, $connections" \
    "connections, bench/rotate.lua; the first tenant lists" \
    "$first_tenant_items endpoints; server flags \`--snapshot-every" \
    "100000000 --shutdown-grace $grace\`"
  echo "- each endpoint: url \`https://example.com/hook\` (24 bytes)," \
    "secret \`bench-secret-123\` (16), one event type \`a.b\` (3): 43 string" \
    "bytes, no headers"
  echo "- SIGTERM that wrote the snapshots: ${shutdown_seconds}s," \
    "$snapshots_written snapshots"
  echo "- $rounds measured restarts and raw scans per mode, alternating;" \
    "restart = process start to first /readyz 200 (polled every 20 ms);" \
    "raw scan = \`bench_raw_scan DIR\` process start to exit"
  echo
  echo "| mode | WAL records | snapshots | bytes scanned | data dir | restart to ready | raw scan | restart / raw scan | CPU s restart / raw scan | first restart | all tenants decoded | CPU s then | first request of a stored tenant / again | VmRSS ready | VmRSS all decoded | per endpoint |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for mode in wal snap; do
    label="WAL replay (SIGKILL, no snapshot)"
    [[ $mode == snap ]] && label="snapshots (SIGTERM)"
    ready=$(med "$tmp/ready_$mode")
    scan=$(med "$tmp/scan_$mode")
    awk -v label="$label" -v walr="$(wal_records "$mode")" \
      -v snapr="$(snap_records "$mode")" -v bytes="$(scan_bytes "$mode")" \
      -v du="$(cat "$tmp/du_$mode")" -v ready="$ready" -v scan="$scan" \
      -v first="$(cat "$tmp/first_$mode")" -v rss="$(med "$tmp/rss_$mode")" \
      -v all="$(med "$tmp/all_$mode")" -v cpuall="$(med "$tmp/cpuall_$mode")" \
      -v req1="$(med "$tmp/firstreq_$mode")" \
      -v req2="$(med "$tmp/againreq_$mode")" \
      -v rssall="$(med "$tmp/rssall_$mode")" \
      -v empty="$rss_empty" -v n="$load_ok" \
      -v cpu="$(med "$tmp/cpu_$mode")" -v scancpu="$(med "$tmp/scancpu_$mode")" 'BEGIN {
        printf "| %s | %d | %d | %.1f MiB | %.1f MiB | %.2f s | %.2f s | %.1fx | %.2f / %.2f = %.1fx | %.2f s | %.2f s | %.2f | %.1f / %.1f ms | %.0f MiB | %.0f MiB | %.0f B |\n",
          label, walr, snapr, bytes / 1048576, du / 1024, ready, scan,
          ready / scan, cpu, scancpu, cpu / (scancpu > 0 ? scancpu : 0.01),
          first, all, cpuall, req1, req2, rss / 1024, rssall / 1024,
          (rssall - empty) * 1024 / n
      }'
  done
  echo
  echo "VmRSS of the same binary ready on an empty data dir: $(awk -v x="$rss_empty" \
    'BEGIN { printf "%.1f MiB", x / 1024 }'). Restarts of each run (s):" \
    "WAL replay $(paste -sd, "$tmp/ready_wal"), snapshots" \
    "$(paste -sd, "$tmp/ready_snap"); all tenants decoded (s): WAL" \
    "replay $(paste -sd, "$tmp/all_wal"), snapshots" \
    "$(paste -sd, "$tmp/all_snap"); raw scans (s): WAL replay" \
    "$(paste -sd, "$tmp/scan_wal"), snapshots $(paste -sd, "$tmp/scan_snap")." \
    "Server log: $(cat "$tmp/recovered_wal") (WAL replay);" \
    "$(cat "$tmp/recovered_snap") (snapshots). Data dir: WAL replay" \
    "$(cat "$tmp/dir_wal"); snapshots $(cat "$tmp/dir_snap")."
  echo
  echo "restart / raw scan = median restart-to-ready over median raw scan of"
  echo "the same directory in this run: what recovery (decoding, applying,"
  echo "building the state, starting the actors) costs on top of reading the"
  echo "bytes (1.0x = recovery is as cheap as the read). first restart = the"
  echo "unmeasured restart that opens the directory first in that mode (after"
  echo "the SIGKILL of the load it also replays and flushes RocksDB's own log)."
  echo "CPU s = user + system CPU seconds of the server process when /readyz"
  echo "first answered 200 (all its threads), and of the raw scan process: less"
  echo "sensitive than wall time to other work on the machine."
  echo "all tenants decoded = restart to ready + the time of one GET (endpoint"
  echo "list, pageSize=1) per tenant (first tenant alone twice, then the others"
  echo "over 4 connections; sent 1 s after ready, when nothing else runs):"
  echo "tenants stay in their stored form until first use, so this is when every"
  echo "tenant's state would be built if all were used at once; CPU s then = the"
  echo "server's CPU seconds after the GETs (the idle second adds ~0). first"
  echo "request of a stored tenant / again = latency of the first GET to a tenant"
  echo "that was not decoded yet (it pays the decode of its 1000 endpoints) and of"
  echo "the same GET repeated."
  echo "per endpoint = (VmRSS with every tenant decoded - VmRSS ready on an"
  echo "empty dir) * 1024 / endpoints, in bytes, medians of the runs."
}
report > "$tmp/report.md"
cat "$tmp/report.md"
if [[ -n $out ]]; then
  cp "$tmp/report.md" "$out"
fi
