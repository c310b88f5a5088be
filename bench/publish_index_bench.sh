#!/usr/bin/env bash
# Publish cost against non-matching endpoints (issue 19, aim 2): publish rate
# of one tenant with 1 endpoint, then of the same tenant after 100 000 more
# endpoints that subscribe to another event type, same server, same run.
#
# Usage: bench/publish_index_bench.sh [--build-dir DIR] [--duration SECONDS]
#                                     [--endpoints N] [--rounds R] [--out FILE]
#   --build-dir  build dir, default <repo>/build-bench (Release)
#   --duration   seconds of each publishing run, default 5
#   --endpoints  non-matching endpoints added, default 100000
#   --rounds     publishing runs before and after (median), default 3
#   --out FILE   also write the markdown report to FILE
#   --snapshot-every N  the server's --snapshot-every (default: its own,
#                10 000 records): a snapshot encodes the whole tenant, the
#                100 000 endpoints included
#
# On 127.0.0.1: one webhook-ingress (publish rate unlimited, the endpoint
# quota raised above N) and bench_sink_server. The tenant's one endpoint
# subscribes to "bench.event" and points at the sink. Each run: wrk -t2 -c16
# -d<duration>s POST /v1/webhook/events of "bench.event" (bench/
# publish_event.lua); rate = 202 answers per second. Then N endpoints of type
# "a.b" are created (bench/rotate.lua, 64 connections) and the runs repeat.
# ratio = median rate after / median rate before (goal >= 0.8).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=publish_index_bench
build_dir="$repo/build-bench"
duration=5
extra=100000
rounds=3
out=""
snapshot_flags=()
cmdline="bench/publish_index_bench.sh $*"
# shellcheck source=bench/bench_lib.sh
source "$repo/bench/bench_lib.sh"

while (($# > 0)); do
  case "$1" in
    --build-dir) build_dir=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --endpoints) extra=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --snapshot-every) snapshot_flags=(--snapshot-every "${2:?}"); shift 2 ;;
    -h | --help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
for x in "$duration" "$extra" "$rounds"; do
  is_count "$x" || die "not a positive integer: $x"
