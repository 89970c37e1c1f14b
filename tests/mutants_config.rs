//! What `resilience::config` tells a user about a configuration (issue
//! 22): how a problem prints, which instance's attribute a table is
//! checked against, the warning for a table that names no instance but
//! one close to it, and the environment of the process itself.
#![cfg(feature = "config")]

#[path = "support/tracing_capture.rs"]
mod tracing_capture;

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use resilience::breaker::WindowSize;
use resilience::config::Config;
use resilience::{
    AdaptiveConcurrency, BreakerPolicy, Bulkhead, CircuitBreaker, LimitAlgorithm, RateLimiter,
    Retry, RetryPolicy, registry,
};
use tracing_capture::Capture;

/// The configuration in force is the process's: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

#[test]
fn a_problem_prints_its_path_where_it_came_from_and_the_fix() {
    let one = Config::from_toml("[retry.print]\n\nmax_attempts = 0\n").unwrap_err();
    assert_eq!(
        one.to_string(),
        "1 problem in the configuration:\n  retry.print.max_attempts (line 3): `max_attempts` counts every call, the first included, so it must be at least 1 (1 means no retry)"
    );
    let two = Config::from_vars([
        ("RESILIENCE_RETRY__PRINT__BASE".to_owned(), "2x".to_owned()),
        (
            "RESILIENCE_RETRY__PRINT__MAX_DELAY".to_owned(),
            "3y".to_owned(),
        ),
    ])
    .unwrap_err();
    let text = two.to_string();
    assert!(
        text.starts_with("2 problems in the configuration:\n  retry.PRINT."),
        "{text}"
    );
    for (key, variable, value) in [
        ("base", "RESILIENCE_RETRY__PRINT__BASE", "2x"),
        ("max_delay", "RESILIENCE_RETRY__PRINT__MAX_DELAY", "3y"),
    ] {
        let unit = &value[1..];
        assert!(
            text.contains(&format!(
                "\n  retry.PRINT.{key} (from {variable}): `{unit}` in `{value}` is not a unit of time"
            )),
            "{text}"
        );
    }
}

#[test]
fn a_configuration_without_values_is_empty() {
    assert!(Config::default().is_empty());
    assert!(Config::from_toml("[retry.empty]\n").unwrap().is_empty());
    assert!(
        !Config::from_toml("[retry.empty]\nmax_attempts = 2\n")
            .unwrap()
            .is_empty()
    );
}

/// A table is checked against the attribute of the instance it names,
/// not of another instance of the layer, nor of another layer's instance
/// of that name; a table that names no instance is checked on its own.
#[test]
fn a_table_is_checked_against_the_instance_it_names() {
    let _serial = serial();
    let policy = |base| RetryPolicy::new().base(Duration::from_millis(base));
    registry::get_or_register("mc-fast", || Retry::named("mc-fast", policy(100)));
    registry::get_or_register("mc-slow", || Retry::named("mc-slow", policy(1000)));
    // A bulkhead of the same name as the slow retry: not a retry's base.
    registry::get_or_register("mc-other", || Bulkhead::named("mc-other", 2));

    let cap = |name: &str| Config::from_toml(&format!("[retry.{name}]\nmax_delay = \"500ms\"\n"));
    assert!(
        cap("mc-fast").is_ok(),
        "500 ms is above mc-fast's 100 ms base"
    );
    let slow = cap("mc-slow").unwrap_err();
    assert_eq!(slow.problems().len(), 1, "{slow}");
    assert_eq!(slow.problems()[0].path, "retry.mc-slow.max_delay");
    assert!(
        slow.problems()[0]
            .message
            .contains("`max_delay` is below `base`"),
        "{slow}"
    );
    assert!(cap("mc-other").is_ok(), "no retry is named mc-other");
    // Named by no instance: what its attribute will give (a timeout's
    // duration, a limiter's rate) is not asked of it, its own rules still
    // hold.
    for table in [
        "[timeout.mc-nobody]\n",
        "[rate_limiter.mc-nobody]\nburst = 5\n",
        "[bulkhead.mc-nobody]\nmax_wait = \"1s\"\n",
        "[retry.mc-nobody]\n",
        "[circuit_breaker.mc-nobody]\nopen_for = \"1s\"\n",
        "[adaptive_concurrency.mc-nobody]\nmax = 10\n",
    ] {
        if let Err(error) = Config::from_toml(table) {
            panic!("{table}: {error}");
        }
    }
    let alone = Config::from_toml("[retry.mc-nobody]\nmax_attempts = 0\n").unwrap_err();
    assert_eq!(alone.problems()[0].path, "retry.mc-nobody.max_attempts");
}

