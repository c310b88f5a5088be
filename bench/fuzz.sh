#!/usr/bin/env bash
# Long libFuzzer runs of tests/fuzz (see docs/fuzzing.md). Builds the clang
# fuzz tree (build-fuzz) if needed, then runs each target in turn (-j1, under
# `nice`) for SECONDS seconds from the committed seeds, keeping what it
# learns in build-fuzz/corpus/<target>. Prints one line per target with the
# executions and the outcome; crash inputs land in build-fuzz/crashes/.
#
#   bench/fuzz.sh [SECONDS [TARGET...]]     default: 300 s, every target
#
# Exits non-zero if any target found a crash, a leak or a timeout.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-300}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(validation json_codec record_codec snapshot_codec token config)
fi

export CCACHE_DIR=${CCACHE_DIR:-/work/.ccache}
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DWI_FUZZ=ON -DWI_WERROR=ON "${launcher[@]}" \
  >/dev/null
cmake --build build-fuzz -j "$(nproc)" >/dev/null

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t
  crashes=build-fuzz/crashes/$t/
  log=build-fuzz/fuzz-$t.log
  mkdir -p "$corpus" "$crashes"
  rc=0
  nice -n 19 "build-fuzz/tests/fuzz/fuzz_$t" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$crashes" "$corpus" "tests/fuzz/corpus/$t" \
    "tests/fuzz/regressions/$t" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  outcome=ok
  if [ "$rc" -ne 0 ]; then
    outcome="FAILED (exit $rc, see $log and $crashes)"
    status=1
  fi
  printf '%-15s %5ss %12s executions  cov %-6s corpus %-5s %s\n' "$t" \
    "$seconds" "${runs:-?}" "${cov:-?}" "$(ls "$corpus" | wc -l)" "$outcome"
done
exit $status
