# shellcheck shell=bash disable=SC2034,SC2154
# Helpers shared by the benches in bench/ and by scripts/cluster.sh (sourced,
# not run). The same habits as
# bench/api_bench.sh: servers on 127.0.0.1 port 0 with their output in a temp
# dir, bounded waits, a trap that kills what was started and removes the
# temp dir, medians over rounds, ratios measured in the same run.
#
# The sourcing script sets `bench_name` (prefix of messages) and `repo`
# before it sources this file, then calls `bench_setup`.

die() {
  echo "$bench_name: $*" >&2
  exit 1
}

note() {
  echo "$bench_name: $*" >&2
}

# is_count X: true if X is a positive decimal integer.
is_count() {
  [[ $1 =~ ^[1-9][0-9]*$ ]]
}

# bench_setup: makes $tmp and installs the traps. Every pid appended to
# `pids` is killed (SIGKILL: temp data is thrown away anyway) and reaped on
# exit, whatever the reason of the exit.
bench_setup() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/$bench_name.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -KILL "$pid" 2> /dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2> /dev/null || true
  done
  rm -rf "$tmp"
}

# free_ports N: prints N free TCP ports of 127.0.0.1, space-separated (held
# open together while chosen, so they differ).
free_ports() {
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])' "$1"
}

# start_etcd NAME DIR CLIENT PEER METRICS: starts a single-member etcd named
# NAME on 127.0.0.1 (those ports; data in DIR/etcd, log in DIR/etcd.log),
# appends its pid to `pids`, sets `etcd_url`, and waits up to 15 s for it to
# report healthy; returns 1 with the log's tail on stderr if it does not.
# The one copy: scripts/cluster.sh and the cluster benches use it.
start_etcd() {
  local name=$1 dir=$2 client=$3 peer=$4 metrics=$5 _
  etcd_url=http://127.0.0.1:$client
  etcd --name "$name" --data-dir "$dir/etcd" \
    --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://127.0.0.1:$peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$name=http://127.0.0.1:$peer" \
    --listen-metrics-urls "http://127.0.0.1:$metrics" \
    --log-level warn > "$dir/etcd.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 150); do
    curl -sf "$etcd_url/health" 2> /dev/null | grep -q '"health":"true"' &&
      return 0
    sleep 0.1
  done
  tail -n 20 "$dir/etcd.log" >&2
  return 1
}

# forget_pid PID: drops PID from `pids` (after it was reaped).
forget_pid() {
  local kept=() p
  for p in "${pids[@]}"; do
    [[ $p == "$1" ]] || kept+=("$p")
  done
  pids=("${kept[@]}")
}

