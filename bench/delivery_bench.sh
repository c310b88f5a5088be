#!/usr/bin/env bash
# Delivery benchmark: deliveries per second of webhook-ingress to a local
# sink, against what the sink itself takes from wrk in the same run.
#
# Usage: bench/delivery_bench.sh [--build-dir DIR] [--duration SECONDS]
#                                [--endpoints "1 10 100"] [--out FILE]
#                                [--publisher wrk|batch]
#   --build-dir  Release build dir, default <repo>/build-bench
#   --duration   seconds of each publishing (and sink capacity) run, default 5
#   --endpoints  endpoint counts, one fresh server each, default "1 10 100"
#   --out FILE   also write the markdown report to FILE
#   --publisher  wrk (default): wrk floods POST /v1/webhook/events (429s
#                once the pending cap is reached); batch: bench/
#                paced_publisher.py posts batches of 100 events to
#                /v1/webhook/events/batch from 4 connections while fewer
#                than 20 000 deliveries are outstanding (no 429s: the server
#                spends its CPU on deliveries)
#
# What it measures, all on 127.0.0.1:
#   sink capacity   wrk -t2 -c64 -d<duration>s POSTing a ~200-byte JSON body
#                   to bench_sink_server (bench/sink_post.lua)
#   deliveries/s    for N endpoints pointing at the sink: wrk -t2 -c64
#                   publishes events (bench/publish_event.lua) for
#                   <duration> s; then we wait (bounded) until the sink has
#                   counted accepted events x N POSTs. deliveries/s =
#                   deliveries / (first publish to last delivery seen; the
#                   sink's count is polled every 50 ms)
#   ingest          POST /v1/webhook/events req/s at 1 and 64 connections
#                   (1 endpoint; the same wrk runs as deliveries for N=1 at 64)
#   CPU             user+system CPU of webhook-ingress per delivery and of the
#                   sink per POST it counted, over publishing and draining
#                   (less sensitive to a busy machine than rates)
# ratio = deliveries/s over sink capacity of this run.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=delivery_bench
build_dir="$repo/build-bench"
duration=5
endpoint_counts="1 10 100"
out=""
publisher=wrk
cmdline="bench/delivery_bench.sh $*"
# shellcheck source=bench/bench_lib.sh
source "$repo/bench/bench_lib.sh"

while (($# > 0)); do
  case "$1" in
    --build-dir) build_dir=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --endpoints) endpoint_counts=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --publisher) publisher=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