/// A variable's name matches every instance whose name normalises to it
/// (`MC_TWIN`: `mc-twin` and `mc_twin`); its problem is reported once.
#[test]
fn a_problem_of_a_table_matching_two_instances_is_reported_once() {
    let _serial = serial();
    registry::get_or_register("mc-twin", || Retry::named("mc-twin", RetryPolicy::new()));
    registry::get_or_register("mc_twin", || Retry::named("mc_twin", RetryPolicy::new()));
    let error = Config::from_vars([(
        "RESILIENCE_RETRY__MC_TWIN__MAX_ATTEMPTS".to_owned(),
        "0".to_owned(),
    )])
    .unwrap_err();
    assert_eq!(error.problems().len(), 1, "{error}");
    assert_eq!(
        error.problems()[0].variable.as_deref(),
        Some("RESILIENCE_RETRY__MC_TWIN__MAX_ATTEMPTS")
    );
}

/// A bulkhead or limiter created after a table that leaves `max_wait`
/// unwritten keeps its own, from its builder.
#[test]
fn an_instance_created_after_a_table_keeps_what_the_table_does_not_write() {
    let _serial = serial();
    Config::from_toml(
        "[bulkhead.mc-waits]\nmax_concurrent = 8\n[rate_limiter.mc-waits]\nburst = 5\n",
    )
    .unwrap()
    .apply()
    .unwrap();
    let wait = Duration::from_millis(50);
    let pool =
        registry::get_or_register("mc-waits", || Bulkhead::named("mc-waits", 2).max_wait(wait));
    let limiter = registry::get_or_register("mc-waits", || {
        RateLimiter::named("mc-waits", 10, Duration::from_secs(1)).max_wait(wait)
    });
    assert_eq!(pool.max_concurrent(), 8, "the table's");
    assert_eq!(pool.get_max_wait(), wait, "the builder's");
    assert_eq!(limiter.get_burst(), 5, "the table's");
    assert_eq!(limiter.get_max_wait(), wait, "the builder's");
    Config::default().apply().unwrap();
}

/// An adaptive limiter's table is checked against its algorithm.
#[test]
fn an_adaptive_limiters_table_is_checked_against_its_algorithm() {
    let _serial = serial();
    registry::get_or_register("mc-vegas", || {
        AdaptiveConcurrency::named("mc-vegas", LimitAlgorithm::Vegas)
    });
    let error =
        Config::from_toml("[adaptive_concurrency.mc-vegas]\ntolerance = 1.2\n").unwrap_err();
    assert!(
        error.problems()[0]
            .message
            .contains("tunes `algorithm = \"gradient2\"` and `\"aimd\"` only"),
        "{error}"
    );
    assert!(Config::from_toml("[adaptive_concurrency.mc-gradient]\ntolerance = 1.2\n").is_ok());
}

/// A breaker's table chooses its trip rule only by writing one (for a
/// breaker created after it): a written `failure_threshold` drops the
/// attribute's rate options, written rate options drop its
/// `failure_threshold`, and a table that writes neither keeps the
/// attribute's rule.
#[test]
fn a_breakers_table_keeps_its_trip_rule_unless_it_writes_another() {
    let _serial = serial();
    let consecutive = registry::get_or_register("mc-consecutive", || {
        CircuitBreaker::named("mc-consecutive", BreakerPolicy::new().failure_threshold(3))
    });
    let rate = registry::get_or_register("mc-rate", || {
        CircuitBreaker::named(
            "mc-rate",
            BreakerPolicy::new()
                .failure_rate(0.5, WindowSize::Calls(10))
                .min_calls(4),
        )
    });
    let apply = |text: &str| Config::from_toml(text).unwrap().apply().unwrap();

    apply(
        "[circuit_breaker.mc-consecutive]\nopen_for = \"5s\"\n[circuit_breaker.mc-rate]\nopen_for = \"5s\"\n",
    );
    assert_eq!(consecutive.policy().get_open_for(), Duration::from_secs(5));
    assert_eq!(consecutive.policy().get_failure_threshold(), Some(3));
    assert_eq!(rate.policy().get_open_for(), Duration::from_secs(5));
    assert_eq!(rate.policy().get_failure_threshold(), None);
    assert_eq!(rate.policy().get_min_calls(), Some(4));

    // A running breaker keeps its rule; one created later takes the
    // file's.
    let refused = Config::from_toml("[circuit_breaker.mc-rate]\nfailure_threshold = 2\n")
        .unwrap()
        .apply()
        .unwrap_err();
    assert_eq!(
        refused.problems()[0].path,
        "circuit_breaker.mc-rate.failure_threshold"
    );
    assert!(
        refused.problems()[0]
            .message
            .starts_with("a running breaker keeps its trip rule and window"),
        "{refused}"
    );
    assert_eq!(rate.policy().get_min_calls(), Some(4), "nothing changed");
    apply(
        "[circuit_breaker.mc-later-rate]\nfailure_threshold = 2\n[circuit_breaker.mc-later-consecutive]\nfailure_rate = 0.25\nmin_calls = 8\n",
    );
    let rate = registry::get_or_register("mc-later-rate", || {
        CircuitBreaker::named(
            "mc-later-rate",
            BreakerPolicy::new()
                .failure_rate(0.5, WindowSize::Calls(10))
                .min_calls(4),
        )
    });
    assert_eq!(rate.policy().get_failure_threshold(), Some(2));
    assert_eq!(rate.policy().get_min_calls(), None, "the rate rule dropped");
    let consecutive = registry::get_or_register("mc-later-consecutive", || {
        CircuitBreaker::named(
            "mc-later-consecutive",
            BreakerPolicy::new().failure_threshold(3),
        )
    });
    assert_eq!(consecutive.policy().get_failure_threshold(), None);
    assert_eq!(consecutive.policy().get_min_calls(), Some(8));
    Config::default().apply().unwrap();
}

