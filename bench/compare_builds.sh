#!/usr/bin/env bash
# Before/after: the existing benchmarks against two builds in the same run,
# alternating, and the ratios after / before of their headline figures.
#
# Usage: bench/compare_builds.sh --before DIR --after DIR [--rounds N]
#          [--benches "api durability delivery restart"] [--keep DIR]
#          [--api-args ARGS] [--durability-args ARGS]
#          [--delivery-args ARGS] [--restart-args ARGS] [--out FILE]
#   --before, --after  build dirs holding webhook-ingress and bench/ (each
#                      built from its own commit, e.g. in a second
#                      `git worktree`; both with WI_BUILD_BENCH=ON)
#   --rounds           runs of every bench per build, default 3
#   --benches          which benches, default all four
#   --keep DIR         keep every bench's own report there (default: temp)
#   --*-args           arguments of each bench as shell words (defaults
#                      below: shorter than the benches' own, so that three
#                      rounds fit in about 20 minutes)
#   --out FILE         also write the markdown report to FILE
#
# Every bench is this tree's script (bench/*.sh) run with --build-dir of one
# side; a flag a build lacks (the per-tenant limits of an older build) is
# left out by the bench itself (known_flags in bench/bench_lib.sh). Within a
# round each bench runs on both builds back to back, before/after in odd
# rounds and after/before in even ones, so that drift in the machine's load
# hits both alike. Headline figures (ratios each bench measures against its
# own baseline in the same run, and CPU per unit of work) are read from the
# reports; for each, after / before per round and the median of those with
# their range. Load average after each run is kept in the raw table.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=compare_builds
# shellcheck source=bench/bench_lib.sh
source "$repo/bench/bench_lib.sh"

before="" after="" rounds=3 benches="api durability delivery restart"
keep="" out=""
api_args="--duration 5 --rounds 1"
durability_args='--duration 5 --rounds 1 --connections "16 64"'
delivery_args="--duration 3"
restart_args="--endpoints 200000 --tenants 200 --rounds 1"
cmdline="bench/compare_builds.sh $*"

while (($# > 0)); do
  case "$1" in
    --before) before=${2:?}; shift 2 ;;
    --after) after=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --benches) benches=${2:?}; shift 2 ;;
    --keep) keep=${2:?}; shift 2 ;;
    --api-args) api_args=${2?}; shift 2 ;;
    --durability-args) durability_args=${2?}; shift 2 ;;
    --delivery-args) delivery_args=${2?}; shift 2 ;;
    --restart-args) restart_args=${2?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ -n $before && -n $after ]] || die "--before and --after are required"
is_count "$rounds" || die "not a positive integer: $rounds"
for b in $benches; do
  [[ -x $repo/bench/${b}_bench.sh ]] || die "no bench/${b}_bench.sh"
done
for d in "$before" "$after"; do
  [[ -f $d/CMakeCache.txt ]] || die "$d is not a build dir"
done
before=$(cd "$before" && pwd)
after=$(cd "$after" && pwd)
bench_setup
if [[ -n $keep ]]; then
  mkdir -p "$keep"
else
  keep="$tmp/reports"
  mkdir "$keep"
fi

# Source commit of a build dir (its CMAKE_HOME_DIRECTORY's HEAD).
build_commit() {
  local src
  src=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$1/CMakeCache.txt")
  echo "$(git -C "$src" rev-parse --short HEAD 2> /dev/null || echo unknown)$(
    [[ -n $(git -C "$src" status --porcelain --untracked-files=no 2> /dev/null) ]] &&
      echo ' (dirty tree)') in ${src}, $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' \
    "$1/CMakeCache.txt")"
}

# headline BENCH REPORT: "name<TAB>value" lines of the figures to compare.
headline() {
  python3 - "$1" "$2" << 'EOF'
import re, sys
bench, path = sys.argv[1], sys.argv[2]
rows = [[c.strip() for c in l.strip().strip("|").split("|")]
        for l in open(path) if l.startswith("| ") and not l.startswith("| ---")]
def num(x):
    m = re.search(r"-?[0-9]+(\.[0-9]+)?", x)
    return float(m.group(0)) if m else float("nan")
def ms(x):  # "866 us", "2.30 ms"
    return num(x) / 1000 if x.endswith("us") else num(x)
out = []
if bench == "api":
    for r in rows:
        if r[0] in ("GET real", "POST real"):
            out.append((r[0] + " / bare (ratio)", num(r[4])))
            out.append((r[0] + " req/s", num(r[1])))
            out.append((r[0] + " p99 ms", ms(r[3])))
elif bench == "durability":
    for r in rows:
        if r[0].isdigit():
            out.append(("group/baseline at %s conn" % r[0], num(r[7])))
            out.append(("group req/s at %s conn" % r[0], num(r[1])))
elif bench == "delivery":
    for r in rows:
        if len(r) == 13 and r[0].isdigit():
            out.append(("deliveries / sink at %s endpoints" % r[0], num(r[9])))
            out.append(("server CPU us/delivery at %s endpoints" % r[0], num(r[11])))
        elif r[0].endswith("connections") or r[0].endswith("connection"):
            out.append(("ingest req/s, " + r[0], num(r[1])))
elif bench == "restart":
    for r in rows:
        if r[0].startswith("WAL replay") or r[0].startswith("snapshots"):
            mode = "WAL replay" if r[0].startswith("WAL") else "snapshots"
            out.append((mode + ": restart / raw scan", num(r[7])))
            out.append((mode + ": CPU restart / raw scan", num(r[8].split("=")[-1])))
            out.append((mode + ": restart to ready s", num(r[5])))
            out.append((mode + ": all tenants decoded s", num(r[10])))
            out.append((mode + ": bytes per endpoint", num(r[15])))
if not out:
    sys.exit("no headline figures in " + path)
for k, v in out:
    print("%s\t%s" % (k, v))
EOF
}