# known_flags BIN FLAG VALUE [FLAG VALUE...]: prints, one a line, each FLAG
# and its VALUE that BIN's --help lists, and drops the others. The benches
# lift the per-tenant limits with it: a build older than the limits (the
# "before" of bench/compare_builds.sh) has no such flags and nothing to lift.
known_flags() {
  local bin=$1 help
  shift
  help=$("$bin" --help 2>&1 || true)
  while (($# >= 2)); do
    if grep -q -e "$1[ =]" <<< "$help"; then
      printf '%s\n%s\n' "$1" "$2"
    fi
    shift 2
  done
  return 0
}

# ensure_build BUILD_DIR TARGET...: configures BUILD_DIR (Release, no tests)
# if it has no cache, warns if it is not Release, builds the targets.
ensure_build() {
  local dir=$1
  shift
  if [[ ! -f $dir/CMakeCache.txt ]]; then
    cmake -S "$repo" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DWI_BUILD_TESTS=OFF -DWI_BUILD_BENCH=ON > /dev/null
  fi
  local build_type
  build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$dir/CMakeCache.txt")
  [[ $build_type == Release ]] ||
    note "warning: $dir is a '$build_type' build, not Release"
  cmake --build "$dir" --target "$@" >&2
}

# now_ns: monotonic-enough wall clock in nanoseconds.
now_ns() {
  date +%s%N
}

# start_server NAME PATTERN CMD...: starts CMD with its output in
# $tmp/NAME.log; sets `server_pid`, `server_started_ns` (just before the
# exec) and `port` once a line "PATTERN http://127.0.0.1:PORT" appears
# (30 s at most).
start_server() {
  local name=$1 pattern=$2
  shift 2
  : > "$tmp/$name.log" # exists before the first look below
  server_started_ns=$(now_ns)
  "$@" > "$tmp/$name.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  port=""
  for _ in $(seq 300); do
    port=$(sed -n "s|.*$pattern http://127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p" \
      "$tmp/$name.log" | head -n 1)
    [[ -n $port ]] && return 0
    kill -0 "$server_pid" 2> /dev/null || break
    sleep 0.1
  done
  tail -n 20 "$tmp/$name.log" >&2
  die "$name did not report its port"
}

# wait_ready BASE_URL TIMEOUT_S: polls BASE_URL/readyz every 20 ms until it
# answers 200; sets `ready_seconds` to the time since `server_started_ns`.
wait_ready() {
  local base=$1 timeout_s=$2 deadline code
  deadline=$(($(now_ns) + timeout_s * 1000000000))
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" || true)
    if [[ $code == 200 ]]; then
      ready_seconds=$(awk -v a="$server_started_ns" -v b="$(now_ns)" \
        'BEGIN { printf "%.3f", (b - a) / 1e9 }')
      return 0
    fi
    kill -0 "$server_pid" 2> /dev/null || die "server exited before ready"
    (($(now_ns) < deadline)) || die "/readyz not 200 within ${timeout_s}s"
    sleep 0.02
  done
}

# stop_server PID SIGNAL TIMEOUT_S: sends SIGNAL, waits (bounded) for the
# exit, reaps; sets `server_status` to the exit status.
stop_server() {
  local pid=$1 sig=$2 timeout_s=$3 i forced=0
  server_status=0
  # stderr off: bash would report "Killed" for a job it reaps here.
  {
    kill -"$sig" "$pid" || true
    for ((i = 0; i < timeout_s * 10; i++)); do
      kill -0 "$pid" || break
      sleep 0.1
    done
    if kill -0 "$pid"; then
      forced=1
      kill -KILL "$pid" || true
    fi
    wait "$pid" || server_status=$?
  } 2> /dev/null
  ((forced == 0)) || note "pid $pid still ran ${timeout_s}s after SIG$sig: SIGKILL"
  forget_pid "$pid"
}

# cpu_seconds PID: user + system CPU seconds PID has used so far.
cpu_seconds() {
  sed 's/^.*) //' "/proc/$1/stat" |
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }'
}

# dir_breakdown DIR: "total KiB, of which RocksDB logs (*.log) KiB and
# tables (*.sst) KiB", from du.
dir_breakdown() {
  local total logs ssts
  total=$(du -sk "$1" | cut -f1)
  logs=$(find "$1" -maxdepth 1 -name '*.log' -exec du -ck {} + | tail -n 1 | cut -f1)
  ssts=$(find "$1" -maxdepth 1 -name '*.sst' -exec du -ck {} + | tail -n 1 | cut -f1)
  awk -v t="$total" -v l="${logs:-0}" -v s="${ssts:-0}" 'BEGIN {
    printf "%.1f MiB (RocksDB logs %.1f MiB, tables %.1f MiB)", t / 1024,
      l / 1024, s / 1024 }'
}

