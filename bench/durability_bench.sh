#!/usr/bin/env bash
# Durability benchmark: durable creates per second with group commit against
# one fsync per request, same binary, same run.
#
# Usage: bench/durability_bench.sh [--build-dir DIR] [--duration SECONDS]
#                                  [--connections "1 16 64"] [--rounds N]
#                                  [--out FILE]
#   --build-dir    Release build dir, default <repo>/build-bench (configured
#                  with -DCMAKE_BUILD_TYPE=Release -DWI_BUILD_TESTS=OFF if
#                  it has no CMakeCache.txt)
#   --duration     seconds of each wrk run, default 8
#   --connections  wrk connection counts to measure, default "1 16 64"
#   --rounds       server starts per side, default 2
#   --out FILE     also write the markdown report to FILE
#
# What it measures, all on 127.0.0.1: POST /v1/webhook/endpoints (one
# tenant, bench/post_endpoint.lua; every answer waits for a synced WAL
# write) against webhook-ingress started two ways:
#   group     default flags: group commit (up to 1024 records per sync)
#   baseline  --wal-max-batch 1: one synced write per mutation
# Each round starts each side once on a fresh data dir and runs every
# connection count on it; rounds alternate group/baseline, then
# baseline/group (ABBA), so drift in the machine's load hits both alike.
# Every figure is the median over the rounds; the ratio group/baseline of
# req/s measured in this run is the figure to track.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=durability_bench
# shellcheck source=bench/bench_lib.sh
source "$repo/bench/bench_lib.sh"

build_dir="$repo/build-bench"
duration=8
connections="1 16 64"
rounds=2
out=""
cmdline="bench/durability_bench.sh $*"

while (($# > 0)); do
  case "$1" in
    --build-dir) build_dir=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --connections) connections=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
for n in "$duration" "$rounds" $connections; do
  is_count "$n" || die "not a positive integer: $n"
done
command -v wrk > /dev/null || die "wrk not found"
command -v curl > /dev/null || die "curl not found"
[[ $build_dir = /* ]] || build_dir="$PWD/$build_dir"

ensure_build "$build_dir" webhook-ingress
bin="$build_dir/webhook-ingress"
mapfile -t limit_flags < <(known_flags "$bin" --tenant-max-endpoints 0)
bench_setup

admin=bench-admin-token

# measure_side SIDE ROUND: starts the server of SIDE on a fresh data dir,
# creates a tenant, runs every connection count, stops the server.
measure_side() {
  local side=$1 round=$2 extra=() c threads code
  [[ $side == baseline ]] && extra=(--wal-max-batch 1)
  local data="$tmp/data-$side-$round"
  start_server "$side-$round" "webhook-ingress listening on" "$bin" \
    --listen 127.0.0.1:0 --data-dir "$data" --admin-token "$admin" \
    "${limit_flags[@]}" "${extra[@]}" # not the per-tenant limit
  local base="http://127.0.0.1:$port"
  wait_ready "$base" 30
  code=$(http_status POST "$base/admin/v1/tenants" "${json[@]}" \
    -H "Authorization: Bearer $admin" -d '{"name":"bench"}')
  expect 201 "$code" "create tenant"
  export WI_BENCH_TOKEN
  WI_BENCH_TOKEN=$(json_get data.token)
  # Warm-up, not reported: first connections, allocator, RocksDB files.
  wrk -t1 -c4 -d1s -s "$repo/bench/post_endpoint.lua" \
    "$base/v1/webhook/endpoints" > /dev/null
  for c in $connections; do
    threads=2
    ((c < threads)) && threads=$c
    note "round $round, $side, $c connections ..."
    wrk -t"$threads" -c"$c" -d"${duration}s" --timeout 30s --latency \
      -s "$repo/bench/post_endpoint.lua" "$base/v1/webhook/endpoints" \
      > "$tmp/wrk.log"
    wrk_summary "$tmp/wrk.log" "$c $side" >> "$tmp/results.tsv" ||
      { cat "$tmp/wrk.log" >&2; die "cannot parse wrk output"; }
  done
  stop_server "$server_pid" KILL 10
  rm -rf "$data"
}

# What one synced write costs on this disk, for reading the ratio: 1000
# writes of 4 KiB with O_DSYNC into the temp dir's file system.
dsync_us=$(dd if=/dev/zero of="$tmp/dsync" bs=4k count=1000 oflag=dsync 2>&1 |
  awk '/copied/ { for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/) s = $(i - 1)
    printf "%.0f", s * 1000 }')
rm -f "$tmp/dsync"

: > "$tmp/results.tsv"
for ((r = 1; r <= rounds; r++)); do
  order="group baseline"
  ((r % 2 == 0)) && order="baseline group"
  for side in $order; do
    measure_side "$side" "$r"
  done
done

# -- report -----------------------------------------------------------------

report() {
  echo "## Durability: group commit vs one fsync per request"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- command: \`$cmdline\`"
  echo "- commit: $(commit_note)"
  echo "- machine: $(machine_note)"
  echo "- each run: \`wrk -t2 -c<connections> -d${duration}s --latency" \
    "-s bench/post_endpoint.lua\` (-t1 for 1 connection) on 127.0.0.1," \
    "POST /v1/webhook/endpoints, one tenant; $rounds server starts per" \
    "side on a fresh data dir, alternating group/baseline (ABBA);" \
    "group = default flags, baseline = \`--wal-max-batch 1\`"
  echo "- one synced 4 KiB write on this disk (\`dd bs=4k count=1000" \
    "oflag=dsync\` in the temp dir): ${dsync_us:-?} us"
  echo
  echo "| connections | group req/s | group p50 | group p99 | baseline req/s | baseline p50 | baseline p99 | group/baseline | req/s of each run (group; baseline) | errors |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
  awk -F '\t' -v conns="$connections" '
    function median(list,    a, n, i, j, t) {
      n = split(list, a, " ")
      for (i = 2; i <= n; i++)
        for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
          t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
        }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function latency(x) {
      return x < 1 ? sprintf("%.0f us", x * 1000) : sprintf("%.2f ms", x)
    }
    {
      rps[$1] = rps[$1] " " $2; p50[$1] = p50[$1] " " $3
      p99[$1] = p99[$1] " " $4; errors[$1] += $5
      runs[$1] = runs[$1] (runs[$1] == "" ? "" : ", ") sprintf("%.0f", $2)
    }
    END {
      n = split(conns, c, " ")
      for (i = 1; i <= n; i++) {
        g = c[i] " group"; b = c[i] " baseline"
        printf "| %s | %.0f | %s | %s | %.0f | %s | %s | %.1fx | %s; %s | %d |\n",
          c[i], median(rps[g]), latency(median(p50[g])),
          latency(median(p99[g])), median(rps[b]), latency(median(p50[b])),
          latency(median(p99[b])), median(rps[g]) / median(rps[b]),
          runs[g], runs[b], errors[g] + errors[b]
      }
    }' "$tmp/results.tsv"
  echo
  echo "req/s, p50 and p99 are medians over the runs. group/baseline = group"
  echo "req/s over baseline req/s of this run: how many more durable creates"
  echo "per second group commit gives than one fsync per create (1.0x = no"
  echo "gain; at 1 connection there is nothing to group, so ~1x is expected)."
  echo "errors = non-2xx answers plus socket errors summed over both sides."
}
report > "$tmp/report.md"
cat "$tmp/report.md"
if [[ -n $out ]]; then
  cp "$tmp/report.md" "$out"
fi
