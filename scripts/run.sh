#!/usr/bin/env bash
# Installs what is missing, builds a release binary and starts the server on
# 127.0.0.1:8080 with its embedded store in ./data. Extra arguments go to the
# server (see `build-release/webhook-ingress --help`).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DWI_BUILD_TESTS=OFF -DWI_BUILD_BENCH=OFF >/dev/null
cmake --build build-release --target webhook-ingress -j "$(nproc)"

cat <<'MSG'

Starting webhook-ingress on http://127.0.0.1:8080 (data in ./data).
On the first start it prints an admin token once. Get a tenant token with:
  curl -s -X POST http://127.0.0.1:8080/admin/v1/tenants \
    -H 'Authorization: Bearer <admin token>' -d '{"name":"acme"}'
The answer's data.token is the tenant's bearer token for /v1/webhook/...
Stop with Ctrl-C.

MSG
exec build-release/webhook-ingress --listen 127.0.0.1:8080 --data-dir ./data "$@"
