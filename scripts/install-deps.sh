#!/usr/bin/env bash
# Installs the Debian packages webhook-ingress builds and tests with, and the
# npm packages of the e2e reference verifier (tests/e2e/verifier) and of the
# dashboard's browser test (tests/browser: puppeteer-core, which drives the
# Debian chromium and downloads no browser).
# Skips apt entirely when every package is already present, so repeated
# runs cost a few dpkg look-ups.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config clang-format curl
  libcaf-dev librestinio-dev libasio-dev libhttp-parser-dev libfmt-dev
  librocksdb-dev libboost-json1.81-dev libcurl4-openssl-dev libssl-dev
  libgtest-dev libgmock-dev prometheus-cpp-dev libspdlog-dev libcli11-dev
  libtomlplusplus-dev wrk etcd-server etcd-client
  clang libclang-rt-14-dev
  chromium fonts-dejavu-core
)

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# The e2e tests run the Standard Webhooks reference verifier under Node.js
# (tests/e2e/verifier). A node that is already there (e.g. with its own npm)
# is used as is.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages, node and npm present"
else
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
fi

# The verifier's npm packages (the Standard Webhooks reference verifiers, and
# @apidevtools/swagger-parser, the OpenAPI validator of openapi_test), exactly
# as locked (only the npm registry is contacted, and only when they are not
# installed yet or the lock file changed since).
verifier="$(dirname "$0")/../tests/e2e/verifier"
if [ ! -d "$verifier/node_modules/@apidevtools/swagger-parser" ] ||
  [ "$verifier/package-lock.json" -nt "$verifier/node_modules/.package-lock.json" ]; then
  echo "install-deps: npm ci in tests/e2e/verifier"
  (cd "$verifier" && npm ci --no-audit --no-fund --loglevel=error)
fi

browser="$(dirname "$0")/../tests/browser"
if [ ! -d "$browser/node_modules" ]; then
  echo "install-deps: npm ci in tests/browser"
  (cd "$browser" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
