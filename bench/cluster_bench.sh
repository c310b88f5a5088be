#!/usr/bin/env bash
# Cluster benchmark (issue 15): GET through a non-owner node against GET on
# the owner, same run; time from kill -9 of a node until the others answer
# 503 TENANT_UNAVAILABLE for its tenants and until its member key leaves
# their view.
#
# Usage: bench/cluster_bench.sh [--build-dir DIR] [--nodes N] [--duration S]
#                               [--connections N] [--rounds N]
#                               [--kills N] [--ttls "2 5"]
#                               [--skip-forward] [--skip-kill]
#                               [--perf DIR] [--out FILE]
#   --build-dir    build dir, default <repo>/build-bench (configured Release
#                  with -DWI_BUILD_TESTS=OFF if it has no CMakeCache.txt)
#   --nodes        webhook-ingress nodes, 2 or 3, default 3
#   --duration     seconds of each wrk run, default 10
#   --connections  wrk connections (-c), default 50 (as bench/api_bench.sh)
#   --rounds       measured runs per side (owner, non-owner), default 3
#   --kills        kill -9 repetitions per lease TTL, default 5
#   --ttls         lease TTLs (seconds) of the kill part, default "2 5"
#   --skip-forward / --skip-kill  leave one part out
#   --perf DIR     after the measured rounds, one more run per side (not in
#                  the table) under `perf record -F 999` of node 1 and node
#                  2; profiles in DIR/<side>-node<i>.data (read them with
#                  `perf report -i FILE --sort comm,dso`)
#   --out FILE     also write the markdown report to FILE
#
# Everything on 127.0.0.1: one etcd (free ports, temp dir) and N nodes
# (--peer-listen 127.0.0.1:0, fresh data dirs, the same admin token).
#
# Part 1, forwarding. One tenant created through node 1 and owned by it (new
# tenants go to their rendezvous owner: created until one lands there) with
# one endpoint; once every node's placement
# map knows it, `wrk -t2 -c<N> -d<S>s --latency` GETs that endpoint
# (GET /v1/webhook/endpoints/<id>, the tenant's token) on the owner and on
# node 2, which forwards each request to the owner through the peer layer
# (CAF remote actors) and returns its answer. Runs alternate owner/non-owner,
# then non-owner/owner (ABBA). ratio = non-owner req/s over owner req/s of
# the same round; the median of those ratios is the figure to track (issue
# 15 aims at >= 0.5). The load average is read after each round.
#
# Part 2, kill -9. For each TTL: N fresh nodes with --lease-ttl TTL, one
# tenant created through node 1 (the victim). Each repetition: a Python
# poller with keep-alive connections to every other node sends SIGKILL to
# the victim, then every ~10 ms GETs the tenant's endpoint through each
# survivor and reads each survivor's GET /admin/v1/cluster, and records
#   unavailable  kill -> the first 503 with code TENANT_UNAVAILABLE and a
#                Retry-After header, on every survivor (the slowest)
#   member gone  kill -> the victim's id missing from every survivor's
#                members (its lease expired and the watch told them)
# then the victim restarts on its data dir with the same node id, and the
# next repetition waits until the tenant answers 200 through every survivor
# again ("serving again" = restart -> that point). min / median / max.
#
# Like every script in bench/: not a test, never run by CI.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=cluster_bench
# shellcheck source=bench/bench_lib.sh
source "$repo/bench/bench_lib.sh"

build_dir="$repo/build-bench"
nodes=3
duration=10
connections=50
rounds=3
kills=5
ttls="2 5"
do_forward=1
do_kill=1
perf_dir=""
out=""
cmdline="bench/cluster_bench.sh $*"

while (($# > 0)); do
  case "$1" in
    --build-dir) build_dir=${2:?}; shift 2 ;;
    --nodes) nodes=${2:?}; shift 2 ;;
    --duration) duration=${2:?}; shift 2 ;;
    --connections) connections=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --kills) kills=${2:?}; shift 2 ;;
    --ttls) ttls=${2:?}; shift 2 ;;
    --skip-forward) do_forward=0; shift ;;
    --skip-kill) do_kill=0; shift ;;
    --perf) perf_dir=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
