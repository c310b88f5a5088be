#!/usr/bin/env bash
# Planned move benchmark (issue 15): time and bytes of moving one tenant with
# 1k, 10k and 100k endpoints from one node to another, on 127.0.0.1 (one
# etcd, two webhook-ingress nodes, lease TTL 2 s).
#
# Usage: bench/move_bench.sh [--build-dir DIR] [--sizes "1000 10000 100000"]
#                            [--rounds N] [--out FILE]
#   --build-dir  Release build dir, default <repo>/build-bench (configured
#                Release without tests if it has no CMakeCache.txt)
#   --sizes      endpoint counts, default "1000 10000 100000"
#   --rounds     moves per size (a -> b, then b -> a, ...), default 3
#   --out FILE   also write the markdown report to FILE
#
# For each size a fresh tenant gets that many endpoints (16 concurrent
# clients), then moves back and forth `--rounds` times through
# `POST /admin/v1/tenants/{id}/move`. Figures per size: the median wall time
# from the POST to the old owner counting the move `done` (polled every
# 5 ms), the old owner's own duration (histogram sum delta: first etcd read
# to release) and the bytes shipped (`webhook_ingress_cluster_move_bytes_total`
# delta). After the last move the new owner must list every endpoint.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=move_bench
# shellcheck source=bench/bench_lib.sh
source "$repo/bench/bench_lib.sh"

build_dir="$repo/build-bench"
sizes="1000 10000 100000"
rounds=3
out=""
cmdline="bench/move_bench.sh $*"
while (($# > 0)); do
  case "$1" in
    --build-dir) build_dir=${2:?}; shift 2 ;;
    --sizes) sizes=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
is_count "$rounds" || die "not a positive integer: $rounds"
for s in $sizes; do is_count "$s" || die "not a positive integer: $s"; done
command -v etcd > /dev/null || die "etcd not found: run scripts/install-deps.sh"
[[ $build_dir = /* ]] || build_dir="$PWD/$build_dir"
ensure_build "$build_dir" webhook-ingress
bin="$build_dir/webhook-ingress"
bench_setup

# -- etcd and two nodes --------------------------------------------------------

# shellcheck disable=SC2046 # three ports, split on purpose
start_etcd bench "$tmp" $(free_ports 3) || die "etcd did not become healthy"

admin=bench-admin-$RANDOM$RANDOM
declare -A base
for n in a b; do
  start_server "node-$n" "webhook-ingress listening on" "$bin" \
    --listen 127.0.0.1:0 --data-dir "$tmp/data-$n" --admin-token "$admin" \
    --etcd "$etcd_url" --lease-ttl 2s --peer-listen 127.0.0.1:0 \
    --node-id "$n" --tenant-max-endpoints 0 --log-level warn
  base[$n]=http://127.0.0.1:$port
  wait_ready "${base[$n]}" 30
done
auth=(-H "Authorization: Bearer $admin")

# metric NODE NAME: the value of an unlabelled (or fully written) sample.
metric() {
  curl -s "${auth[@]}" "${base[$1]}/metrics" |
    awk -v m="$2" '$1 == m { print $2; exit }'
}

moves_done() {
  curl -s "${auth[@]}" "${base[$1]}/admin/v1/cluster" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["moves"]["done"])'
}

# create_endpoints BASE TOKEN COUNT
create_endpoints() {
  python3 - "$1" "$2" "$3" << 'EOF'
import http.client, json, sys, threading, urllib.parse
base, token, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
url = urllib.parse.urlsplit(base)
errors = []
body = json.dumps({"url": "https://example.com/hook", "secret": "bench-secret-123",
                   "event_types": ["a.b"], "description": "x" * 40})
def work(n):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    for _ in range(n):
        conn.request("POST", "/v1/webhook/endpoints", body=body,
                     headers={"Authorization": "Bearer " + token,
                              "Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        if r.status != 201:
            errors.append("HTTP %d %s" % (r.status, data[:200]))
            return
k = 16
threads = [threading.Thread(target=work, args=(count // k + (1 if i < count % k else 0),))
           for i in range(k)]
for t in threads: t.start()
for t in threads: t.join()
if errors:
    sys.exit("create_endpoints: " + "; ".join(errors[:3]))
EOF
}

listed_total() { # listed_total NODE TOKEN
  curl -s -H "Authorization: Bearer $2" \
    "${base[$1]}/v1/webhook/endpoints/list?page=1&pageSize=1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["pagination"]["total_items"])' 2> /dev/null ||
    echo "?"
}

rows=()
for size in $sizes; do
  code=$(http_status POST "${base[a]}/admin/v1/tenants" "${auth[@]}" "${json[@]}" \
    -d "{\"name\":\"move-$size\"}")
  expect 201 "$code" "create tenant"
  tenant=$(json_get data.id)
  token=$(json_get data.token)
  started=$(now_ns)
  create_endpoints "${base[a]}" "$token" "$size"
  note "$size endpoints created in $(awk -v a="$started" -v b="$(now_ns)" 'BEGIN{printf "%.1f", (b-a)/1e9}') s"
  sleep 1 # the placement claim reaches etcd
  from=a to=b
  walls=() owns=() bytes=()
  for ((r = 0; r < rounds; r++)); do
    before_done=$(moves_done "$from")
    before_bytes=$(metric "$from" webhook_ingress_cluster_move_bytes_total)
    before_sum=$(metric "$from" webhook_ingress_cluster_move_duration_seconds_sum)
    t0=$(now_ns)
    code=$(http_status POST "${base[$from]}/admin/v1/tenants/$tenant/move" \
      "${auth[@]}" "${json[@]}" -d "{\"to\":\"$to\"}")
    expect 202 "$code" "move $from -> $to"
    for _ in $(seq 12000); do
      [[ $(moves_done "$from") -gt $before_done ]] && break
      sleep 0.005
    done
    t1=$(now_ns)
    [[ $(moves_done "$from") -gt $before_done ]] || die "move $from -> $to did not finish within 60 s"
    after_bytes=$(metric "$from" webhook_ingress_cluster_move_bytes_total)
    after_sum=$(metric "$from" webhook_ingress_cluster_move_duration_seconds_sum)
    walls+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')")
    owns+=("$(awk -v a="$before_sum" -v b="$after_sum" 'BEGIN{printf "%.3f", b-a}')")
    bytes+=("$((after_bytes - before_bytes))")
    note "size $size round $((r + 1)): $from -> $to wall ${walls[-1]} s, owner ${owns[-1]} s, ${bytes[-1]} bytes"
    tmpn=$from from=$to to=$tmpn
  done
  total=$(listed_total "$from" "$token")
  [[ $total == "$size" ]] || die "after the moves $from lists $total endpoints, expected $size"
  rows+=("| $size | $(median "${walls[@]}") | $(median "${owns[@]}") | $(awk -v b="$(median "${bytes[@]}")" 'BEGIN{printf "%.1f", b/1048576}') | $rounds |")
done

report=$(
  echo "Planned moves ($(machine_note)), $(commit_note)"
  echo
  echo "| endpoints | move, POST to done (s, median) | old owner's duration (s, median) | bytes shipped (MiB) | moves |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Command: \`$cmdline\`"
)
echo "$report"
[[ -z $out ]] || echo "$report" > "$out"
