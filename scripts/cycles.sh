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
cargo bench --bench instructions --no-run >/dev/null 2>&1 || cargo bench --bench instructions --no-run
bin=$(cargo bench --bench instructions --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "instructions" and m.get("executable"):
        print(m["executable"])')
cases=("$@")
[ ${#cases[@]} -gt 0 ] || mapfile -t cases < <("$bin")
printf '%-40s %s\n' "case" "ns/call (fastest run)"
for case in "${cases[@]}"; do
    "$bin" time "$case" "$n"
done
