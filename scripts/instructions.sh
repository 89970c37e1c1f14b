#!/usr/bin/env bash
# Instructions per call of each hot path, counted by callgrind: repeatable
# on a shared machine where wall-clock benches drift. For each case of
# benches/instructions.rs, runs N and 2N calls and prints (I(2N) - I(N)) / N.
#
#   scripts/instructions.sh [case …]        (default: every case)
#   N=200000 scripts/instructions.sh retry_macro
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-100000}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install -y valgrind)" >&2; exit 1; }
. scripts/instructions_bin.sh
cases=("$@")
[ ${#cases[@]} -gt 0 ] || mapfile -t cases < <("$bin")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$bin" "$1" "$2" >/dev/null 2>"$tmp/log"
    grep -oP '(?<=Collected : )\d+' "$tmp/log"
}
printf '%-40s %s\n' "case" "instructions/call"
for case in "${cases[@]}"; do
    one=$(count "$case" "$n")
    two=$(count "$case" $((2 * n)))
    python3 -c "print('%-40s %.1f' % ('$case', ($two - $one) / $n))"
done
