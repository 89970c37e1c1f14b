#!/usr/bin/env bash
# The instructions one call of a case executes, in two builds of
# benches/instructions.rs, side by side (issue 23): where a hot path grew.
# Runs each binary under callgrind with per-instruction counts, keeps the
# instructions executed at least once per call, disassembles them, and
# diffs the two listings with stack offsets and registers masked (so a
# changed frame or register choice shows as one line, not the whole
# function).
#
#   scripts/instructions_diff.sh <case> <old binary> <new binary>
#
# The binaries: copies of target/release/deps/instructions-* taken after
# `cargo bench --bench instructions --no-run` on each commit (the path is
# the same for both, so copy the first before building the second).
set -euo pipefail
[[ $# -eq 3 ]] || { sed -n 2,13p "$0"; exit 2; }
case=$1 old=$2 new=$3 n=${N:-100000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for side in old new; do
    bin=${!side}
    valgrind --tool=callgrind --dump-instr=yes --compress-pos=no --compress-strings=no \
        --callgrind-out-file="$tmp/$side.out" "$bin" "$case" "$n" >/dev/null 2>&1
    python3 - "$tmp/$side.out" "$bin" "$n" >"$tmp/$side.txt" <<'PY'
import collections, re, subprocess, sys
out, binary, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
counts = collections.Counter()
function, after_call = None, False
for line in open(out):
    if line.startswith("fn="):
        function = line[3:].strip()
    elif line.startswith("calls="):
        after_call = True  # the next cost line is the callee's, inclusive
    else:
        m = re.match(r"^(0x[0-9a-f]+)\s+\d+\s+(\d+)$", line.strip())
        if m:
            if not after_call:
                counts[(function, int(m.group(1), 16))] += int(m.group(2))
            after_call = False
hot = sorted((a, c, f) for (f, a), c in counts.items() if c >= n)
code = {}
listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", binary],
                         capture_output=True, text=True).stdout
for l in listing.splitlines():
    m = re.match(r"^\s*([0-9a-f]+):\s+(.*)$", l)
    if m:
        code[int(m.group(1), 16)] = m.group(2)
print("instructions per call: %.1f" % (sum(c for _, c, _ in hot) / n))
last = None
for address, count, function in hot:
    if function != last:
        print("##", function[:120])
        last = function
    text = code.get(address, "?")
    text = re.sub(r"#.*", "", text)
    text = re.sub(r"[0-9a-f]{5,} <[^>]*>", "ADDR", text)
    text = re.sub(r"-?0x[0-9a-f]+\(%r[sb]p\)", "S(%rsp)", text)
    text = re.sub(r"0x[0-9a-f]+\(%rip\)", "X(%rip)", text)
    text = re.sub(r"%(r[a-z0-9]+|e[a-z]+|[a-d]l)\b", "R", text)
    print("%5.1f %s" % (count / n, text.strip()))
PY
done
diff "$tmp/old.txt" "$tmp/new.txt" || true
