//! Compile-time checks: each file in `tests/ui/<layer>/` is one misuse, with
//! the error a user sees in the `.stderr` beside it.
//! Regenerate with `TRYBUILD=overwrite cargo test --test ui` and read the diff.

#[test]
fn misuse_is_a_compile_error() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/stack/*.rs");
    cases.compile_fail("tests/ui/retry/*.rs");
    cases.compile_fail("tests/ui/timeout/*.rs");
    cases.compile_fail("tests/ui/fallback/*.rs");
    cases.compile_fail("tests/ui/chaos/*.rs");
    cases.compile_fail("tests/ui/hedge/*.rs");
    cases.compile_fail("tests/ui/circuit_breaker/*.rs");
    cases.compile_fail("tests/ui/bulkhead/*.rs");
    cases.compile_fail("tests/ui/rate_limiter/*.rs");
    cases.compile_fail("tests/ui/classify/*.rs");
    cases.compile_fail("tests/ui/adaptive_concurrency/*.rs");
}
