//! Without the `redis` feature, a `[fleet_rate_limiter.<name>]` table in
//! the configuration file is refused with a sentence that says to enable
//! the feature, instead of being read and silently unused (nothing builds
//! a fleet limiter in such a build). `.ci/run` runs this without `redis`:
//! `cargo test -p resilience --features config --test redis_disabled`.
#![cfg(all(feature = "config", not(feature = "redis")))]

use resilience::config::Config;

#[test]
fn a_fleet_table_without_the_redis_feature_is_refused_with_the_fix() {
    let error = Config::from_toml(
        "[fleet_rate_limiter.search]\nstore = \"redis://127.0.0.1:6379\"\nrate = 200\n",
    )
    .unwrap_err();
    let problems = error.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].path, "fleet_rate_limiter.search");
    let message = &problems[0].message;
    assert!(
        message.contains("needs the `redis` feature") && message.contains("enable it"),
        "{message}"
    );
}

#[test]
fn the_other_layers_still_load_without_it() {
    let config = Config::from_toml("[retry.search]\nmax_attempts = 4\n");
    assert!(config.is_ok(), "{:?}", config.err());
}
