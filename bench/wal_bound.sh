#!/usr/bin/env bash
# WAL bound demonstration: many mutations on a handful of endpoints, then
# the WAL holds no more than about snapshot-every x owners records.
#
# Usage: bench/wal_bound.sh [--build-dir DIR] [--mutations N] [--tenants N]
#                           [--endpoints-per-tenant N] [--connections N]
#                           [--snapshot-every N] [--sample-every S]
#                           [--out FILE]
#   --build-dir             Release build dir, default <repo>/build-bench
#                           (configured with -DCMAKE_BUILD_TYPE=Release
#                           -DWI_BUILD_TESTS=OFF if it has no CMakeCache.txt)
#   --mutations             PUT disable/enable requests, default 1000000
#   --tenants               default 5
#   --endpoints-per-tenant  default 2
#   --connections           wrk connections, default 64
#   --snapshot-every        the server's --snapshot-every, default 10000
#                           (the server's default)
#   --sample-every          seconds between WAL samples during the run
#                           (bench_raw_scan on the live dir, read-only),
#                           default 10; 0 = none
#   --out FILE              also write the markdown report to FILE
#
# Steps, on 127.0.0.1: start webhook-ingress on a fresh dir, register the
# tenants, create their endpoints, send the mutations with wrk and
# bench/rotate.lua (each endpoint alternately disabled and enabled, every
# answer after a synced WAL write), SIGKILL the server (no shutdown
# snapshot), then count the records left in the `wal` column family with
# bench_raw_scan and measure the directory with du. The bound is
# snapshot-every x owners, owners = tenants + the directory.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=wal_bound
# shellcheck source=bench/bench_lib.sh
source "$repo/bench/bench_lib.sh"

build_dir="$repo/build-bench"
mutations=1000000
tenants=5
per_tenant=2
connections=64
snapshot_every=10000
sample_every=10
out=""
cmdline="bench/wal_bound.sh $*"

while (($# > 0)); do
  case "$1" in
    --build-dir) build_dir=${2:?}; shift 2 ;;
    --mutations) mutations=${2:?}; shift 2 ;;
    --tenants) tenants=${2:?}; shift 2 ;;
    --endpoints-per-tenant) per_tenant=${2:?}; shift 2 ;;
    --connections) connections=${2:?}; shift 2 ;;
    --snapshot-every) snapshot_every=${2:?}; shift 2 ;;
    --sample-every) sample_every=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
for n in "$mutations" "$tenants" "$per_tenant" "$connections" \
  "$snapshot_every"; do
  is_count "$n" || die "not a positive integer: $n"
done
[[ $sample_every =~ ^[0-9]+$ ]] || die "not an integer: $sample_every"
((connections >= 2)) || die "--connections must be at least 2"
command -v wrk > /dev/null || die "wrk not found"
command -v curl > /dev/null || die "curl not found"
command -v python3 > /dev/null || die "python3 not found"
[[ $build_dir = /* ]] || build_dir="$PWD/$build_dir"

ensure_build "$build_dir" webhook-ingress bench_raw_scan
bin="$build_dir/webhook-ingress"
scan_bin="$build_dir/bench/bench_raw_scan"
bench_setup

admin=bench-admin-token
data="$tmp/data"
start_server server "webhook-ingress listening on" "$bin" \
  --listen 127.0.0.1:0 --data-dir "$data" --admin-token "$admin" \
  --snapshot-every "$snapshot_every"
base="http://127.0.0.1:$port"
wait_ready "$base" 60

create_tenants "$base" "$admin" "$tenants" "$tmp/tokens"
: > "$tmp/targets"
while read -r token; do
  for ((i = 1; i <= per_tenant; i++)); do
    code=$(http_status POST "$base/v1/webhook/endpoints" "${json[@]}" \
      -H "Authorization: Bearer $token" -d "$create_body")
    expect 201 "$code" "create endpoint"
    echo "$token $(json_get data.identifier)" >> "$tmp/targets"
  done
done < "$tmp/tokens"

# WAL samples while the mutations run: "seconds wal_records data_dir_KiB".
sampler() {
  local started=$1 s
  while sleep "$sample_every"; do
    s=$("$scan_bin" "$data" 2> /dev/null |
      sed -n 's/^wal records=\([0-9]*\).*/\1/p') || true
    [[ -n $s ]] || continue
    echo "$(awk -v a="$started" -v b="$(now_ns)" \
      'BEGIN { printf "%.0f", (b - a) / 1e9 }') $s $(du -sk "$data" |
      cut -f1)" >> "$tmp/samples"
  done
}
: > "$tmp/samples"
if ((sample_every > 0)); then
  sampler "$(now_ns)" &
  sampler_pid=$!
  pids+=("$sampler_pid")
