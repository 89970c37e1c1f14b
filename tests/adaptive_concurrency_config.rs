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
    let _serial = SERIAL.lock().await;
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

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One window of `l`: ten calls of `ms` milliseconds, one after another.
async fn window_of_ten(l: &AdaptiveConcurrency, ms: u64) {
    for _ in 0..10 {
        l.call(0, async {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, Rejection>(())
        })
        .await
        .unwrap();
    }
}

/// A reload that mentions none of an algorithm's own options keeps the
/// builder's values, as it keeps `max_wait`.
#[tokio::test(start_paused = true)]
async fn a_reload_keeps_the_builders_tuning() {
    let _serial = SERIAL.lock().await;
    let window = Duration::from_millis(50);
    let aimd = registry::get_or_register("cfg-keeps-aimd", || {
        AdaptiveConcurrency::named("cfg-keeps-aimd", LimitAlgorithm::Aimd)
            .initial(4)
            .max_wait(Duration::from_millis(50))
            .backoff_ratio(0.5)
            .slow_call(Duration::from_millis(10))
            .window(window)
    });
    let tolerant = registry::get_or_register("cfg-keeps-tolerance", || {
        AdaptiveConcurrency::named("cfg-keeps-tolerance", LimitAlgorithm::Aimd)
            .initial(4)
            .tolerance(1.1)
            .window(window)
    });
    let gradient = registry::get_or_register("cfg-keeps-smoothing", || {
        AdaptiveConcurrency::named("cfg-keeps-smoothing", LimitAlgorithm::Gradient2)
            .initial(2)
            .smoothing(1.0)
            .window(window)
    });
    toml(
        r#"
[adaptive_concurrency.cfg-keeps-aimd]
max = 8
[adaptive_concurrency.cfg-keeps-tolerance]
max = 8
[adaptive_concurrency.cfg-keeps-smoothing]
max = 8
"#,
    )
    .apply()
    .unwrap();

    assert_eq!(aimd.get_max_wait(), Duration::from_millis(50));
    // Calls slower than its `slow_call` (10 ms; the default is 5 s): the
    // limit backs off by its ratio, half (the default 0.9 gives 3).
    window_of_ten(&aimd, 20).await;
    assert_eq!(aimd.snapshot().limit, 2, "slow: backed off by half");

    // A window a quarter slower than the first: past a tolerance of 1.1
    // (the default 1.5 would keep the limit).
    window_of_ten(&tolerant, 20).await;
    window_of_ten(&tolerant, 25).await;
    assert_eq!(tolerant.snapshot().limit, 3, "backed off by 0.9");

    // Gradient2 at no queueing aims at limit + 4; a smoothing of 1 takes
    // all of the step (the default 0.2 would go from 2 to 2.8, so 2).
    window_of_ten(&gradient, 20).await;
    assert_eq!(gradient.snapshot().limit, 6);
}

/// A table that changes `algorithm` drops the instance's tuning of the
/// old one, which the new one refuses (`backoff_ratio`, `slow_call`:
/// Aimd's; `smoothing`: Gradient2's; `tolerance`: not Vegas'), and keeps
/// what the new one uses too.
#[tokio::test(start_paused = true)]
async fn a_change_of_algorithm_drops_only_the_tuning_the_new_one_refuses() {
    let _serial = SERIAL.lock().await;
    let window = Duration::from_millis(50);
    let aimd = registry::get_or_register("cfg-switch-aimd", || {
        AdaptiveConcurrency::named("cfg-switch-aimd", LimitAlgorithm::Aimd)
            .backoff_ratio(0.5)
            .slow_call(Duration::from_millis(10))
    });
    let slow_only = registry::get_or_register("cfg-switch-slow-call", || {
        AdaptiveConcurrency::named("cfg-switch-slow-call", LimitAlgorithm::Aimd)
            .slow_call(Duration::from_millis(10))
    });
    let to_vegas = registry::get_or_register("cfg-switch-to-vegas", || {
        AdaptiveConcurrency::named("cfg-switch-to-vegas", LimitAlgorithm::Aimd).tolerance(1.1)
    });
    let smooth = registry::get_or_register("cfg-switch-smoothing", || {
        AdaptiveConcurrency::named("cfg-switch-smoothing", LimitAlgorithm::Gradient2).smoothing(1.0)
    });
    let tolerant = registry::get_or_register("cfg-switch-tolerance", || {
        AdaptiveConcurrency::named("cfg-switch-tolerance", LimitAlgorithm::Gradient2)
            .initial(4)
            .tolerance(1.1)
            .window(window)
    });
    toml(
        r#"
[adaptive_concurrency.cfg-switch-aimd]
algorithm = "gradient2"
[adaptive_concurrency.cfg-switch-slow-call]
algorithm = "vegas"
[adaptive_concurrency.cfg-switch-to-vegas]
algorithm = "vegas"
[adaptive_concurrency.cfg-switch-smoothing]
algorithm = "aimd"
[adaptive_concurrency.cfg-switch-tolerance]
algorithm = "aimd"
max = 8
"#,
    )
    .apply()
    .unwrap_or_else(|e| panic!("a change of algorithm alone is accepted: {e}"));
    assert_eq!(aimd.algorithm(), LimitAlgorithm::Gradient2);
    assert_eq!(slow_only.algorithm(), LimitAlgorithm::Vegas);
    assert_eq!(to_vegas.algorithm(), LimitAlgorithm::Vegas);
    assert_eq!(smooth.algorithm(), LimitAlgorithm::Aimd);
    assert_eq!(tolerant.algorithm(), LimitAlgorithm::Aimd);

    // Aimd uses a tolerance too: the builder's 1.1 is kept, so a window a
    // quarter slower than the first backs off (the default 1.5 would
    // keep the limit at 4).
    window_of_ten(&tolerant, 20).await;
    window_of_ten(&tolerant, 25).await;
    assert_eq!(tolerant.snapshot().limit, 3, "backed off by 0.9");
}