is_count "$duration" || die "not a positive integer: $duration"
[[ $publisher == wrk || $publisher == batch ]] || die "unknown publisher: $publisher"
for n in $endpoint_counts; do is_count "$n" || die "not a positive integer: $n"; done
command -v wrk > /dev/null || die "wrk not found"
command -v curl > /dev/null || die "curl not found"
[[ $build_dir = /* ]] || build_dir="$PWD/$build_dir"

ensure_build "$build_dir" bench_sink_server webhook-ingress
sink_bin="$build_dir/bench/bench_sink_server"
real_bin="$build_dir/webhook-ingress"
mapfile -t limit_flags < <(known_flags "$real_bin" --tenant-publish-rate 0)
bench_setup
admin=bench-admin-token
# Deliveries still missing this long after publishing ends: give up.
drain_limit_s=$((duration * 20 > 120 ? duration * 20 : 120))

start_server sink "sink listening on" "$sink_bin" --threads 2
sink="http://127.0.0.1:$port"
sink_pid=$server_pid
sink_count() {
  curl -sf --max-time 5 "$sink/count" || echo 0
}

# -- sink capacity ------------------------------------------------------------

note "sink capacity ..."
wrk -t2 -c64 -d2s -s "$repo/bench/sink_post.lua" "$sink/hook" > /dev/null # warm-up
wrk -t2 -c64 -d"${duration}s" --latency -s "$repo/bench/sink_post.lua" \
  "$sink/hook" > "$tmp/sink.wrk"
read -r _ sink_rps _ _ sink_errors < <(wrk_summary "$tmp/sink.wrk" sink) ||
  { cat "$tmp/sink.wrk" >&2; die "cannot parse wrk output"; }

# -- one server per endpoint count --------------------------------------------

# start_real: a fresh webhook-ingress with one tenant; sets `real`, `token`.
start_real() {
  rm -rf "$tmp/data"
  mkdir "$tmp/data"
  start_server real "webhook-ingress listening on" "$real_bin" \
    --allow-private-targets --log-level warn --listen 127.0.0.1:0 \
    --data-dir "$tmp/data" --admin-token "$admin" \
    "${limit_flags[@]}" # measure the engine, not the per-tenant limit
  real="http://127.0.0.1:$port"
  real_pid=$server_pid
  wait_ready "$real" 60
  code=$(http_status POST "$real/admin/v1/tenants" "${json[@]}" \
    -H "Authorization: Bearer $admin" -d '{"name":"bench"}')
  expect 201 "$code" "create tenant"
  token=$(json_get data.token)
}

# add_endpoints N: N endpoints of the tenant, all to the sink.
add_endpoints() {
  local i
  for ((i = 1; i <= $1; i++)); do
    code=$(http_status POST "$real/v1/webhook/endpoints" "${json[@]}" \
      -H "Authorization: Bearer $token" \
      -d "{\"url\":\"$sink/hook/$i\",\"secret\":\"bench-secret-123\",\"event_types\":[\"bench.event\"]}")
    expect 201 "$code" "create endpoint $i"
  done
}

# publish CONNECTIONS LOG: wrk publishing for $duration s; sets `accepted`,
# `throttled`, `other`, `ingest_rps`.
publish() {
  local c=$1 log=$2 t=2
  ((c == 1)) && t=1
  WI_BENCH_TOKEN=$token wrk -t"$t" -c"$c" -d"${duration}s" --latency \
    -s "$repo/bench/publish_event.lua" "$real/v1/webhook/events" > "$log"
  accepted=$(sed -n 's/^events_accepted=//p' "$log")
  throttled=$(sed -n 's/^events_throttled=//p' "$log")
  other=$(sed -n 's/^events_other=//p' "$log")
  [[ -n $accepted ]] || { cat "$log" >&2; die "wrk ended without an event count"; }
  ingest_rps=$(sed -n 's/^Requests\/sec:[[:space:]]*//p' "$log")
}

# publish_paced N LOG: bench/paced_publisher.py for $duration s (N
# endpoints); sets `accepted`, `throttled` (refused events), `other` (batches
# not answered 202), `ingest_rps` (events accepted per second).
publish_paced() {
  python3 "$repo/bench/paced_publisher.py" "$real" "$token" "$sink" \
    "$duration" "$1" > "$2"
  accepted=$(sed -n 's/^events_accepted=//p' "$2")
  throttled=$(sed -n 's/^events_refused=//p' "$2")
  other=$(sed -n 's/^batch_errors=//p' "$2")
  [[ -n $accepted ]] || { cat "$2" >&2; die "publisher ended without a count"; }
  ingest_rps=$(awk -v a="$accepted" -v d="$duration" 'BEGIN { printf "%.0f", a / d }')
}

: > "$tmp/rows.tsv"
: > "$tmp/ingest.tsv"
for n in $endpoint_counts; do
  note "$n endpoint(s) ..."
  start_real
  add_endpoints "$n"
  base_count=$(sink_count)
  cpu_real0=$(cpu_seconds "$real_pid")
  cpu_sink0=$(cpu_seconds "$sink_pid")
  t0=$(now_ns)
  if [[ $publisher == batch ]]; then
    publish_paced "$n" "$tmp/publish.$n.wrk"
  else
    publish 64 "$tmp/publish.$n.wrk"
  fi
  t_pub_end=$(now_ns)
  at_pub_end=$(($(sink_count) - base_count))
  publish_s=$(awk -v a="$t0" -v b="$t_pub_end" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  expected=$((accepted * n))
  deadline=$(($(now_ns) + drain_limit_s * 1000000000))
  delivered=0
  while :; do
    delivered=$(($(sink_count) - base_count))
    t_last=$(now_ns)
    ((delivered >= expected)) && break
    (($(now_ns) < deadline)) || {
      note "warning: $delivered of $expected deliveries after ${drain_limit_s}s"
      break
    }
    kill -0 "$real_pid" 2> /dev/null || die "webhook-ingress died"
    sleep 0.05
  done
  cpu_real=$(awk -v a="$cpu_real0" -v b="$(cpu_seconds "$real_pid")" 'BEGIN { print b - a }')
  cpu_sink=$(awk -v a="$cpu_sink0" -v b="$(cpu_seconds "$sink_pid")" 'BEGIN { print b - a }')
  total_s=$(awk -v a="$t0" -v b="$t_last" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  drain_s=$(awk -v a="$t_pub_end" -v b="$t_last" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$accepted" \
    "$throttled" "$other" "$expected" "$delivered" "$publish_s" "$total_s" \
    "$ingest_rps" "$at_pub_end" "$drain_s" "$cpu_real" "$cpu_sink" >> "$tmp/rows.tsv"
  if [[ $n == 1 && $publisher == wrk ]]; then
    printf '64\t%s\t%s\t%s\n' "$ingest_rps" "$accepted" "$((throttled + other))" >> "$tmp/ingest.tsv"
    # 1 connection, same server (its deliveries are not measured).
    publish 1 "$tmp/publish.c1.wrk"
    printf '1\t%s\t%s\t%s\n' "$ingest_rps" "$accepted" "$((throttled + other))" >> "$tmp/ingest.tsv"
  fi
  grep -ci 'error\|fatal' "$tmp/real.log" > /dev/null &&
    { note "server log lines with error/fatal:"; grep -i 'error\|fatal' "$tmp/real.log" | head -n 5 >&2; }
  stop_server "$real_pid" TERM 30
done

# -- report ---------------------------------------------------------------------

report() {
  echo "## Deliveries: webhook-ingress to a local sink"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- command: \`$cmdline\`"
  echo "- commit: $(commit_note)"
  echo "- machine: $(machine_note)"
  echo "- sink: bench_sink_server --threads 2; capacity \`wrk -t2 -c64" \
    "-d${duration}s\`, ~200-byte JSON POST: $(printf '%.0f' "$sink_rps") req/s" \
    "($sink_errors errors)"
  if [[ $publisher == batch ]]; then
    echo "- publishing: bench/paced_publisher.py for ${duration}s, batches of" \
      "100 events to POST /v1/webhook/events/batch from 4 connections while" \
      "under 20 000 deliveries are outstanding; fresh server (default flags" \
      "plus \`--allow-private-targets\`) per row; 429 / other = refused" \
      "events / batches not answered 202"
  else
    echo "- publishing: \`wrk -t2 -c64 -d${duration}s\` POST /v1/webhook/events," \
      "fresh server (default flags plus \`--allow-private-targets\`) per row"
  fi
  echo
  echo "| endpoints | events accepted | 429 / other | deliveries expected | delivered | publish s | delivered when publishing ended | first publish to last delivery s | deliveries/s | ratio vs sink | backlog drain deliveries/s | server CPU us/delivery | sink CPU us/POST |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F '\t' -v sink="$sink_rps" '{
      rate = $8 > 0 ? $6 / $8 : 0
      drain = ($11 > 0.2 && $6 > $10) ? sprintf("%.0f", ($6 - $10) / $11) : "-"
      per = $6 > 0 ? 1e6 / $6 : 0
      printf "| %d | %d | %d / %d | %d | %d | %.2f | %d | %.2f | %.0f | %.2f | %s | %.0f | %.0f |\n",
        $1, $2, $3, $4, $5, $6, $7, $10, $8, rate, rate / sink, drain, $12 * per, $13 * per
    }' "$tmp/rows.tsv"
  echo
  if [[ -s $tmp/ingest.tsv ]]; then
    echo "| ingest, 1 endpoint | req/s | events accepted | non-202 |"
    echo "|---|---:|---:|---:|"
    sort -n "$tmp/ingest.tsv" | awk -F '\t' '{
        printf "| %d connection%s | %.0f | %d | %d |\n", $1, $1 == 1 ? "" : "s", $2, $3, $4 }'
    echo
  fi
  echo "deliveries/s = delivered / (first publish to last delivery); ratio ="
  echo "deliveries/s over the sink's capacity in this run (aim >= 0.60)."
  echo "backlog drain = deliveries after publishing ended over the time they"
  echo "took (\"-\" when under 0.2 s: deliveries kept up with publishing)."
  echo "delivered can exceed expected: events still in flight when wrk stops"
  echo "are accepted by the server but not counted by wrk."
  echo "CPU columns: user+system CPU from the first publish to the last"
  echo "delivery (publishing, 429 answers and draining included) over the"
  echo "deliveries the sink counted."
}
report > "$tmp/report.md"
cat "$tmp/report.md"
[[ -z $out ]] || cp "$tmp/report.md" "$out"
