//! `[adaptive_concurrency.<name>]` tables (feature `config`): a file sets
//! a named limiter's options with the attribute's keys and sentences, a
//! reload keeps its state (the limit, the calls in flight), and a table
//! governs an instance created after it.
#![cfg(feature = "config")]

use std::time::Duration;

use resilience::config::Config;
use resilience::{AdaptiveConcurrency, LimitAlgorithm, Rejection, adaptive_concurrency, registry};

fn toml(text: &str) -> Config {
    Config::from_toml(text).unwrap_or_else(|e| panic!("{e}"))
}

/// The sentence a builder panics with.
fn sentence(build: fn() -> AdaptiveConcurrency) -> String {
    let panic = std::panic::catch_unwind(build).unwrap_err();
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

#[adaptive_concurrency(name = "cfg-later", algorithm = "vegas", max = 50)]
async fn later() -> Result<(), Rejection> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_file_retunes_a_running_limiter_keeping_its_state_and_governs_a_new_one() {
    let l = registry::get_or_register("cfg-adaptive", || {
        AdaptiveConcurrency::named("cfg-adaptive", LimitAlgorithm::Gradient2)
            .min(2)
            .max(100)
            .initial(40)
    });
    let held: Vec<_> = (0..3).map(|_| l.try_acquire(0).unwrap()).collect();

    toml(
        r#"
[adaptive_concurrency.cfg-adaptive]
algorithm = "aimd"
max = 30
max_wait = "20ms"
tolerance = 1.2
"#,
    )
    .apply()
    .unwrap();
    let s = l.snapshot();
    assert_eq!(s.algorithm, LimitAlgorithm::Aimd);
    assert_eq!(s.limit, 30, "moved into the new bounds, not reset");
    assert_eq!(s.in_flight, 3, "the calls in flight stay counted");
    assert_eq!(l.get_max_wait(), Duration::from_millis(20));
    drop(held);
    assert_eq!(l.snapshot().in_flight, 0);

    // A key the file stops writing goes back to the instance's own value.
    toml("[adaptive_concurrency.cfg-adaptive]\nmax = 60\n")
        .apply()
        .unwrap();
    assert_eq!(l.algorithm(), LimitAlgorithm::Gradient2);
    assert_eq!(l.get_max_wait(), Duration::ZERO);
    assert_eq!(l.snapshot().limit, 30, "within 2..=60 already: kept");

    // Same rules, same sentences as the attribute and the builder.
    let error = Config::from_toml(
        "[adaptive_concurrency.cfg-adaptive]\ntolerance = 0.5\npriority_share = 0.0\nwindoww = \"1s\"\n",
    )
    .unwrap_err();
    let message = |path: &str| {
        error
            .problems()
            .iter()
            .find(|p| p.path == path)
            .unwrap_or_else(|| panic!("no problem at {path}: {error}"))
            .message
            .clone()
    };
    assert_eq!(
        message("adaptive_concurrency.cfg-adaptive.tolerance"),
        sentence(|| AdaptiveConcurrency::new("s", LimitAlgorithm::Gradient2).tolerance(0.5))
    );
    assert_eq!(
        message("adaptive_concurrency.cfg-adaptive.priority_share"),
        sentence(|| AdaptiveConcurrency::new("s", LimitAlgorithm::Gradient2).priority_share(0.0))
    );
    assert!(
        message("adaptive_concurrency.cfg-adaptive.windoww").contains("did you mean `window`?")
    );
    // An option of another algorithm: refused, as in the attribute.
    let refused = Config::from_toml(
        "[adaptive_concurrency.cfg-adaptive]\nalgorithm = \"vegas\"\ntolerance = 1.2\n",
    )
    .unwrap_err();
    assert!(
        refused.problems()[0]
            .message
            .contains("tunes `algorithm = \"gradient2\"` and `\"aimd\"` only"),
        "{refused}"
    );
    // Switching to Vegas drops the old algorithm's tuning on its own.
    toml("[adaptive_concurrency.cfg-adaptive]\nalgorithm = \"vegas\"\n")
        .apply()
        .unwrap();
    assert_eq!(l.algorithm(), LimitAlgorithm::Vegas);

    // A table applied before the instance exists governs it at creation.
    toml("[adaptive_concurrency.cfg-later]\ninitial = 7\nmax_wait = \"5ms\"\n")
        .apply()
        .unwrap();
    later().await.unwrap();
    let created = registry::get::<AdaptiveConcurrency>("cfg-later").unwrap();
    assert_eq!(created.snapshot().limit, 7);
    assert_eq!(created.get_max_wait(), Duration::from_millis(5));
    assert_eq!(
        created.algorithm(),
        LimitAlgorithm::Vegas,
        "the attribute's"
    );
}
