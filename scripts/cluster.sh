#!/usr/bin/env bash
# Starts a local cluster on 127.0.0.1: one etcd and N webhook-ingress nodes
# (default 3), each with its own data directory under $WI_CLUSTER_DIR
# (default ./cluster-data; kept between runs, so a second run restarts the
# same nodes). Prints every address and the shared admin token, then waits;
# Ctrl-C stops everything. See docs/cluster.md.
#
#   scripts/cluster.sh [N] [extra webhook-ingress flags...]
#
# Environment: WI_BINARY (default: build-release/webhook-ingress, built if
# missing), WI_CLUSTER_DIR, WI_BASE_PORT (default 18080: node i listens on
# BASE+i, its peer port is BASE+100+i, etcd uses BASE+200..202),
# WI_LEASE_TTL (default 5s), WI_ADMIN_TOKEN (default: generated and kept in
# the cluster directory).
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-3}
[ $# -gt 0 ] && shift
if ! [[ "$n" =~ ^[1-9][0-9]?$ ]]; then
  echo "usage: scripts/cluster.sh [N (1-99)] [webhook-ingress flags...]" >&2
  exit 2
fi
dir=${WI_CLUSTER_DIR:-./cluster-data}
base=${WI_BASE_PORT:-18080}
ttl=${WI_LEASE_TTL:-5s}
binary=${WI_BINARY:-build-release/webhook-ingress}
command -v etcd >/dev/null || { echo "etcd not found: run scripts/install-deps.sh" >&2; exit 1; }

if [ ! -x "$binary" ]; then
  cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DWI_BUILD_TESTS=OFF -DWI_BUILD_BENCH=OFF >/dev/null
  cmake --build build-release --target webhook-ingress -j "$(nproc)"
  binary=build-release/webhook-ingress
fi

mkdir -p "$dir"
token=${WI_ADMIN_TOKEN:-}
if [ -z "$token" ]; then
  [ -f "$dir/admin-token" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/admin-token"
  token=$(cat "$dir/admin-token")
fi

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

# shellcheck source=bench/bench_lib.sh
source bench/bench_lib.sh
start_etcd wi-etcd "$dir" $((base + 200)) $((base + 201)) $((base + 202)) ||
  { echo "etcd did not start; see $dir/etcd.log" >&2; exit 1; }

for i in $(seq 1 "$n"); do
  "$binary" --listen "127.0.0.1:$((base + i))" --data-dir "$dir/node-$i" \
    --node-id "node-$i" --admin-token "$token" --etcd "$etcd_url" \
    --peer-listen "127.0.0.1:$((base + 100 + i))" --lease-ttl "$ttl" "$@" \
    >"$dir/node-$i.log" 2>&1 &
  pids+=($!)
done
for i in $(seq 1 "$n"); do
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$((base + i))/readyz" >/dev/null && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:$((base + i))/readyz" >/dev/null ||
    { echo "node-$i did not become ready; see $dir/node-$i.log" >&2; exit 1; }
done

echo "etcd:        $etcd_url  (log $dir/etcd.log)"
for i in $(seq 1 "$n"); do
  echo "node-$i:      http://127.0.0.1:$((base + i))  peer 127.0.0.1:$((base + 100 + i))  (data $dir/node-$i, log $dir/node-$i.log)"
done
echo "admin token: $token"
echo
echo "Try:"
echo "  curl -s -H 'Authorization: Bearer $token' http://127.0.0.1:$((base + 1))/admin/v1/cluster"
echo "  curl -s -X POST -H 'Authorization: Bearer $token' -d '{\"name\":\"acme\"}' http://127.0.0.1:$((base + 1))/admin/v1/tenants"
echo "Ctrl-C stops the cluster (data is kept in $dir)."
wait -n "${pids[@]}" || true
echo "a process ended; stopping the cluster" >&2
