#!/usr/bin/env bash
# Installs the Debian packages webhook-ingress builds and tests with.
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
)

missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
  --no-install-recommends "${missing[@]}"