/// A function is code: a file cannot name one, and the options a file
/// may set do not list them.
#[test]
fn a_file_cannot_set_a_function() {
    let error =
        Config::from_toml("[circuit_breaker.mc-code]\nfailure_if = \"is_bad\"\n").unwrap_err();
    assert!(
        error.problems()[0]
            .message
            .starts_with("`failure_if` names a function, which is code: set it in the attribute"),
        "{error}"
    );
    let priority = Config::from_toml("[adaptive_concurrency.mc-code]\npriority = 3\n").unwrap_err();
    assert_eq!(
        priority.problems()[0].message,
        "`priority` is an expression over the call's arguments, which is code: set it in the attribute, e.g. `#[adaptive_concurrency(priority = req.priority)]`"
    );
    let adaptive = Config::from_toml("[timeout.mc-code]\nadaptive = true\n").unwrap_err();
    assert_eq!(
        adaptive.problems()[0].message,
        "`adaptive` chooses the kind of instance the attribute builds: set it in the attribute"
    );
    let unknown = Config::from_toml("[circuit_breaker.mc-code]\nzzzzzzzzzz = 1\n").unwrap_err();
    let listed = &unknown.problems()[0].message;
    assert!(
        listed.contains("the options are failure_threshold, "),
        "{listed}"
    );
    assert!(!listed.contains("failure_if"), "{listed}");
}

/// The warnings `apply` writes through `tracing` about a table that
/// names no instance.
fn warnings_of_applying(text: &str) -> Vec<String> {
    let capture = Capture::default();
    let config = Config::from_toml(text).unwrap();
    tracing::subscriber::with_default(capture.clone(), || config.apply().unwrap());
    Config::default().apply().unwrap();
    capture.take_messages("instance is named")
}

/// A table for an instance that does not exist yet is kept for when it
/// is created; if its name is close to an instance of the same layer, a
/// warning names that one (a typo in the file is the likelier cause).
#[test]
fn a_table_naming_no_instance_warns_of_a_close_name() {
    let _serial = serial();
    registry::get_or_register("mc-payments", || {
        Retry::named("mc-payments", RetryPolicy::new())
    });
    registry::get_or_register("mc-ledger", || Bulkhead::named("mc-ledger", 2));

    assert_eq!(
        warnings_of_applying("[retry.mc-paymnets]\nmax_attempts = 2\n"),
        [
            "resilience: no retry instance is named `mc-paymnets` yet (did you mean `mc-payments`?); its table will govern it once created"
        ]
    );
    // The instance exists: nothing to warn of.
    assert_eq!(
        warnings_of_applying("[retry.mc-payments]\nmax_attempts = 2\n"),
        Vec::<String>::new()
    );
    // Close only to another layer's instance: not that one.
    assert_eq!(
        warnings_of_applying("[retry.mc-ledgre]\nmax_attempts = 2\n"),
        Vec::<String>::new()
    );
}

/// `Config::from_env` reads the process's own environment: checked in a
/// child process of this test binary, started with the variables set
/// (setting them in this process would race the other tests' threads).
#[test]
fn the_environment_of_the_process_is_read() {
    const VARIABLE: &str = "RESILIENCE_RETRY__MC_ENV__BASE";
    if let Ok(value) = std::env::var(VARIABLE) {
        // The child: one variable, read and checked.
        let error = Config::from_env().unwrap_err();
        assert_eq!(error.problems().len(), 1, "{error}");
        assert_eq!(error.problems()[0].variable.as_deref(), Some(VARIABLE));
        assert_eq!(value, "2x");
        return;
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_environment_of_the_process_is_read",
            "--test-threads=1",
        ])
        .env(VARIABLE, "2x")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the child's checks failed: {status}");
}