done
command -v wrk > /dev/null || die "wrk not found"
command -v curl > /dev/null || die "curl not found"
[[ $build_dir = /* ]] || build_dir="$PWD/$build_dir"

ensure_build "$build_dir" bench_sink_server webhook-ingress
sink_bin="$build_dir/bench/bench_sink_server"
real_bin="$build_dir/webhook-ingress"
bench_setup
admin=bench-admin-token

start_server sink "sink listening on" "$sink_bin" --threads 1
sink="http://127.0.0.1:$port"

mkdir "$tmp/data"
start_server real "webhook-ingress listening on" "$real_bin" \
  --allow-private-targets --log-level warn --listen 127.0.0.1:0 \
  --data-dir "$tmp/data" --admin-token "$admin" \
  --tenant-publish-rate 0 --tenant-max-endpoints $((extra + 10)) \
  "${snapshot_flags[@]}"
real="http://127.0.0.1:$port"
real_pid=$server_pid
wait_ready "$real" 60
code=$(http_status POST "$real/admin/v1/tenants" "${json[@]}" \
  -H "Authorization: Bearer $admin" -d '{"name":"bench"}')
expect 201 "$code" "create tenant"
token=$(json_get data.token)
code=$(http_status POST "$real/v1/webhook/endpoints" "${json[@]}" \
  -H "Authorization: Bearer $token" \
  -d "{\"url\":\"$sink/hook\",\"secret\":\"bench-secret-123\",\"event_types\":[\"bench.event\"]}")
expect 201 "$code" "create endpoint"

# publish_round LOG: one publishing run; prints "rate accepted other".
publish_round() {
  WI_BENCH_TOKEN=$token wrk -t2 -c16 -d"${duration}s" \
    -s "$repo/bench/publish_event.lua" "$real/v1/webhook/events" > "$1"
  local accepted other throttled
  accepted=$(sed -n 's/^events_accepted=//p' "$1")
  throttled=$(sed -n 's/^events_throttled=//p' "$1")
  other=$(sed -n 's/^events_other=//p' "$1")
  [[ -n $accepted ]] || { cat "$1" >&2; die "wrk ended without an event count"; }
  awk -v a="$accepted" -v d="$duration" -v o="$((throttled + other))" \
    'BEGIN { printf "%.0f %d %d\n", a / d, a, o }'
}

# rounds_of LABEL: `rounds` runs; appends "LABEL rate accepted other" lines
# to $tmp/rows and sets `median_rate` and `cpu_per_publish_us`.
rounds_of() {
  local label=$1 i rates=() line cpu0 total=0
  cpu0=$(cpu_seconds "$real_pid")
  for ((i = 1; i <= rounds; i++)); do
    line=$(publish_round "$tmp/publish.$label.$i.log")
    echo "$label $line" >> "$tmp/rows"
    rates+=("${line%% *}")
    total=$((total + $(cut -d' ' -f2 <<< "$line")))
  done
  median_rate=$(median "${rates[@]}")
  cpu_per_publish_us=$(awk -v a="$cpu0" -v b="$(cpu_seconds "$real_pid")" \
    -v n="$total" 'BEGIN { printf "%.0f", (n > 0 ? (b - a) * 1e6 / n : 0) }')
}

: > "$tmp/rows"
note "warm-up ..."
publish_round "$tmp/warmup.log" > /dev/null
note "1 endpoint: $rounds runs of ${duration}s ..."
rounds_of before
before=$median_rate
cpu_before=$cpu_per_publish_us

note "adding $extra endpoints of another event type ..."
echo "$token" > "$tmp/targets"
run_mutations "$real" /v1/webhook/endpoints create "$tmp/targets" "$extra" 64 2 3600
((mutations_ok == extra)) ||
  die "created $mutations_ok of $extra endpoints ($mutation_errors errors)"
create_s=$mutation_seconds
rss_mib=$(awk -v k="$(rss_kib "$real_pid")" 'BEGIN { printf "%.0f", k / 1024 }')

note "1 + $extra endpoints: $rounds runs of ${duration}s ..."
rounds_of after
after=$median_rate
cpu_after=$cpu_per_publish_us
kill -0 "$real_pid" 2> /dev/null || die "webhook-ingress died"

report() {
  echo "## Publish rate against non-matching endpoints"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- command: \`$cmdline\`"
  echo "- commit: $(commit_note)"
  echo "- machine: $(machine_note)"
  echo "- build: $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt")"
  echo "- publishing: \`wrk -t2 -c16 -d${duration}s\` POST /v1/webhook/events" \
    "of \"bench.event\", one tenant (\`--tenant-publish-rate 0" \
    "--tenant-max-endpoints $((extra + 10))\`), its 1 matching endpoint" \
    "delivering to bench_sink_server${snapshot_flags[*]:+; server flag \`${snapshot_flags[*]}\`}"
  echo "- $extra endpoints of type \"a.b\" created in ${create_s}s" \
    "(64 connections); server RSS after: ${rss_mib} MiB"
  echo
  echo "| endpoints on the tenant | run | publishes/s | accepted | non-202 |"
  echo "|---|---:|---:|---:|---:|"
  awk -v x="$extra" '{ n[$1]++
      printf "| %s | %d | %d | %d | %d |\n",
        $1 == "before" ? "1" : "1 + " x " non-matching", n[$1], $2, $3, $4 }' "$tmp/rows"
  echo
  echo "| | 1 endpoint | 1 + $extra non-matching | ratio (goal >= 0.8) |"
  echo "|---|---:|---:|---:|"
  awk -v b="$before" -v a="$after" 'BEGIN {
      printf "| median publishes/s | %.0f | %.0f | %.2f |\n", b, a, (b > 0 ? a / b : 0) }'
  echo "| server CPU us/publish (incl. its delivery) | $cpu_before | $cpu_after | |"
}
report
[[ -z $out ]] || report > "$out"