fi

note "$mutations mutations on $((tenants * per_tenant)) endpoints ..."
run_mutations "$base" /v1/webhook/endpoints toggle "$tmp/targets" \
  "$mutations" "$connections" 2 3600
if ((sample_every > 0)); then
  kill "$sampler_pid" 2> /dev/null || true
  wait "$sampler_pid" 2> /dev/null || true
  forget_pid "$sampler_pid"
fi
alive_wal=$("$scan_bin" "$data" 2> /dev/null |
  sed -n 's/^wal records=\([0-9]*\).*/\1/p') || true
stop_server "$server_pid" KILL 10

"$scan_bin" "$data" > "$tmp/scan.out"
wal_records=$(sed -n 's/^wal records=\([0-9]*\).*/\1/p' "$tmp/scan.out")
wal_bytes=$(sed -n 's/^wal records=[0-9]* bytes=\([0-9]*\).*/\1/p' "$tmp/scan.out")
snap_records=$(sed -n 's/^snapshot records=\([0-9]*\).*/\1/p' "$tmp/scan.out")
du_kib=$(du -sk "$data" | cut -f1)
dir_note=$(dir_breakdown "$data")
owners=$((tenants + 1))
bound=$((snapshot_every * owners))
total_writes=$((tenants + tenants * per_tenant + mutations_ok))

report() {
  echo "## WAL bound: $mutations_ok mutations on $((tenants * per_tenant)) endpoints"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- command: \`$cmdline\`"
  echo "- commit: $(commit_note)"
  echo "- machine: $(machine_note)"
  echo "- $tenants tenants x $per_tenant endpoints; PUT .../disable and" \
    ".../enable alternating per endpoint with wrk, $connections" \
    "connections, bench/rotate.lua: $mutations_ok answered 204," \
    "$mutation_errors failed, in ${mutation_seconds}s ($(awk \
      -v n="$mutations_ok" -v s="$mutation_seconds" \
      'BEGIN { printf "%.0f", n / s }')/s); server \`--snapshot-every" \
    "$snapshot_every\`, stopped with SIGKILL (no shutdown snapshot)"
  echo
  echo "| records written to the WAL | WAL records left | WAL bytes (keys + values) | snapshots | data dir (du) | bound snapshot-every x owners | left / bound |"
  echo "|---:|---:|---:|---:|---:|---:|---:|"
  awk -v w="$total_writes" -v r="$wal_records" -v b="$wal_bytes" \
    -v s="$snap_records" -v du="$du_kib" -v bound="$bound" \
    -v se="$snapshot_every" -v o="$owners" 'BEGIN {
      printf "| %d | %d | %.1f MiB | %d | %.1f MiB | %d x %d = %d | %.2f |\n",
        w, r, b / 1048576, s, du / 1024, se, o, bound, r / bound
    }'
  echo
  if [[ -s $tmp/samples ]]; then
    echo "During the run (bench_raw_scan read-only on the live dir, every" \
      "${sample_every}s; seconds: WAL records, data dir):" \
      "$(awk '{ printf "%s%ss: %d, %.1f MiB", (NR > 1 ? "; " : ""), $1, $2, $3 / 1024 }' \
        "$tmp/samples")." \
      "Just before the SIGKILL: ${alive_wal:-?} WAL records."
    echo
  fi
  echo "Data dir after the SIGKILL: $dir_note."
  echo
  echo "records written = tenants + endpoints + mutations (one WAL record"
  echo "each). left / bound <= 1 means the WAL stayed within snapshot-every"
  echo "records per owner (owners = tenants + the directory) although"
  echo "$total_writes records were written: snapshots cover the rest and the"
  echo "WAL is truncated below the oldest record an owner still needs."
}
report > "$tmp/report.md"
cat "$tmp/report.md"
if [[ -n $out ]]; then
  cp "$tmp/report.md" "$out"
fi