# rss_kib PID: VmRSS of PID in KiB.
rss_kib() {
  awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status"
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

json=(-H 'Content-Type: application/json')
create_body='{"url":"https://example.com/hook","secret":"bench-secret-123","event_types":["a.b"]}'

# create_tenants BASE ADMIN_TOKEN COUNT FILE: registers COUNT tenants named
# bench-1..COUNT (16 concurrent keep-alive clients) and writes their bearer
# tokens to FILE, one a line.
create_tenants() {
  python3 - "$1" "$2" "$3" "$4" << 'EOF'
import http.client, json, sys, threading, urllib.parse
base, admin, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
url = urllib.parse.urlsplit(base)
tokens = [None] * count
errors = []
def work(start, step):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    for i in range(start, count, step):
        conn.request("POST", "/admin/v1/tenants",
                     body=json.dumps({"name": "bench-%d" % (i + 1)}),
                     headers={"Authorization": "Bearer " + admin,
                              "Content-Type": "application/json"})
        r = conn.getresponse()
        body = r.read()
        if r.status != 201:
            errors.append("tenant %d: HTTP %d %s" % (i + 1, r.status, body[:200]))
            return
        tokens[i] = json.loads(body)["data"]["token"]
step = min(16, count)
threads = [threading.Thread(target=work, args=(s, step)) for s in range(step)]
for t in threads: t.start()
for t in threads: t.join()
if errors or any(t is None for t in tokens):
    sys.exit("create_tenants: " + "; ".join(errors[:3]))
with open(out, "w") as f:
    f.write("\n".join(tokens) + "\n")
EOF
}

# touch_tenants BASE_URL TOKENS_FILE: one GET of each tenant's endpoint list
# (pageSize=1), so that every tenant's actor runs and its state is decoded.
# First one request to the first tenant alone, then the same again (its
# actor now runs), then every other tenant over 4 connections. Prints
# "first_ms=X again_ms=Y" (latency of those two requests); dies on any
# answer but 200.
touch_tenants() {
  python3 - "$1" "$2" << 'EOF'
import http.client, sys, threading, time, urllib.parse
base, path = sys.argv[1], sys.argv[2]
url = urllib.parse.urlsplit(base)
tokens = [l.strip() for l in open(path) if l.strip()]
errors = []
def get(conn, token):
    conn.request("GET", "/v1/webhook/endpoints/list?pageSize=1",
                 headers={"Authorization": "Bearer " + token})
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        errors.append("HTTP %d" % r.status)
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
lat = []
for _ in range(2):
    t0 = time.perf_counter()
    get(conn, tokens[0])
    lat.append((time.perf_counter() - t0) * 1000)
def work(part):
    c = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    for t in part:
        get(c, t)
threads = [threading.Thread(target=work, args=(tokens[1 + i::4],))
           for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
if errors:
    sys.exit("touch_tenants: %d failed, e.g. %s" % (len(errors), errors[0]))
print("first_ms=%.1f again_ms=%.1f" % (lat[0], lat[1]))
EOF
}

# wrk_summary LOG SCENARIO: prints "SCENARIO<TAB>req/s<TAB>p50_ms<TAB>p99_ms
# <TAB>errors" from a `wrk --latency` log (errors: non-2xx/3xx answers plus
# socket errors).
wrk_summary() {
  awk -v scenario="$2" '
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
    }' "$1"
}

# run_mutations BASE PATH MODE TARGETS TOTAL CONNECTIONS THREADS MAX_S:
# sends exactly TOTAL mutations with wrk and bench/rotate.lua (MODE create:
# POST PATH rotating over the tokens in TARGETS; MODE toggle: PUT
# PATH/<id>/disable|enable rotating over the "token id" lines of TARGETS),
# then stops wrk. Sets `mutation_seconds`, `mutations_ok`,
# `mutation_errors`; wrk's output is in $tmp/mutations.log.
run_mutations() {
  local base=$1 path=$2 mode=$3 targets=$4 total=$5 conns=$6 threads=$7
  local max_s=$8 done_dir="$tmp/rotate.done" wrk_pid started
  rm -rf "$done_dir"
  mkdir "$done_dir"
  started=$(now_ns)
  WI_BENCH_MODE=$mode WI_BENCH_TARGETS=$targets WI_BENCH_TOTAL=$total \
    WI_BENCH_THREADS=$threads WI_BENCH_DONE_DIR=$done_dir \
    wrk -t"$threads" -c"$conns" -d"${max_s}s" --timeout 30s \
    -s "$repo/bench/rotate.lua" "$base$path" > "$tmp/mutations.log" 2>&1 &
  wrk_pid=$!
  pids+=("$wrk_pid")
  # Each wrk thread stops itself after its share is answered and leaves a
  # marker; wrk itself only ends at -d or on SIGINT, which makes it print
  # its summary. Answers lost to socket errors never come: once every share
  # is sent, wait at most 35 s (wrk's --timeout is 30 s) for the rest.
  local all_sent_ns=""
  while :; do
    (($(find "$done_dir" -name 'done.*' | wc -l) >= threads)) && break
    kill -0 "$wrk_pid" 2> /dev/null || break
    if [[ -z $all_sent_ns ]]; then
      (($(find "$done_dir" -name 'sent.*' | wc -l) >= threads)) &&
        all_sent_ns=$(now_ns)
    elif (($(now_ns) - all_sent_ns > 35000000000)); then
      note "warning: some mutations were never answered (see wrk's errors)"
      break
    fi
    sleep 0.2
  done
  mutation_seconds=$(awk -v a="$started" -v b="$(now_ns)" \
    'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  kill -INT "$wrk_pid" 2> /dev/null || true
  wait "$wrk_pid" 2> /dev/null || true
  forget_pid "$wrk_pid"
  mutations_ok=$(sed -n 's/^mutations_ok=//p' "$tmp/mutations.log")
  mutation_errors=$(sed -n 's/^mutation_errors=//p' "$tmp/mutations.log")
  if [[ -z $mutations_ok ]]; then
    cat "$tmp/mutations.log" >&2
    die "wrk ended without a mutation count"
  fi
}

# median: the median of the numbers given as arguments.
median() {
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 }
    END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# machine_note: one line on the machine and its load.
machine_note() {
  echo "$(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo |
    head -n 1)), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# commit_note: short commit of $repo, plus "(dirty tree)" if it has changes.
commit_note() {
  echo "$(git -C "$repo" rev-parse --short HEAD 2> /dev/null || echo unknown)$(
    [[ -n $(git -C "$repo" status --porcelain 2> /dev/null) ]] &&
      echo ' (dirty tree)')"
}
