#!/usr/bin/env bash
# Installs what is missing, builds a release binary and starts the server.
# Extra arguments go to the server (see `build-release/webhook-ingress
# --help`) and win over everything else: without them the server listens on
# 127.0.0.1:8080 with its embedded store in ./data (its own defaults, which a
# --config file or WEBHOOK_INGRESS_* variables may also change). Examples:
#   scripts/run.sh --listen 127.0.0.1:9000 --data-dir /tmp/wi
#   scripts/run.sh --listen=0.0.0.0:8080 --config webhook-ingress.toml
# WI_RUN_BINARY=<path> skips installing and building and runs that binary.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=${WI_RUN_BINARY:-}
if [ -z "$binary" ]; then
  scripts/install-deps.sh
  cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DWI_BUILD_TESTS=OFF -DWI_BUILD_BENCH=OFF >/dev/null
  cmake --build build-release --target webhook-ingress -j "$(nproc)"
  binary=build-release/webhook-ingress
fi

# Where it will listen and store, as the server resolves the arguments (an
# invalid argument is reported by the server itself below).
effective=$("$binary" "$@" --print-config 2>/dev/null || true)
value_of() {
  sed -n "s/^$1 = \"\\(.*\\)\".*/\\1/p" <<<"$effective" | head -n 1
}
listen=$(value_of listen)
data_dir=$(value_of data-dir)

cat <<MSG

Starting webhook-ingress on http://${listen:-127.0.0.1:8080} (data in ${data_dir:-./data}).
On the first start it prints an admin token once. Get a tenant token with:
  curl -s -X POST http://${listen:-127.0.0.1:8080}/admin/v1/tenants \\
    -H 'Authorization: Bearer <admin token>' -d '{"name":"acme"}'
The answer's data.token is the tenant's bearer token for /v1/webhook/...
Stop with Ctrl-C.

MSG
exec "$binary" "$@"
