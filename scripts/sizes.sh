#!/bin/sh
# Lists the product's functions longer than FUNC lines (default 100) and
# files longer than FILE lines (default 900), longest first (issue 14: "no
# product function longer than about 100 lines, no file longer than about
# 900"). Product code: the libraries and the binary, not tests, benchmarks or
# third_party. Function extents come from Universal Ctags (`end:` field); a
# function's lambdas count as its own lines.
#   scripts/sizes.sh [FUNC [FILE]]
set -eu
func_limit=${1:-100}
file_limit=${2:-900}
cd "$(dirname "$0")/.."
files=$(git ls-files 'actors/*.cpp' 'actors/*.hpp' 'http/*.cpp' 'http/*.hpp' \
  'persistence/*.cpp' 'persistence/*.hpp' 'include/*.hpp' '*.cpp' '*.hpp' |
  grep -v -e '^tests/' -e '^bench/' -e '^third_party/' | sort -u)
echo "functions over $func_limit lines:"
# shellcheck disable=SC2086
# (lambdas are listed by ctags as functions of their own: left out, they
# count in the function around them.)
ctags -x --c++-kinds=f --fields=+ne --_xformat='%F %n %{end} %N' $files |
  awk -v limit="$func_limit" '$3 != "" && $4 !~ /^__anon/ {
    n = $3 - $2 + 1; name = $4; for (i = 5; i <= NF; ++i) name = name " " $i;
    if (n > limit) printf "%6d  %s:%d-%d  %s\n", n, $1, $2, $3, name }' |
  sort -rn
echo "files over $file_limit lines:"
# shellcheck disable=SC2086
wc -l $files | awk -v limit="$file_limit" '$2 != "total" && $1 > limit' |
  sort -rn
