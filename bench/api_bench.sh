#!/usr/bin/env bash
# API benchmark: webhook-ingress against a bare RESTinio baseline, same run.
#
# Usage: bench/api_bench.sh [--build-dir DIR] [--duration SECONDS]
#                           [--connections N] [--threads N] [--rounds N]
#                           [--out FILE] [--bare-only]
#   --build-dir    Release build dir, default <repo>/build-bench (configured
#                  with -DCMAKE_BUILD_TYPE=Release -DWI_BUILD_TESTS=OFF if
#                  it has no CMakeCache.txt)
#   --duration     seconds of each wrk run, default 10
#   --connections  wrk connections (-c), default 50
#   --threads      wrk threads (-t), default 2
#   --rounds       measured runs per scenario, default 2 (8 wrk runs in all)
#   --out FILE     also write the markdown report to FILE
#   --bare-only    skip the real server (to check the harness itself)
#
# What it measures, all on 127.0.0.1:
#   GET  /v1/webhook/endpoints/<id>  one endpoint read (real: actor round trip)
#   POST /v1/webhook/endpoints       create (real: durable, a synced write)
# each against webhook-ingress ("real") and bench_bare_server ("bare": the
# same framework and JSON work, no actors, storage or auth). Runs alternate
# bare/real, then real/bare (ABBA) so that drift in the machine's load hits
# both sides alike; every figure in the table is the median over the rounds.
# Absolute numbers are not comparable between machines or runs; the ratio
# "real / bare" measured in the same run is the figure to track.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$repo/build-bench"
duration=10
connections=50
threads=2
rounds=2
out=""
bare_only=0
cmdline="bench/api_bench.sh $*"

die() {
  echo "api_bench: $*" >&2
  exit 1
}

while (($# > 0)); do
  case "$1" in
    --build-dir) build_dir=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --connections) connections=${2:?}; shift 2 ;;
    --threads) threads=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --bare-only) bare_only=1; shift ;;
    -h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
