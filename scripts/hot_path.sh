#!/usr/bin/env bash
# The instructions one call of a case of benches/instructions.rs executes,
# with how many times each runs per call: callgrind's per-instruction
# counts of N calls, the instructions run at least N times, disassembled.
# Diff two cases to see what a layer adds (issue 23's floors):
#
#   scripts/hot_path.sh awaited_direct > /tmp/direct.txt
#   scripts/hot_path.sh awaited_timeout_runtime > /tmp/timeout.txt
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-100000}
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install -y valgrind)" >&2; exit 1; }
[ $# -eq 1 ] || { echo "usage: scripts/hot_path.sh <case>" >&2; exit 2; }
. scripts/instructions_bin.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$tmp/out" "$bin" "$1" "$n" >/dev/null 2>"$tmp/log"
python3 - "$tmp/out" "$bin" "$n" <<'PY'
import collections, re, signal, subprocess, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends the listing quietly
path, binary, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
counts = collections.Counter()
addr, after_call = 0, False
# `positions: instr line`: each cost line is "<address> <line> <Ir>", the
# address absolute (0x…), relative (+k, -k) or the same (*); the line
# after a `calls=` line is the call's inclusive cost, not the instruction's.
for line in open(path):
    if line.startswith("calls="):
        after_call = True
        continue
    m = re.match(r"^(0x[0-9a-f]+|[+-]\d+|\*)\s+\S+\s+(\d+)", line)
    if not m:
        continue
    p = m.group(1)
    if p.startswith("0x"):
        addr = int(p, 16)
    elif p != "*":
        addr += int(p)
    if after_call:
        after_call = False
        continue
    counts[addr] += int(m.group(2))
hot = {a for a, c in counts.items() if c >= n}
print(f"{sum(counts[a] for a in hot) / n:.1f} instructions per call in {len(hot)} hot addresses")
asm = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", f"--start-address={min(hot)}",
                      f"--stop-address={max(hot) + 16}", binary], capture_output=True, text=True).stdout
for l in asm.splitlines():
    m = re.match(r"\s*([0-9a-f]+):\s*(.*)", l)
    if m and int(m.group(1), 16) in hot:
        print(f"{counts[int(m.group(1), 16)] / n:5.1f}  {m.group(1)}  {m.group(2)}")
PY
