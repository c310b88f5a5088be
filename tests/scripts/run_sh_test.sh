#!/usr/bin/env bash
# scripts/run.sh passes the user's arguments to the server and adds no
# --listen / --data-dir of its own: the user's values (either form, or from
# the environment) win, the server's defaults apply otherwise. Runs the real
# binary ($WI_SERVER_BINARY) with --print-config, which exits at once.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
: "${WI_SERVER_BINARY:?set WI_SERVER_BINARY (ctest does)}"
while IFS= read -r name; do unset "$name"; done \
  < <(env | sed -n 's/^\(WEBHOOK_INGRESS_[A-Z_]*\)=.*/\1/p')

failures=0
# check "<expected listen line>" "<expected data-dir line>" [env...] -- args...
check() {
  local want_listen=$1 want_data=$2
  shift 2
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  local out
  if ! out=$(env "${envs[@]}" WI_RUN_BINARY="$WI_SERVER_BINARY" \
        "$root/scripts/run.sh" "$@" --print-config 2>&1); then
    echo "FAIL: run.sh $* exited non-zero:"; echo "$out"
    failures=$((failures + 1)); return
  fi
  local got_listen got_data
  got_listen=$(grep '^listen = ' <<<"$out" || true)
  got_data=$(grep '^data-dir = ' <<<"$out" || true)
  if [ "$got_listen" != "$want_listen" ] || [ "$got_data" != "$want_data" ]; then
    echo "FAIL: run.sh $*"
    echo "  listen:   got '$got_listen', want '$want_listen'"
    echo "  data-dir: got '$got_data', want '$want_data'"
    failures=$((failures + 1))
  else
    echo "ok: run.sh $*"
  fi
}

check 'listen = "127.0.0.1:8080"' 'data-dir = "./data"' --
check 'listen = "127.0.0.1:9000"  # flag' 'data-dir = "./data"' \
  -- --listen 127.0.0.1:9000
check 'listen = "127.0.0.1:8080"' 'data-dir = "/tmp/wi-run-x"  # flag' \
  -- --data-dir /tmp/wi-run-x
check 'listen = "127.0.0.1:9001"  # flag' 'data-dir = "/tmp/wi-run-y"  # flag' \
  -- --listen=127.0.0.1:9001 --data-dir=/tmp/wi-run-y
check 'listen = "127.0.0.1:9002"  # env' 'data-dir = "./data"' \
  WEBHOOK_INGRESS_LISTEN=127.0.0.1:9002 --
check 'listen = "127.0.0.1:9003"  # flag' 'data-dir = "./data"' \
  WEBHOOK_INGRESS_LISTEN=127.0.0.1:9002 -- --listen 127.0.0.1:9003

[ "$failures" -eq 0 ]