for n in "$duration" "$connections" "$threads" "$rounds"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "not a positive integer: $n"
done
command -v wrk > /dev/null || die "wrk not found"
command -v curl > /dev/null || die "curl not found"
[[ $build_dir = /* ]] || build_dir="$PWD/$build_dir"

# -- build ----------------------------------------------------------------

if [[ ! -f $build_dir/CMakeCache.txt ]]; then
  cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DWI_BUILD_TESTS=OFF -DWI_BUILD_BENCH=ON > /dev/null
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
[[ $build_type == Release ]] ||
  echo "api_bench: warning: $build_dir is a '$build_type' build, not Release" >&2
targets=(bench_bare_server)
((bare_only)) || targets+=(webhook-ingress)
cmake --build "$build_dir" --target "${targets[@]}" >&2
bare_bin="$build_dir/bench/bench_bare_server"
real_bin="$build_dir/webhook-ingress"

# -- servers ----------------------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/api_bench.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2> /dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2> /dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME PATTERN CMD...: starts CMD with its output in $tmp/NAME.log
# and sets $port once a line "PATTERN http://127.0.0.1:PORT" appears.
start_server() {
  local name=$1 pattern=$2
  shift 2
  # The log exists before the first look below: the child's redirection may
  # come later on a busy machine (sed then failed and ended the script).
  : > "$tmp/$name.log"
  "$@" > "$tmp/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  port=""
  for _ in $(seq 300); do
    port=$(sed -n "s|.*$pattern http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p" \
      "$tmp/$name.log" | head -n 1)
    [[ -n $port ]] && return 0
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.1
  done
  tail -n 20 "$tmp/$name.log" >&2
  die "$name did not report its port"
}

# http_status METHOD URL [curl args...]: prints the status, body to $tmp/body.
http_status() {
  local method=$1 url=$2
  shift 2
  curl -sS -o "$tmp/body" -w '%{http_code}' -X "$method" "$@" "$url" || true
}

# json_get PATH: reads a dotted path (e.g. data.token) from $tmp/body.
json_get() {
  if command -v jq > /dev/null; then
    jq -er ".$1" "$tmp/body"
  else
    python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v = v[k]
print(v)' "$tmp/body" "$1"
  fi
}

expect() { # expect WANT GOT WHAT
  [[ $2 == "$1" ]] && return 0
  cat "$tmp/body" >&2 2> /dev/null || true
  echo >&2
  die "$3: HTTP $2, expected $1"
}

post_body='{"url":"https://example.com/hook","secret":"bench-secret-123","event_types":["user.created"]}'
json=(-H 'Content-Type: application/json')

start_server bare "bare listening on" "$bare_bin" --listen 127.0.0.1:0 --threads 2
bare="http://127.0.0.1:$port"
token=bench-no-token
endpoint_id=1
if ((!bare_only)); then
  # The per-tenant limits are lifted where the binary has them; a build
  # older than the limits (the "before" of bench/compare_builds.sh) has none.
  limit_flags=()
  if [[ $("$real_bin" --help 2>&1 || true) == *--tenant-publish-rate* ]]; then
    limit_flags=(--tenant-publish-rate 0 --tenant-max-endpoints 0)
  fi
  mkdir "$tmp/data"
  start_server real "webhook-ingress listening on" "$real_bin" \
    --listen 127.0.0.1:0 --data-dir "$tmp/data" --admin-token bench-admin-token \
    "${limit_flags[@]}" # not the per-tenant limits
  real="http://127.0.0.1:$port"
  for i in $(seq 300); do
    [[ $(http_status GET "$real/readyz") == 200 ]] && break
    ((i < 300)) || die "webhook-ingress: /readyz never answered 200"
    sleep 0.1
  done
  code=$(http_status POST "$real/admin/v1/tenants" "${json[@]}" \
    -H 'Authorization: Bearer bench-admin-token' -d '{"name":"bench"}')
  expect 201 "$code" "create tenant"
  token=$(json_get data.token)
  code=$(http_status POST "$real/v1/webhook/endpoints" "${json[@]}" \
    -H "Authorization: Bearer $token" -d "$post_body")
  expect 201 "$code" "create endpoint"
  endpoint_id=$(json_get data.identifier)
  code=$(http_status GET "$real/v1/webhook/endpoints/$endpoint_id" \
    -H "Authorization: Bearer $token")
  expect 200 "$code" "get endpoint (real)"
fi
code=$(http_status GET "$bare/v1/webhook/endpoints/$endpoint_id")
expect 200 "$code" "get endpoint (bare)"
code=$(http_status POST "$bare/v1/webhook/endpoints" "${json[@]}" -d "$post_body")
expect 201 "$code" "create endpoint (bare)"

# -- measurements ---------------------------------------------------------

export WI_BENCH_TOKEN=$token
get_path="/v1/webhook/endpoints/$endpoint_id"
post_path="/v1/webhook/endpoints"
wrk_args=(-t"$threads" -c"$connections" -d"${duration}s" --latency)

# measure SCENARIO BASE_URL KIND: one wrk run; appends to $tmp/results.tsv the
# line "SCENARIO req/s p50_ms p99_ms errors" (errors: non-2xx/3xx answers plus
# socket errors; a non-zero count makes the row suspect).
measure() {
  local scenario=$1 base=$2 kind=$3 log="$tmp/wrk.log"
  echo "api_bench: $scenario ..." >&2
  if [[ $kind == get ]]; then
    wrk "${wrk_args[@]}" -H "Authorization: Bearer $token" \
      "$base$get_path" > "$log"
  else
    wrk "${wrk_args[@]}" -s "$repo/bench/post_endpoint.lua" \
      "$base$post_path" > "$log"
  fi
  awk -v scenario="$scenario" '
    # wrk prints times as 512.00us, 1.20ms, 1.00s or 2.00m: convert to ms.
    function ms(x) {
      if (x ~ /us$/) return x / 1000
      if (x ~ /ms$/) return x + 0
      if (x ~ /m$/) return x * 60000
      if (x ~ /s$/) return x * 1000
      return x + 0
    }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { errors += $NF }
    /Socket errors:/ {
      gsub(",", ""); errors += $4 + $6 + $8 + $10
    }
    END {
      if (rps == "") exit 1
      printf "%s\t%s\t%.3f\t%.3f\t%d\n", scenario, rps, p50, p99, errors
    }' "$log" >> "$tmp/results.tsv" || { cat "$log" >&2; die "cannot parse wrk output"; }
}

: > "$tmp/results.tsv"
# Warm-up, not reported: first connections, allocator and caches.
for side in bare real; do
  ((bare_only)) && [[ $side == real ]] && continue
  base=$bare
  [[ $side == real ]] && base=$real
  wrk -t"$threads" -c"$connections" -d2s -H "Authorization: Bearer $token" \
    "$base$get_path" > /dev/null
done
for kind in get post; do
  for ((r = 1; r <= rounds; r++)); do
    order="bare real"
    ((r % 2 == 0)) && order="real bare"
    for side in $order; do
      ((bare_only)) && [[ $side == real ]] && continue
      base=$bare
      [[ $side == real ]] && base=$real
      measure "${kind^^} $side" "$base" "$kind"
    done
  done
done

# -- report -----------------------------------------------------------------

report() {
  echo "## API benchmark: webhook-ingress vs bare RESTinio"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- command: \`$cmdline\`"
  echo "- commit: $(git -C "$repo" rev-parse --short HEAD 2> /dev/null || echo unknown)$(
    [[ -n $(git -C "$repo" status --porcelain 2> /dev/null) ]] && echo ' (dirty tree)')"
  echo "- machine: $(nproc) cores, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- each run: \`wrk ${wrk_args[*]}\` on 127.0.0.1; $rounds runs per" \
    "scenario, alternating bare/real; servers: real ${real_bin#"$repo"/}" \
    "(fresh data dir), bare ${bare_bin#"$repo"/} --threads 2"
  echo
  echo "| scenario | req/s | p50 | p99 | ratio vs bare | req/s of each run | errors |"
  echo "|---|---:|---:|---:|---:|---|---:|"
  awk -F '\t' '
    function median(list,    a, n, i, j, t) {
      n = split(list, a, " ")
      for (i = 2; i <= n; i++)   # insertion sort: n is tiny
        for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
          t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
        }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function latency(x) {
      return x < 1 ? sprintf("%.0f us", x * 1000) : sprintf("%.2f ms", x)
    }
    {
      if (!($1 in rps)) order[++n] = $1
      rps[$1] = rps[$1] " " $2; p50[$1] = p50[$1] " " $3
      p99[$1] = p99[$1] " " $4; errors[$1] += $5
      runs[$1] = runs[$1] (runs[$1] == "" ? "" : ", ") sprintf("%.0f", $2)
    }
    END {
      for (i = 1; i <= n; i++) {
        s = order[i]; base = s; sub(/ real$/, " bare", base)
        ratio = "-"
        if (s != base && (base in rps))
          ratio = sprintf("%.2f", median(rps[s]) / median(rps[base]))
        printf "| %s | %.0f | %s | %s | %s | %s | %d |\n", s, median(rps[s]),
          latency(median(p50[s])), latency(median(p99[s])), ratio, runs[s],
          errors[s]
      }
    }' "$tmp/results.tsv"
  echo
  echo "req/s, p50 and p99 are medians over the runs; ratio = real req/s over"
  echo "bare req/s of this run (1.00 = no overhead over the framework). GET real"
  echo "adds auth and an actor round trip; POST real adds validation and waits"
  echo "for a synced (durable, group-committed) WAL write before it answers, so"
  echo "its ratio is expected to be low."
  echo "errors = non-2xx answers plus socket errors summed over the runs."
}
report > "$tmp/report.md"
cat "$tmp/report.md"
if [[ -n $out ]]; then
  cp "$tmp/report.md" "$out"
fi
