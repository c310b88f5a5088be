#!/usr/bin/env bash
# Per-endpoint rate limit benchmark (issue 17, item 4): a limited endpoint
# receives at its set rate (within 10%) while an unlimited endpoint of the
# same tenant is not slowed.
#
# Usage: bench/rate_limit_bench.sh [--build-dir DIR] [--rate N] [--window S]
#                                  [--out FILE]
#   --build-dir  build dir with webhook-ingress and bench_sink_server,
#                default <repo>/build-bench (configured Release if new)
#   --rate       the limited endpoint's rate_limit, default 100
#   --window     seconds over which the limited endpoint's rate is measured,
#                default 10
#   --out FILE   also write the markdown report to FILE
#
# What it does, all on 127.0.0.1: two sinks (bench_sink_server, each counts
# the POSTs it gets), one webhook-ingress with one tenant, two runs:
#   baseline  endpoints L and U both unlimited, L to sink A, U to sink B
#   limited   the same with L at `rate_limit` = --rate
# Each run publishes E = rate x (window + 4) events (8 keep-alive clients),
# then samples both sinks every 100 ms. Reported per run: U's deliveries/s
# (its events over first publish to its last delivery), and L's rate over
# [2 s, 2 s + window] after the first publish (its backlog lasts longer), as
# deliveries/s and its deviation from --rate. U's deliveries/s is bound by
# the publishing speed: the point is that it is the same in both runs.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=rate_limit_bench
build_dir="$repo/build-bench"
rate=100
window=10
out=""
cmdline="bench/rate_limit_bench.sh $*"
# shellcheck source=bench/bench_lib.sh
source "$repo/bench/bench_lib.sh"

while (($# > 0)); do
  case "$1" in
    --build-dir) build_dir=${2:?}; shift 2 ;;
    --rate) rate=${2:?}; shift 2 ;;
    --window) window=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
