#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite twice:
# once optimized, once under AddressSanitizer + UBSan; then builds the
# libFuzzer targets with clang and fuzzes each for a few seconds. Also checks
# that every C++ file is clang-formatted. Exits non-zero on the first failure.
#
# WI_SKIP_SANITIZE=1 skips the sanitizer pass, WI_SKIP_FUZZ=1 the fuzz stage
# (for a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
jobs=$(nproc)

echo "== clang-format check"
git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run -Werror

echo "== build (RelWithDebInfo, -Werror)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWI_WERROR=ON >/dev/null
cmake --build build -j "$jobs"

echo "== tests"
(cd build && ctest --output-on-failure -j "$jobs" --timeout 300)

if [ "${WI_SKIP_SANITIZE:-0}" != 1 ]; then
  echo "== build (ASan + UBSan)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DWI_SANITIZE=ON -DWI_WERROR=ON -DWI_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j "$jobs"
  echo "== tests (ASan + UBSan)"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j "$jobs" --timeout 600)
fi

# A stage of its own rather than a ctest label of the builds above: libFuzzer
# needs clang (the two passes use the default g++), and its tree compiles only
# the few sources the targets exercise. ctest -L fuzz replays the committed
# inputs (seeds and the inputs of fixed crashes), then fuzzes each target for
# WI_FUZZ_SECONDS (6: about 40 s of fuzzing in all, -j halves the wall time).
if [ "${WI_SKIP_FUZZ:-0}" != 1 ]; then
  echo "== build (libFuzzer, clang)"
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DWI_FUZZ=ON -DWI_WERROR=ON \
    -Dwi_fuzz_seconds="${WI_FUZZ_SECONDS:-6}" >/dev/null
  cmake --build build-fuzz -j "$jobs"
  echo "== fuzz (short runs)"
  (cd build-fuzz && ctest --output-on-failure -j "$jobs" -L fuzz --timeout 120)
fi
