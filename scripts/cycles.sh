#!/usr/bin/env bash
# Wall-clock nanoseconds per call of each case of benches/instructions.rs,
# the fastest of REPS (200) runs each (`instructions time`): on a shared machine
# the fastest run is the one no other process interrupted. Hardware
# counters (`perf stat -e cycles`) are not available in this VM; this is
# the next best thing. Compare cases of one invocation, not across runs.
#
#   scripts/cycles.sh [case …]           (default: every case)
#   N=50000 REPS=400 scripts/cycles.sh awaited_direct awaited_bulkhead_macro
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-50000}
. scripts/instructions_bin.sh
cases=("$@")
[ ${#cases[@]} -gt 0 ] || mapfile -t cases < <("$bin")
printf '%-40s %s\n' "case" "ns/call (fastest run)"
for case in "${cases[@]}"; do
    "$bin" time "$case" "$n"
done
