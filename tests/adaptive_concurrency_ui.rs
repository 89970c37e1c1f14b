//! Compile-time checks of `#[adaptive_concurrency]`: each file in
//! `tests/ui/adaptive_concurrency/` is one misuse, with the error a user
//! sees in the `.stderr` beside it. Regenerate with
//! `TRYBUILD=overwrite cargo test --test adaptive_concurrency_ui` and read the diff.

#[test]
fn misuse_is_a_compile_error() {
    trybuild::TestCases::new().compile_fail("tests/ui/adaptive_concurrency/*.rs");
}