: > "$tmp/figures.tsv" # round side bench name value
: > "$tmp/runs.tsv"    # round side bench load
for ((r = 1; r <= rounds; r++)); do
  for b in $benches; do
    order="before after"
    ((r % 2 == 0)) && order="after before"
    for side in $order; do
      dir=$before
      [[ $side == after ]] && dir=$after
      args_var="${b}_args"
      report="$keep/$b-$side-$r.md"
      note "round $r, $b, $side ..."
      bench_args=()
      eval "bench_args=(${!args_var})" # shell words, quotes allowed
      "$repo/bench/${b}_bench.sh" --build-dir "$dir" "${bench_args[@]}" \
        --out "$report" > "$tmp/$b.log" 2>&1 ||
        { tail -n 30 "$tmp/$b.log" >&2; die "$b on $side failed (round $r)"; }
      headline "$b" "$report" | sed "s/^/$r\t$side\t$b\t/" >> "$tmp/figures.tsv"
      printf '%s\t%s\t%s\t%s\n' "$r" "$side" "$b" \
        "$(cut -d' ' -f1 /proc/loadavg)" >> "$tmp/runs.tsv"
    done
  done
done

report() {
  echo "## Before/after: the benchmarks against two builds"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "- command: \`$cmdline\`"
  echo "- before: $(build_commit "$before")"
  echo "- after: $(build_commit "$after")"
  echo "- machine: $(machine_note)"
  echo "- bench arguments: api \`$api_args\`, durability \`$durability_args\`," \
    "delivery \`$delivery_args\`, restart \`$restart_args\`; $rounds rounds," \
    "before/after in odd rounds, after/before in even ones"
  echo
  echo "| bench | figure | before (each round) | after (each round) | after / before (each round) | median after / before (range) |"
  echo "|---|---|---|---|---|---:|"
  python3 - "$tmp/figures.tsv" "$rounds" << 'EOF'
import sys, statistics
path, rounds = sys.argv[1], int(sys.argv[2])
val, order = {}, []
for line in open(path):
    r, side, bench, name, v = line.rstrip("\n").split("\t")
    key = (bench, name)
    if key not in order:
        order.append(key)
    val[(bench, name, side, int(r))] = float(v)
def f(x):
    if x != x:
        return "-"
    return "%.0f" % x if abs(x) >= 100 else "%.2f" % x
for bench, name in order:
    b = [val.get((bench, name, "before", r), float("nan")) for r in range(1, rounds + 1)]
    a = [val.get((bench, name, "after", r), float("nan")) for r in range(1, rounds + 1)]
    q = [y / x for x, y in zip(b, a) if x == x and y == y and x != 0]
    med = "%.2f (%.2f-%.2f)" % (statistics.median(q), min(q), max(q)) if q else "-"
    print("| %s | %s | %s | %s | %s | %s |" % (bench, name, ", ".join(map(f, b)),
          ", ".join(map(f, a)), ", ".join("%.2f" % x for x in q), med))
EOF
  echo
  echo "after / before > 1 is better for rates and ratios to a baseline, worse"
  echo "for times, latencies, CPU and bytes. The ratios inside each bench"
  echo "(real / bare, group / baseline, deliveries / sink, restart / raw scan)"
  echo "are measured against a baseline in the same bench run and are the"
  echo "figures to trust on a busy machine; absolute rates swing with the load."
  echo
  echo "Load average (1 min) after each run:"
  echo
  echo "| round | bench | before | after |"
  echo "|---:|---|---:|---:|"
  awk -F '\t' '{ l[$1, $3, $2] = $4; if (!(($1, $3) in seen)) { seen[$1, $3] = 1; k[++n] = $1 "\t" $3 } }
    END { for (i = 1; i <= n; i++) { split(k[i], p, "\t")
      printf "| %s | %s | %s | %s |\n", p[1], p[2], l[p[1], p[2], "before"], l[p[1], p[2], "after"] } }' \
    "$tmp/runs.tsv"
  echo
  echo "Each bench's own report: $keep/<bench>-<side>-<round>.md"
}
report > "$tmp/report.md"
cat "$tmp/report.md"
if [[ -n $out ]]; then
  cp "$tmp/report.md" "$out"
fi