for n in "$duration" "$connections" "$rounds" "$kills" $ttls; do
  is_count "$n" || die "not a positive integer: $n"
done
[[ $nodes == 2 || $nodes == 3 ]] || die "--nodes must be 2 or 3"
for t in $ttls; do ((t >= 2 && t <= 60)) || die "a lease TTL is 2 to 60 s: $t"; done
for tool in wrk curl python3 etcd; do
  command -v "$tool" > /dev/null || die "$tool not found (etcd: scripts/install-deps.sh)"
done
[[ $build_dir = /* ]] || build_dir="$PWD/$build_dir"

ensure_build "$build_dir" webhook-ingress
bin="$build_dir/webhook-ingress"
bench_setup
admin=bench-admin-token

# -- etcd ---------------------------------------------------------------------

# shellcheck disable=SC2046 # three ports, split on purpose
start_etcd wi-bench "$tmp" $(free_ports 3) || die "etcd did not become healthy"

# -- nodes --------------------------------------------------------------------

# Per node i (1..nodes) of the current cluster: node_pid[i], node_url[i],
# node_id[i], node_dir[i], node_ttl.
node_pid=() node_url=() node_id=() node_dir=()
node_ttl=5

# start_node I: starts node I on its data dir (kept over restarts), waits for
# /readyz 200.
start_node() {
  local i=$1
  mkdir -p "${node_dir[$i]}"
  start_server "${node_id[$i]}" "webhook-ingress listening on" "$bin" \
    --listen 127.0.0.1:0 --data-dir "${node_dir[$i]}" --admin-token "$admin" \
    --etcd "$etcd_url" --node-id "${node_id[$i]}" \
    --peer-listen 127.0.0.1:0 --lease-ttl "${node_ttl}s"
  node_pid[i]=$server_pid
  node_url[i]="http://127.0.0.1:$port"
  wait_ready "${node_url[$i]}" 60
}

# start_cluster PREFIX TTL: N fresh nodes PREFIX-1..N with lease TTL; waits
# until node 1 sees all of them as members.
start_cluster() {
  local prefix=$1 i
  node_ttl=$2
  for ((i = 1; i <= nodes; i++)); do
    node_id[i]="$prefix-$i"
    node_dir[i]="$tmp/$prefix-$i"
    start_node "$i"
  done
  wait_members "${node_url[1]}" "$nodes" 30
}

# stop_cluster: SIGTERM every node (it revokes its lease), bounded.
stop_cluster() {
  local i
  for ((i = 1; i <= nodes; i++)); do
    stop_server "${node_pid[$i]}" TERM 20
  done
}

# members BASE: the member ids in BASE's GET /admin/v1/cluster, one a line.
members() {
  curl -sf --max-time 5 -H "Authorization: Bearer $admin" "$1/admin/v1/cluster" |
    python3 -c 'import json, sys
for m in json.load(sys.stdin)["data"]["members"]: print(m["id"])' || true
}

# wait_members BASE COUNT TIMEOUT_S: until BASE sees COUNT members.
wait_members() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    (($(members "$1" | wc -l) == $2)) && return 0
    sleep 0.1
  done
  die "$1 did not see $2 members within $3 s"
}

# make_tenant BASE: creates tenants through BASE until one is owned by node 1
# (a new tenant goes to its rendezvous owner among the active members, 1 in
# N), then one endpoint of it; sets `token` and `endpoint_path`.
make_tenant() {
  local code tries
  for ((tries = 0; tries < 200; tries++)); do
    code=$(http_status POST "$1/admin/v1/tenants" "${json[@]}" \
      -H "Authorization: Bearer $admin" -d '{"name":"bench"}')
    expect 201 "$code" "create tenant"
    [[ $(json_get data.owner) == "${node_id[1]}" ]] && break
    sleep 0.05 # node 1 may not be active yet
  done
  [[ $(json_get data.owner) == "${node_id[1]}" ]] ||
    die "no tenant landed on ${node_id[1]} in $tries creates"
  token=$(json_get data.token)
  code=$(http_status POST "$1/v1/webhook/endpoints" "${json[@]}" \
    -H "Authorization: Bearer $token" -d "$create_body")
  expect 201 "$code" "create endpoint"
  endpoint_path="/v1/webhook/endpoints/$(json_get data.identifier)"
}

# wait_serving BASE TIMEOUT_S: until GET endpoint_path through BASE is 200
# (the node's placement map knows the tenant and its owner answers).
wait_serving() {
  local i code
  for ((i = 0; i < $2 * 20; i++)); do
    code=$(http_status GET "$1$endpoint_path" -H "Authorization: Bearer $token")
    [[ $code == 200 ]] && return 0
    sleep 0.05
  done
  die "GET $endpoint_path through $1 not 200 within $2 s (last: $code)"
}

loadavg() {
  cut -d' ' -f1 /proc/loadavg
}

# -- part 1: GET on the owner vs through a non-owner --------------------------

forward_part() {
  start_cluster fwd 5
  make_tenant "${node_url[1]}"
  local i
  for ((i = 2; i <= nodes; i++)); do wait_serving "${node_url[$i]}" 30; done
  local owner=${node_url[1]} other=${node_url[2]} r side base
  local wrk_args=(-t2 -c"$connections" -d"${duration}s" --latency
    -H "Authorization: Bearer $token")
  # Warm-up, not reported: connections, the forwarder's peer connection.
  for base in "$owner" "$other"; do
    wrk -t2 -c"$connections" -d2s -H "Authorization: Bearer $token" \
      "$base$endpoint_path" > /dev/null
  done
  : > "$tmp/forward.tsv"
  for ((r = 1; r <= rounds; r++)); do
    local order="owner non-owner"
    ((r % 2 == 0)) && order="non-owner owner"
    for side in $order; do
      base=$owner
      [[ $side == non-owner ]] && base=$other
      note "round $r, GET on the $side ..."
      local cpu1 cpu2 summary requests
      cpu1=$(cpu_seconds "${node_pid[1]}")
      cpu2=$(cpu_seconds "${node_pid[2]}")
      wrk "${wrk_args[@]}" "$base$endpoint_path" > "$tmp/wrk.log"
      cpu1=$(awk -v a="$cpu1" -v b="$(cpu_seconds "${node_pid[1]}")" 'BEGIN { print b - a }')
      cpu2=$(awk -v a="$cpu2" -v b="$(cpu_seconds "${node_pid[2]}")" 'BEGIN { print b - a }')
      summary=$(wrk_summary "$tmp/wrk.log" "$r $side") ||
        { cat "$tmp/wrk.log" >&2; die "cannot parse wrk output"; }
      requests=$(awk '$2 == "requests" && $3 == "in" { print $1 }' "$tmp/wrk.log")
      # "ROUND SIDE, req/s, p50, p99, errors, load, requests, CPU s of node
      # 1 (the owner) and of node 2 during the run", tab-separated
      printf '%s\t%s\t%s\t%s\t%s\n' "$summary" "$(loadavg)" "$requests" \
        "$cpu1" "$cpu2" >> "$tmp/forward.tsv"
    done
  done
  if [[ -n $perf_dir ]]; then
    command -v perf > /dev/null || die "perf not found (Debian: linux-perf)"
    mkdir -p "$perf_dir"
    for side in owner non-owner; do
      base=$owner
      [[ $side == non-owner ]] && base=$other
      note "profile run, GET on the $side ..."
      local perf_pids=()
      for i in 1 2; do
        perf record -q -F 999 -p "${node_pid[$i]}" -o "$perf_dir/$side-node$i.data" \
          -- sleep "$duration" > "$perf_dir/$side-node$i.log" 2>&1 &
        perf_pids+=($!)
      done
      wrk "${wrk_args[@]}" "$base$endpoint_path" > "$perf_dir/$side.wrk"
      wait "${perf_pids[@]}" || note "warning: perf record failed (see $perf_dir/*.log)"
    done
  fi
  # What the forwarding node itself counted (forwarded requests by outcome).
  curl -sf -H "Authorization: Bearer $admin" "$other/metrics" | grep -E '^webhook_ingress_(cluster_)?forward' \
    > "$tmp/forward-metrics.txt" || true
  stop_cluster
}

forward_report() {
  echo "### GET on the owner vs through a non-owner"
  echo
  echo "- each run: \`wrk -t2 -c$connections -d${duration}s --latency" \
    "-H 'Authorization: Bearer <token>' <node>/v1/webhook/endpoints/<id>\`;" \
    "$nodes nodes, the tenant owned by node 1; non-owner = node 2, which" \
    "forwards every request to node 1; $rounds rounds, ABBA order"
  echo
  echo "| round | owner req/s | owner p50 | owner p99 | non-owner req/s | non-owner p50 | non-owner p99 | non-owner / owner | CPU us/request on the owner | CPU us/request through the non-owner (node 2 + node 1) | errors | load avg after the round |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk -F '\t' '
    function latency(x) {
      return x < 1 ? sprintf("%.0f us", x * 1000) : sprintf("%.2f ms", x)
    }
    function median(list,    a, n, i, j, t) {
      n = split(list, a, " ")
      for (i = 2; i <= n; i++)
        for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
          t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
        }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    {
      split($1, k, " "); r = k[1]; s = k[2]
      rps[r, s] = $2; p50[r, s] = $3; p99[r, s] = $4; err[r] += $5
      load[r] = $6; if (r > n) n = r
      cpu[r, s] = ($8 + $9) * 1e6 / $7; c1[r, s] = $8 * 1e6 / $7
      c2[r, s] = $9 * 1e6 / $7; all_cpu[s] = all_cpu[s] " " cpu[r, s]
      all_rps[s] = all_rps[s] " " $2; all_p50[s] = all_p50[s] " " $3
      all_p99[s] = all_p99[s] " " $4
    }
    END {
      for (r = 1; r <= n; r++) {
        ratio[r] = rps[r, "non-owner"] / rps[r, "owner"]
        ratios = ratios " " ratio[r]
        printf "| %d | %.0f | %s | %s | %.0f | %s | %s | %.2f | %.1f | %.1f (%.1f + %.1f) | %d | %s |\n", r,
          rps[r, "owner"], latency(p50[r, "owner"]), latency(p99[r, "owner"]),
          rps[r, "non-owner"], latency(p50[r, "non-owner"]),
          latency(p99[r, "non-owner"]), ratio[r], cpu[r, "owner"],
          cpu[r, "non-owner"], c2[r, "non-owner"], c1[r, "non-owner"], err[r],
          load[r]
      }
      split(ratios, a, " "); lo = hi = a[1]
      for (i in a) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
      printf "| median | %.0f | %s | %s | %.0f | %s | %s | **%.2f** (%.2f-%.2f) | %.1f | %.1f | | |\n",
        median(all_rps["owner"]), latency(median(all_p50["owner"])),
        latency(median(all_p99["owner"])), median(all_rps["non-owner"]),
        latency(median(all_p50["non-owner"])),
        latency(median(all_p99["non-owner"])), median(ratios), lo, hi,
        median(all_cpu["owner"]), median(all_cpu["non-owner"])
    }' "$tmp/forward.tsv"
  echo
  echo "non-owner / owner = req/s through node 2 over req/s on node 1 in the"
  echo "same round (issue 15 aims at >= 0.5); median row: medians over the"
  echo "rounds, the range of the ratios in brackets. CPU us/request = user +"
  echo "system CPU of node 1 and node 2 during the run over the requests wrk"
  echo "completed (less sensitive to a busy machine than the rates). errors ="
  echo "non-2xx answers plus socket errors over both runs of the round."
  if [[ -s $tmp/forward-metrics.txt ]]; then
    echo
    echo "Forwarded requests counted by node 2 at the end (its /metrics):"
    echo
    echo '```'
    grep -v -e "_bucket{" -e "^#" "$tmp/forward-metrics.txt"
    echo '```'
  fi
}

# -- part 2: kill -9 -> 503, member key gone ----------------------------------

# poll_kill VICTIM_PID VICTIM_ID SURVIVOR_URL...: kills, polls, prints
# "unavailable_ms=X member_gone_ms=Y first_503_ms=Z other=S" (X, Y: the
# slowest survivor; Z: the fastest; S: other statuses seen, e.g. "none").
poll_kill() {
  python3 - "$admin" "$token" "$endpoint_path" "$node_ttl" "$@" << 'EOF'
import http.client, json, os, signal, sys, time, urllib.parse
admin, token, path, ttl = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
pid, victim, survivors = int(sys.argv[5]), sys.argv[6], sys.argv[7:]

conns = {}
def request(base, path, auth):
    """GET on a keep-alive connection (reopened after any error)."""
    for attempt in range(2):
        c = conns.get(base)
        if c is None:
            u = urllib.parse.urlsplit(base)
            c = conns[base] = http.client.HTTPConnection(u.hostname, u.port, timeout=15)
        try:
            c.request("GET", path, headers={"Authorization": "Bearer " + auth})
            r = c.getresponse()
            return r.status, r.read(), r.getheader("Retry-After")
        except (OSError, http.client.HTTPException):
            c.close()
            conns.pop(base, None)
            if attempt:
                raise

def unavailable(base):
    status, body, retry_after = request(base, path, token)
    if status == 200:
        return False, None
    if status == 503 and retry_after:
        if json.loads(body)["error"]["code"] == "TENANT_UNAVAILABLE":
            return True, None
    return False, status

def gone(base):
    status, body, _ = request(base, "/admin/v1/cluster", admin)
    if status != 200:
        return False
    return victim not in [m["id"] for m in json.loads(body)["data"]["members"]]

for s in survivors:  # connections open, tenant served, victim a member
    assert unavailable(s) == (False, None), s
    assert not gone(s), s
unavail, left, other = {}, {}, set()
t0 = time.perf_counter()
os.kill(pid, signal.SIGKILL)
deadline = t0 + ttl + 15
tick = t0
while (len(unavail) < len(survivors) or len(left) < len(survivors)) \
        and time.perf_counter() < deadline:
    for s in survivors:
        if s not in unavail:
            u, st = unavailable(s)
            if u:
                unavail[s] = time.perf_counter() - t0
            elif st is not None:
                other.add(st)
        if s not in left and gone(s):
            left[s] = time.perf_counter() - t0
    tick += 0.010
    time.sleep(max(0.0, tick - time.perf_counter()))
if len(unavail) < len(survivors) or len(left) < len(survivors):
    sys.exit("poll_kill: not every survivor saw the kill within TTL + 15 s")
print("unavailable_ms=%.1f member_gone_ms=%.1f first_503_ms=%.1f other=%s" % (
    max(unavail.values()) * 1000, max(left.values()) * 1000,
    min(unavail.values()) * 1000,
    ",".join(str(x) for x in sorted(other)) or "none"))
EOF
}

kill_part() {
  local ttl rep i line
  : > "$tmp/kill.tsv"
  for ttl in $ttls; do
    start_cluster "ttl$ttl" "$ttl"
    make_tenant "${node_url[1]}"
    for ((rep = 1; rep <= kills; rep++)); do
      local survivors=()
      for ((i = 2; i <= nodes; i++)); do
        wait_serving "${node_url[$i]}" 60
        survivors+=("${node_url[$i]}")
      done
      note "TTL ${ttl}s, kill $rep ..."
      line=$(poll_kill "${node_pid[1]}" "${node_id[1]}" "${survivors[@]}")
      # The poller sent the SIGKILL; reap the victim.
      wait "${node_pid[1]}" 2> /dev/null || true
      forget_pid "${node_pid[1]}"
      # Back on its data dir with the same id; time until served again.
      local t_restart
      t_restart=$(now_ns)
      start_node 1
      for ((i = 2; i <= nodes; i++)); do wait_serving "${node_url[$i]}" 60; done
      local back_ms
      back_ms=$(awk -v a="$t_restart" -v b="$(now_ns)" \
        'BEGIN { printf "%.0f", (b - a) / 1e6 }')
      # "TTL REP unavailable gone first_503 other serving_again load"
      echo "$ttl $rep $(sed 's/[a-z_0-9]*=//g' <<< "$line") $back_ms $(loadavg)" \
        >> "$tmp/kill.tsv"
    done
    stop_cluster
  done
}

kill_report() {
  echo "### kill -9 of a node: 503 TENANT_UNAVAILABLE and member key gone"
  echo
  echo "- $nodes nodes per TTL, the victim (node 1) owns the tenant; the other" \
    "$((nodes - 1)) polled every ~10 ms on keep-alive connections from the" \
    "SIGKILL on; $kills kills per TTL, the victim restarted on its data dir" \
    "in between"
  echo
  echo "| lease TTL | kill -> 503 on every survivor (min / median / max) | kill -> 503 on the first survivor (median) | kill -> member key gone from every survivor's view (min / median / max) | gone - TTL (median) | restart -> served again through the others (median) | other statuses seen | load avg |"
  echo "|---:|---|---:|---|---:|---:|---|---|"
  local ttl
  for ttl in $ttls; do
    awk -v ttl="$ttl" '
      function med(a, n,    i, j, t) {
        for (i = 2; i <= n; i++)
          for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
            t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
          }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      }
      function mm(a, n,    i, lo, hi) {
        lo = hi = a[1]
        for (i = 2; i <= n; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i] }
        return sprintf("%s / %s / %s", fmt(lo), fmt(med(a, n)), fmt(hi))
      }
      function fmt(ms) {
        return ms < 1000 ? sprintf("%.0f ms", ms) : sprintf("%.2f s", ms / 1000)
      }
      $1 == ttl {
        n++; u[n] = $3; g[n] = $4; f[n] = $5; b[n] = $7; gt[n] = $4 - ttl * 1000
        if ($6 != "none") other[$6] = 1
        loads = loads (loads == "" ? "" : ", ") $8
      }
      END {
        o = ""; for (k in other) o = o (o == "" ? "" : ", ") k
        printf "| %d s | %s | %s | %s | %s | %s | %s | %s |\n", ttl, mm(u, n),
          fmt(med(f, n)), mm(g, n), fmt(med(gt, n)), fmt(med(b, n)),
          o == "" ? "none" : o, loads
      }' "$tmp/kill.tsv"
  done
  echo
  echo "Each kill: (TTL, repetition, ms to 503 on every survivor, ms to the"
  echo "key gone, ms to the first 503, other statuses, ms restart -> served"
  echo "again, load average):"
  echo
  echo '```'
  cat "$tmp/kill.tsv"
  echo '```'
}

((do_forward)) && forward_part
((do_kill)) && kill_part

report() {
  echo "## Cluster benchmark"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- command: \`$cmdline\`"
  echo "- commit: $(commit_note)"
  echo "- machine: $(machine_note)"
  echo "- binary: ${bin#"$repo"/} ($(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' \
    "$build_dir/CMakeCache.txt")); etcd $(etcd --version | sed -n 's/^etcd Version: //p')," \
    "one member on loopback"
  echo
  ((do_forward)) && forward_report && echo
  ((do_kill)) && kill_report
  return 0
}
report > "$tmp/report.md"
cat "$tmp/report.md"
if [[ -n $out ]]; then
  cp "$tmp/report.md" "$out"
fi
