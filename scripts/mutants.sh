#!/usr/bin/env bash
# Mutation testing of the runtime (issue 22): runs cargo-mutants over the
# engines, one area at a time (its files, with the runtime's unit tests and
# that layer's behaviour tests), then prints each area's tally and the score:
# caught (+ timeouts) over caught + timeouts + missed. Unviable mutants (that
# do not compile) do not count; equivalent ones are excluded, each with its
# reason, in .cargo/mutants.toml.
#
#   scripts/mutants.sh                 # every area (about an hour on 2 cores)
#   scripts/mutants.sh rate_limiter    # the areas named
#   scripts/mutants.sh --list          # the areas
#
# The tree is copied once (without target/) to target/mutants/tree and
# mutated in place there, keeping its own warm target/ between runs: your
# working tree is never touched, and only the first area builds from cold.
# Reports: target/mutants/<area>/mutants.out/{caught,missed,timeout,unviable}.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

# area | files (globs, relative to the workspace) | integration tests
# [| packages whose unit tests run, instead of .cargo/mutants.toml's
#    `test_package` (the runtime's and the facade's)]
AREAS=(
    "rate_limiter|resilience-runtime/src/rate_limiter.rs|rate_limiter regressions_rate_limiter"
    "retry_budget|resilience-runtime/src/retry/budget.rs|retry"
    "semaphore|resilience-runtime/src/bulkhead/semaphore.rs|bulkhead"
    "latency|resilience-runtime/src/latency.rs|regressions_latency timeout hedge"
    "breaker_window|resilience-runtime/src/breaker/window.rs|circuit_breaker regressions_breaker"
    "breaker_engine|resilience-runtime/src/breaker/engine.rs|circuit_breaker regressions_breaker"
    # `tower`: a tower call dropped with its permit held (`release_held`);
    # `config`: a policy read from and written to a configuration.
    "breaker|resilience-runtime/src/breaker/mod.rs resilience-runtime/src/breaker/policy.rs resilience-runtime/src/breaker/permit.rs resilience-runtime/src/breaker/future.rs|circuit_breaker regressions_breaker tower config"
    "bulkhead|resilience-runtime/src/bulkhead/mod.rs|bulkhead mutants_bulkhead tower"
    "timeout|resilience-runtime/src/timeout.rs|timeout mutants_timeout tower"
    "hedge|resilience-runtime/src/hedge.rs|hedge mutants_hedge predicates tower"
    "retry|resilience-runtime/src/retry/mod.rs|retry mutants_retry tower config"
    "stale_cache|resilience-runtime/src/fallback/*.rs|fallback mutants_stale_cache"
    "chaos|resilience-runtime/src/chaos/*.rs|chaos mutants_chaos mutants_experiment chaos_proxy mutants_proxy"
    "registry|resilience-runtime/src/registry.rs|mutants_registry mutants_retry mutants_hedge mutants_stale_cache mutants_events circuit_breaker"
    "events|resilience-runtime/src/events.rs resilience-runtime/src/health.rs|mutants_events mutants_retry observability allocations"
    "metrics|resilience-runtime/src/metrics.rs|metrics"
    "redis|resilience-runtime/src/redis/mod.rs resilience-runtime/src/redis/rate_limiter.rs resilience-runtime/src/redis/breaker.rs resilience-runtime/src/config/fleet.rs|redis redis_wait redis_config mutants_redis"
    # `adaptive_concurrency_config`: an adaptive limiter's tables (config/adaptive.rs).
    "config|resilience-runtime/src/config/*.rs|config adaptive_concurrency_config mutants_config"
    "basics|resilience-runtime/src/time.rs resilience-runtime/src/rng.rs resilience-runtime/src/rejection.rs|timeout retry chaos"
    "classify|resilience-runtime/src/classify.rs resilience-runtime/src/http.rs|http_classify regressions_classify"
    # The values a reload changes in place, the deadline scope, per-thread
    # counters and what the macros' expansions call.
    "live|resilience-runtime/src/live.rs|config timeout circuit_breaker retry"
    "deadline|resilience-runtime/src/deadline.rs|deadline timeout"
    "tally|resilience-runtime/src/tally.rs|mutants_registry mutants_retry"
    "macro_support|resilience-runtime/src/macro_support.rs|bare_attributes with_forms predicates fallback mutants_stale_cache mutants_macro_support"
    "tower|resilience-runtime/src/tower/*.rs|tower tower_orders adaptive_concurrency_tower mutants_tower"
    "dashboard|resilience-runtime/src/dashboard/*.rs|dashboard"
    # The axum load shedder and the reqwest-middleware client, over HTTP
    # on loopback.
    "http|resilience-runtime/src/axum.rs resilience-runtime/src/reqwest_middleware.rs|axum reqwest_middleware tower http_classify"
    "adaptive_concurrency|resilience-runtime/src/adaptive_concurrency/*.rs|adaptive_concurrency adaptive_concurrency_config adaptive_concurrency_overload adaptive_concurrency_tower"
    # The one definition per option (rules, defaults, sentences, duration
    # and word parsing), on the schema's own unit tests (a mutant builds in
    # a second; about 6 minutes for the crate).
    "schema|resilience-schema/src/*.rs||resilience-schema"
    # The macros' option parser and value readers, on the macro crate's
    # unit tests over proc_macro2 tokens: what each misuse reads and where
    # it points (trybuild, tests/ui.rs, is minutes per mutant); about 5 min.
    "macros|resilience-macros/src/options.rs resilience-macros/src/value.rs resilience-macros/src/duration.rs||resilience-macros"
)

