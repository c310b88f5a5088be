#!/usr/bin/env bash
# Planned-move crash soak (issue 15): the cluster crash test
# (tests/cluster/move_test.cpp, a_move_killed_at_any_step_leaves_one_owner_with_all_data)
# with many rounds, each killing a random side of a move at a random step
# through the test-only fault hook WEBHOOK_INGRESS_TEST_CRASH_AT, restarting
# it and checking one owner in etcd, no copy on the other node and every
# acknowledged write readable through both nodes.
#
# Usage: bench/move_soak.sh [--build-dir DIR] [--rounds N] [--seed S]
#   --build-dir  a build with tests, default <repo>/build
#   --rounds     kills, default 50 (about 6 s each)
#   --seed       the random seed (printed when not given, to repeat a run)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$repo/build"
rounds=50
seed=""
while (($# > 0)); do
  case "$1" in
    --build-dir) build_dir=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --seed) seed=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "move_soak: unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "move_soak: bad --rounds" >&2; exit 2; }
cmake --build "$build_dir" --target cluster_e2e_tests webhook-ingress >&2
export WI_MOVE_SOAK_ROUNDS=$rounds
[[ -z $seed ]] || export WI_MOVE_SOAK_SEED=$seed
export WI_SERVER_BINARY="$build_dir/webhook-ingress"
export WI_SOURCE_DIR="$repo"
exec "$build_dir/tests/cluster_e2e_tests" \
  --gtest_filter='move_test.a_move_killed_at_any_step_leaves_one_owner_with_all_data'