is_count "$rate" || die "not a positive integer: $rate"
is_count "$window" || die "not a positive integer: $window"
[[ $build_dir = /* ]] || build_dir="$PWD/$build_dir"

ensure_build "$build_dir" bench_sink_server webhook-ingress
sink_bin="$build_dir/bench/bench_sink_server"
real_bin="$build_dir/webhook-ingress"
bench_setup
admin=bench-admin-token
events=$((rate * (window + 4)))

start_server sink_a "sink listening on" "$sink_bin" --threads 1
sink_a="http://127.0.0.1:$port"
start_server sink_b "sink listening on" "$sink_bin" --threads 1
sink_b="http://127.0.0.1:$port"
count_of() { curl -sf --max-time 5 "$1/count" || echo 0; }

# publish_events BASE TOKEN N: N events from 8 keep-alive clients; prints
# how many were accepted (202).
publish_events() {
  python3 - "$1" "$2" "$3" << 'PY'
import http.client, sys, threading, urllib.parse
base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
u = urllib.parse.urlsplit(base)
body = '{"event_type":"bench.event","payload":{"order_id":123456}}'
headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
accepted = [0] * 8
def client(i):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    for _ in range(i, n, 8):
        c.request("POST", "/v1/webhook/events", body, headers)
        r = c.getresponse()
        r.read()
        accepted[i] += r.status == 202
threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(sum(accepted))
PY
}

# run LIMIT: one fresh server, L limited to LIMIT (0: unlimited); appends
# "LIMIT accepted U_rate L_rate" to $tmp/rows.tsv.
run() {
  local limit=$1 options="" base_a base_b t0 now a b t_u=0 a_lo="" a_hi=""
  rm -rf "$tmp/data"
  mkdir "$tmp/data"
  start_server real "webhook-ingress listening on" "$real_bin" \
    --allow-private-targets --log-level warn --listen 127.0.0.1:0 \
    --data-dir "$tmp/data" --admin-token "$admin" --tenant-publish-rate 0 \
    --max-pending-deliveries 1000000
  local real="http://127.0.0.1:$port" real_pid=$server_pid
  wait_ready "$real" 60
  code=$(http_status POST "$real/admin/v1/tenants" "${json[@]}" \
    -H "Authorization: Bearer $admin" -d '{"name":"bench"}')
  expect 201 "$code" "create tenant"
  local token
  token=$(json_get data.token)
  ((limit > 0)) && options=",\"rate_limit\":$limit"
  code=$(http_status POST "$real/v1/webhook/endpoints" "${json[@]}" \
    -H "Authorization: Bearer $token" \
    -d "{\"url\":\"$sink_a/l\",\"secret\":\"bench-secret-123\",\"event_types\":[\"bench.event\"]$options}")
  expect 201 "$code" "create limited endpoint"
  code=$(http_status POST "$real/v1/webhook/endpoints" "${json[@]}" \
    -H "Authorization: Bearer $token" \
    -d "{\"url\":\"$sink_b/u\",\"secret\":\"bench-secret-123\",\"event_types\":[\"bench.event\"]}")
  expect 201 "$code" "create unlimited endpoint"
  base_a=$(count_of "$sink_a")
  base_b=$(count_of "$sink_b")
  t0=$(now_ns)
  accepted=$(publish_events "$real" "$token" "$events")
  [[ $accepted =~ ^[0-9]+$ ]] || die "publishing failed: $accepted"
  # Sample until U has everything and the window of L is over.
  local lo=$((t0 + 2000000000)) hi=$((t0 + (2 + window) * 1000000000))
  while :; do
    now=$(now_ns)
    a=$(($(count_of "$sink_a") - base_a))
    b=$(($(count_of "$sink_b") - base_b))
    ((t_u == 0 && b >= accepted)) && t_u=$now
    [[ -z $a_lo && $now -ge $lo ]] && { a_lo=$a; lo=$now; }
    [[ -z $a_hi && $now -ge $hi ]] && { a_hi=$a; hi=$now; }
    ((t_u > 0)) && [[ -n $a_hi ]] && break
    (((now - t0) / 1000000000 < 300)) || die "no end after 300 s (U $b, L $a of $accepted)"
    sleep 0.1
  done
  awk -v lim="$limit" -v acc="$accepted" -v t0="$t0" -v tu="$t_u" \
    -v alo="$a_lo" -v ahi="$a_hi" -v lo="$lo" -v hi="$hi" 'BEGIN {
      printf "%d\t%d\t%.0f\t%.1f\n", lim, acc, acc / ((tu - t0) / 1e9),
        (ahi - alo) / ((hi - lo) / 1e9) }' >> "$tmp/rows.tsv"
  stop_server "$real_pid" TERM 30
}

: > "$tmp/rows.tsv"
note "baseline (both unlimited) ..."
run 0
note "L limited to $rate/s ..."
run "$rate"

report() {
  echo "## Per-endpoint rate limit: limited and unlimited endpoints of one tenant"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- command: \`$cmdline\`"
  echo "- commit: $(commit_note)"
  echo "- machine: $(machine_note)"
  echo "- $events events published per run (8 keep-alive clients), each to L (sink A) and U (sink B)"
  echo
  echo "| run | events accepted | U deliveries/s (first publish to last) | L deliveries/s over ${window} s | L vs rate_limit |"
  echo "|---|---:|---:|---:|---:|"
  awk -F '\t' -v rate="$rate" '{
      name = $1 == 0 ? "baseline: L and U unlimited" : "L rate_limit " $1
      dev = $1 == 0 ? "-" : sprintf("%+.1f%%", ($4 / rate - 1) * 100)
      l = $1 == 0 ? "- (no backlog)" : $4
      printf "| %s | %d | %s | %s | %s |\n", name, $2, $3, l, dev
    }' "$tmp/rows.tsv"
  echo
  echo "U not slowed: its deliveries/s in the limited run over the baseline's ="
  awk -F '\t' 'NR == 1 { b = $3 } NR == 2 { printf "%.2f\n", $3 / b }' "$tmp/rows.tsv"
}
if [[ -n $out ]]; then
  report | tee "$out"
else
  report
fi
