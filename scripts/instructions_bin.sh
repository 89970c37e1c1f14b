# Sourced by scripts/{cycles,instructions,hot_path}.sh: builds
# benches/instructions.rs (release) and sets `bin` to its executable.
cargo bench --bench instructions --no-run >/dev/null 2>&1 || cargo bench --bench instructions --no-run
bin=$(cargo bench --bench instructions --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "instructions" and m.get("executable"):
        print(m["executable"])')
