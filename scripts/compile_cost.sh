#!/usr/bin/env bash
# What the attributes cost at compile time (issue 23): generates two crates
# of FNS async functions, one with a five-layer stack on each function
# (#[circuit_breaker] #[retry] #[timeout] #[bulkhead] #[rate_limiter]),
# one the same without attributes, and times an incremental rebuild of each
# RUNS times, after one warm build: an edit (the constant in the last
# function changes, so every attribute expands again and the changed
# function is checked again) and a full rebuild of the crate alone
# (`cargo clean -p`, dependencies kept). Prints the medians (wall and
# CPU time: on a shared machine compare CPU), the
# difference per annotated function, and the lines
# each five-layer function expands to (rustc's expanded output, formatted
# by rustfmt, with the attributes minus without, per function).
#
#   scripts/compile_cost.sh            FNS=100 RUNS=5 by default
#   FNS=50 RUNS=3 scripts/compile_cost.sh
#
# The expanded output needs `-Zunpretty=expanded`, a nightly flag, which
# the stable compiler accepts under RUSTC_BOOTSTRAP=1; only this
# measurement uses it, nothing that is built for users.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
fns=${FNS:-100}
runs=${RUNS:-5}
work="$root/target/compile-cost"
export CARGO_TARGET_DIR="$work/target"
mkdir -p "$work"

generate() { # <dir> <with attributes: 1|0>
    local dir=$1 with=$2
    mkdir -p "$dir/src"
    cat >"$dir/Cargo.toml" <<EOF
[package]
name = "compile-cost-$(basename "$dir")"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
resilience = { path = "$root" }

[workspace]
EOF
    {
        echo 'use resilience::Rejection;'
        echo '#[allow(unused_imports)]'
        echo 'use resilience::{bulkhead, circuit_breaker, rate_limiter, retry, timeout};'
        for i in $(seq 0 $((fns - 1))); do
            if [[ $with == 1 ]]; then
                echo '#[circuit_breaker(failure_threshold = 5, open_for = "60s")]'
                echo '#[retry(max_attempts = 3, backoff = "exp", base = "100ms")]'
                echo '#[timeout("1s")]'
                echo '#[bulkhead(max_concurrent = 64)]'
                echo '#[rate_limiter(rate = 100, per = "1s")]'
            fi
            echo "pub async fn call_$i(x: u64) -> Result<u64, Rejection> {"
            marker=''
            [[ $i == $((fns - 1)) ]] && marker=' // edit'
            echo "    Ok(x.wrapping_mul($i))$marker"
            echo '}'
        done
    } >"$dir/src/lib.rs"
}

median_ms() { # <dir> <edit|full>: "wall cpu", the median wall and CPU (user + system) time of a rebuild, in ms
    local dir=$1 kind=$2 walls=() cpus=()
    (cd "$dir" && cargo build -q 2>/dev/null)
    for run in $(seq "$runs"); do
        if [[ $kind == edit ]]; then
            sed -i "s/wrapping_mul([0-9]*)) \/\/ edit/wrapping_mul($((fns + run)))) \/\/ edit/" "$dir/src/lib.rs"
        else
            (cd "$dir" && cargo clean -q -p "compile-cost-$(basename "$dir")")
        fi
        # CPU time barely depends on what else the machine runs; wall
        # time does (on a shared machine it is several times the CPU time).
        local t
        t=$( { TIMEFORMAT='%3R %3U %3S'; time (cd "$dir" && cargo build -q 2>/dev/null); } 2>&1 | tail -1)
        read -r wall user sys <<<"$t"
        walls+=($(python3 -c "print(round($wall * 1000))"))
        cpus+=($(python3 -c "print(round(($user + $sys) * 1000))"))
    done
    local mid=$(((runs + 1) / 2))
    echo "$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "${mid}p") $(printf '%s\n' "${cpus[@]}" | sort -n | sed -n "${mid}p")"
}

expanded_lines() { # <dir>: lines of the crate's expanded, formatted source
    local dir=$1
    (cd "$dir" && RUSTC_BOOTSTRAP=1 cargo rustc -q --lib -- -Zunpretty=expanded 2>/dev/null) \
        | rustfmt --edition 2024 2>/dev/null | grep -cv '^\s*$'
}

generate "$work/with" 1
generate "$work/without" 0
read -r with_edit with_edit_cpu <<<"$(median_ms "$work/with" edit)"
read -r without_edit without_edit_cpu <<<"$(median_ms "$work/without" edit)"
read -r with_full with_full_cpu <<<"$(median_ms "$work/with" full)"
read -r without_full without_full_cpu <<<"$(median_ms "$work/without" full)"
with_lines=$(expanded_lines "$work/with")
without_lines=$(expanded_lines "$work/without")

echo "functions: $fns, rebuilds: $runs of each (median), wall / CPU (user + system)"
echo "                         edit                 full"
echo "with five-layer stacks:  ${with_edit} / ${with_edit_cpu} ms    ${with_full} / ${with_full_cpu} ms"
echo "without attributes:      ${without_edit} / ${without_edit_cpu} ms    ${without_full} / ${without_full_cpu} ms"
python3 -c "print('per annotated function:  %.1f / %.1f ms    %.1f / %.1f ms' % (($with_edit - $without_edit) / $fns, ($with_edit_cpu - $without_edit_cpu) / $fns, ($with_full - $without_full) / $fns, ($with_full_cpu - $without_full_cpu) / $fns))"
python3 -c "print('expanded lines per stack:  %.0f (non-blank, rustfmt)' % (($with_lines - $without_lines) / $fns))"