if [[ "${1:-}" == "--list" ]]; then
    printf '%s\n' "${AREAS[@]}" | cut -d'|' -f1
    exit 0
fi

if ! cargo mutants --version >/dev/null 2>&1; then
    cargo install --locked cargo-mutants
fi

out=$PWD/target/mutants
# MUTANTS_TREE: another scratch copy to mutate (its target/ is reused).
tree=${MUTANTS_TREE:-$out/tree}
mkdir -p "$tree"
# By content, not times: a file restored after an in-place mutant is newer
# than the mutant's build, and must stay so for cargo to rebuild it.
rsync -rl --checksum --delete --exclude /target --exclude /.git ./ "$tree/"

declare -a rows=()
total_caught=0 total_missed=0 total_timeout=0 total_unviable=0
for area in "${AREAS[@]}"; do
    IFS='|' read -r name files tests packages <<<"$area"
    if [[ $# -gt 0 ]] && [[ ! " $* " =~ \ $name\  ]]; then
        continue
    fi
    args=()
    for f in $files; do args+=(-f "$f"); done
    for t in $tests; do args+=("--cargo-arg=--test=$t"); done
    printf '\n==> mutants: %s\n' "$name"
    rm -rf "$out/$name"
    mkdir -p "$out/$name"
    # The unmutated tests first (cargo-mutants' own baseline would build
    # only the mutated package's tests, not `test_package`'s), then the
    # mutants with a fixed timeout. Exit 2 (missed mutants) and 3
    # (timeouts) are results, not failures.
    tests_args=()
    for t in $tests; do tests_args+=("--test=$t"); done
    config=$PWD/.cargo/mutants.toml
    if [[ -n "${packages:-}" ]]; then
        # The same exclusions, with this area's packages' tests.
        config=$out/$name/mutants.toml
        list=$(printf '"%s", ' $packages)
        sed "s/^test_package = .*/test_package = [${list%, }]/" .cargo/mutants.toml >"$config"
    fi
    pkg_args=()
    for p in ${packages:-resilience-runtime resilience}; do pkg_args+=(-p "$p"); done
    (cd "$tree" && cargo test -q "${pkg_args[@]}" --all-features --lib "${tests_args[@]}" >/dev/null)
    (cd "$tree" && cargo mutants --in-place --workspace --baseline skip --timeout "${MUTANTS_TIMEOUT:-60}" \
        --no-shuffle --config "$config" -o "$out/$name" "${args[@]}") || { rc=$?; [[ $rc == 2 || $rc == 3 ]]; }
    count() { [[ -f "$out/$name/mutants.out/$1.txt" ]] && wc -l <"$out/$name/mutants.out/$1.txt" || echo 0; }
    c=$(count caught) m=$(count missed) t=$(count timeout) u=$(count unviable)
    rows+=("$(printf '%-16s %7d %7d %8d %9d' "$name" "$c" "$m" "$t" "$u")")
    total_caught=$((total_caught + c)) total_missed=$((total_missed + m))
    total_timeout=$((total_timeout + t)) total_unviable=$((total_unviable + u))
done

printf '\n%-16s %7s %7s %8s %9s\n' area caught missed timeout unviable
printf '%s\n' "${rows[@]}"
judged=$((total_caught + total_timeout + total_missed))
if [[ $judged -gt 0 ]]; then
    printf '%-16s %7d %7d %8d %9d\n' total "$total_caught" "$total_missed" "$total_timeout" "$total_unviable"
    awk -v k=$((total_caught + total_timeout)) -v n=$judged \
        'BEGIN { printf "mutation score: %d of %d non-equivalent mutants caught (%.1f %%)\n", k, n, 100 * k / n }'
    echo "missed: target/mutants/*/mutants.out/missed.txt"
fi
