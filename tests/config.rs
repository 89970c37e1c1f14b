//! `resilience::config` (feature `config`) as a user sees it: a file and
//! the environment override the attributes of named instances, a reload
//! keeps every instance's state, and a bad file changes nothing.
#![cfg(feature = "config")]

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use resilience::breaker::State;
use resilience::config::Config;
use resilience::{
    BreakerPolicy, Bulkhead, CircuitBreaker, Classify, Outcome, RateLimiter, Rejection, Retry,
    RetryBudget, RetryPolicy, bulkhead, circuit_breaker, registry, retry,
};
use tokio::sync::Mutex;
use tokio::time::advance;

#[derive(Debug, Clone, PartialEq)]
enum ApiError {
    Unavailable,
    Rejected(Rejection),
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError::Rejected(r)
    }
}

impl Classify for ApiError {
    fn classify(&self) -> Outcome {
        match self {
            ApiError::Unavailable => Outcome::TRANSIENT,
            ApiError::Rejected(r) => r.classify(),
        }
    }
}

/// The configuration in force is the process's: one test at a time (an
/// async lock: the tests hold it across their awaits).
static SERIAL: Mutex<()> = Mutex::const_new(());

fn toml(text: &str) -> Config {
    Config::from_toml(text).unwrap_or_else(|e| panic!("{e}"))
}

fn breaker(name: &str) -> std::sync::Arc<CircuitBreaker> {
    registry::get::<CircuitBreaker>(name).expect("created by its first call")
}

#[circuit_breaker(name = "cfg-override", failure_threshold = 5)]
async fn override_call(fail: bool) -> Result<(), ApiError> {
    if fail {
        Err(ApiError::Unavailable)
    } else {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_file_overrides_the_attribute_of_a_running_instance() {
    let _serial = SERIAL.lock().await;
    override_call(false).await.unwrap();
    assert_eq!(
        breaker("cfg-override").policy().get_failure_threshold(),
        Some(5)
    );
    toml("[circuit_breaker.cfg-override]\nfailure_threshold = 2\n")
        .apply()
        .unwrap();
    assert_eq!(override_call(true).await, Err(ApiError::Unavailable));
    assert_eq!(breaker("cfg-override").state(), State::Closed);
    assert_eq!(override_call(true).await, Err(ApiError::Unavailable));
    assert_eq!(
        breaker("cfg-override").state(),
        State::Open,
        "2 failures, not 5"
    );
    assert!(matches!(
        override_call(false).await,
        Err(ApiError::Rejected(Rejection::CircuitOpen { .. }))
    ));
}

#[circuit_breaker(name = "cfg-before", failure_threshold = 5)]
async fn before_call() -> Result<(), ApiError> {
    Err(ApiError::Unavailable)
}

#[tokio::test(start_paused = true)]
async fn a_configuration_applied_before_the_first_call_governs_it() {
    let _serial = SERIAL.lock().await;
    assert!(registry::get::<CircuitBreaker>("cfg-before").is_none());
    toml("[circuit_breaker.cfg-before]\nfailure_threshold = 2\nopen_for = \"5s\"\n")
        .apply()
        .unwrap();
    let _ = before_call().await;
    let _ = before_call().await;
    let b = breaker("cfg-before");
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.policy().get_open_for(), Duration::from_secs(5));
    // A second configuration without the table gives back the attribute's.
    Config::default().apply().unwrap();
    assert_eq!(b.policy().get_failure_threshold(), Some(5));
    assert_eq!(b.state(), State::Open, "state is kept");
}

#[circuit_breaker(name = "cfg-open", failure_threshold = 1, open_for = "60s")]
async fn open_call(fail: bool) -> Result<(), ApiError> {
    if fail {
        Err(ApiError::Unavailable)
    } else {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_reload_while_open_keeps_it_open_for_the_new_open_for_from_when_it_opened() {
    let _serial = SERIAL.lock().await;
    let _ = open_call(true).await;
    let b = breaker("cfg-open");
    assert_eq!(b.state(), State::Open);
    advance(Duration::from_secs(10)).await;
    toml("[circuit_breaker.cfg-open]\nopen_for = \"30s\"\n")
        .apply()
        .unwrap();
    assert_eq!(b.state(), State::Open);
    match open_call(false).await {
        Err(ApiError::Rejected(r)) => {
            assert_eq!(
                r.retry_after(),
                Some(Duration::from_secs(20)),
                "30 s from when it opened"
            )
        }
        other => panic!("still open, got {other:?}"),
    }
    advance(Duration::from_secs(20)).await;
    assert_eq!(
        open_call(false).await,
        Ok(()),
        "the trial after the new open_for"
    );
    assert_eq!(b.state(), State::Closed);
}

#[circuit_breaker(name = "cfg-bad", failure_threshold = 4)]
async fn bad_call() -> Result<(), ApiError> {
    Err(ApiError::Unavailable)
}

/// The sentence the attribute and the `const` builder give for a value.
fn sentence(build: fn() -> BreakerPolicy) -> String {
    let panic = std::panic::catch_unwind(build).expect_err("refused");
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_bad_file_changes_nothing_and_reports_every_problem_at_once() {
    let _serial = SERIAL.lock().await;
    let _ = bad_call().await;
    toml("[circuit_breaker.cfg-bad]\nfailure_threshold = 2\n")
        .apply()
        .unwrap();
    let error = Config::from_toml(
        r#"
[circuit_braker.cfg-bad]
failure_threshold = 3

[circuit_breaker.cfg-bad]
failure_threshold = 0
failure_treshold = 3
open_for = "30 s"

[bulkhead.cfg-bad]
max_concurrent = "8"
"#,
    )
    .unwrap_err();
    let problems: Vec<_> = error
        .problems()
        .iter()
        .map(|p| (p.path.as_str(), p.line))
        .collect();
    assert_eq!(
        problems,
        [
            ("circuit_braker", Some(2)),
            ("circuit_breaker.cfg-bad.failure_threshold", Some(6)),
            ("circuit_breaker.cfg-bad.failure_treshold", Some(7)),
            ("circuit_breaker.cfg-bad.open_for", Some(8)),
            ("bulkhead.cfg-bad.max_concurrent", Some(11)),
        ]
    );
    let message = |path: &str| {
        error
            .problems()
            .iter()
            .find(|p| p.path == path)
            .unwrap()
            .message
            .clone()
    };
    assert!(message("circuit_braker").contains("did you mean `circuit_breaker`?"));
    assert!(
        message("circuit_breaker.cfg-bad.failure_treshold")
            .contains("did you mean `failure_threshold`?")
    );
    assert!(message("circuit_breaker.cfg-bad.open_for").contains("without spaces"));
    assert!(
        message("bulkhead.cfg-bad.max_concurrent")
            .contains("write `max_concurrent = 8`, without quotes")
    );
    // The attribute's sentence, word for word.
    assert_eq!(
        message("circuit_breaker.cfg-bad.failure_threshold"),
        sentence(|| BreakerPolicy::new().failure_threshold(0))
    );

    // Well-formed, but more than the running instance can take in place
    // (a rate rule on a consecutive breaker): the whole file is refused,
    // its bulkhead table too.
    let pool = registry::get_or_register("cfg-bad", || Bulkhead::named("cfg-bad", 2));
    let refused = toml(
        "[bulkhead.cfg-bad]\nmax_concurrent = 9\n\n[circuit_breaker.cfg-bad]\nfailure_rate = 0.5\n",
    )
    .apply()
    .unwrap_err();
    assert_eq!(refused.problems().len(), 1, "{refused}");
    assert_eq!(refused.problems()[0].line, Some(5));
    assert!(
        refused.problems()[0]
            .message
            .contains("keeps its trip rule")
    );
    assert_eq!(
        pool.max_concurrent(),
        2,
        "nothing of the refused file applied"
    );
    assert_eq!(breaker("cfg-bad").policy().get_failure_threshold(), Some(2));
}

#[retry(
    name = "cfg.precedence-env",
    max_attempts = 2,
    backoff = "fixed",
    base = "1ms"
)]
async fn precedence_call(calls: &AtomicU64) -> Result<(), ApiError> {
    calls.fetch_add(1, SeqCst);
    Err(ApiError::Unavailable)
}

async fn attempts() -> u64 {
    let calls = AtomicU64::new(0);
    let _ = precedence_call(&calls).await;
    calls.load(SeqCst)
}

#[tokio::test(start_paused = true)]
async fn the_environment_beats_the_file_which_beats_the_attribute() {
    let _serial = SERIAL.lock().await;
    assert_eq!(attempts().await, 2, "the attribute");
    let file = toml("[retry.\"cfg.precedence-env\"]\nmax_attempts = 3\n");
    file.apply().unwrap();
    assert_eq!(attempts().await, 3, "the file");
    // A shell cannot write `.` or `-` in a name: they are `_`.
    let env = Config::from_vars([(
        "RESILIENCE_RETRY__CFG_PRECEDENCE_ENV__MAX_ATTEMPTS".to_string(),
        "4".to_string(),
    )])
    .unwrap();
    file.clone().overlay(env).apply().unwrap();
    assert_eq!(attempts().await, 4, "the environment");
    assert_eq!(
        registry::get::<Retry>("cfg.precedence-env")
            .unwrap()
            .policy()
            .get_max_attempts(),
        4
    );
    let bad = Config::from_vars([(
        "RESILIENCE_RETRY__CFG_PRECEDENCE_ENV__MAX_ATEMPTS".to_string(),
        "0".to_string(),
    )])
    .unwrap_err();
    assert_eq!(
        bad.problems()[0].variable.as_deref(),
        Some("RESILIENCE_RETRY__CFG_PRECEDENCE_ENV__MAX_ATEMPTS")
    );
    assert!(
        bad.problems()[0]
            .message
            .contains("did you mean `max_attempts`?")
    );
    Config::default().apply().unwrap();
    assert_eq!(attempts().await, 2, "the attribute again");
}

static INSIDE: AtomicU64 = AtomicU64::new(0);
static MOST_INSIDE: AtomicU64 = AtomicU64::new(0);
static BODY_RUNS: AtomicU64 = AtomicU64::new(0);

#[circuit_breaker(name = "cfg-storm", failure_threshold = 3, open_for = "2ms")]
#[bulkhead(name = "cfg-storm", max_concurrent = 4, max_wait = "5ms")]
async fn storm_call(i: u64) -> Result<(), ApiError> {
    BODY_RUNS.fetch_add(1, SeqCst);
    let now = INSIDE.fetch_add(1, SeqCst) + 1;
    MOST_INSIDE.fetch_max(now, SeqCst);
    tokio::task::yield_now().await;
    INSIDE.fetch_sub(1, SeqCst);
    if i.is_multiple_of(7) {
        Err(ApiError::Unavailable)
    } else {
        Ok(())
    }
}

/// Reload `i`'s limits: bulkhead permits, failures in a row, `open_for`.
fn storm_limits(i: u64) -> (u64, u32, Duration) {
    (
        1 + i % 8,
        2 + (i % 5) as u32,
        Duration::from_millis(1 + i % 3),
    )
}

fn storm_config(i: u64) -> Config {
    let (permits, threshold, open_for) = storm_limits(i);
    toml(&format!(
        "[bulkhead.cfg-storm]\nmax_concurrent = {permits}\n\n[circuit_breaker.cfg-storm]\nfailure_threshold = {threshold}\nopen_for = \"{}ms\"\n",
        open_for.as_millis()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_storm_loses_no_call_permit_or_trial() {
    let _serial = SERIAL.lock().await;
    let (ok, failed, rejected) = (
        std::sync::Arc::new(AtomicU64::new(0)),
        std::sync::Arc::new(AtomicU64::new(0)),
        std::sync::Arc::new(AtomicU64::new(0)),
    );
    let mut tasks = Vec::new();
    for task in 0..8u64 {
        let (ok, failed, rejected) = (ok.clone(), failed.clone(), rejected.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..250u64 {
                match storm_call(task * 1000 + n).await {
                    Ok(()) => ok.fetch_add(1, SeqCst),
                    Err(ApiError::Unavailable) => failed.fetch_add(1, SeqCst),
                    Err(ApiError::Rejected(_)) => rejected.fetch_add(1, SeqCst),
                };
            }
        }));
    }
    let reloads = tokio::spawn(async {
        for i in 0..=99 {
            storm_config(i).apply().unwrap();
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    });
    for task in tasks {
        task.await.unwrap();
    }
    reloads.await.unwrap();
    let (ok, failed, rejected) = (ok.load(SeqCst), failed.load(SeqCst), rejected.load(SeqCst));
    assert_eq!(ok + failed + rejected, 8 * 250, "every call counted once");
    assert_eq!(
        BODY_RUNS.load(SeqCst),
        ok + failed,
        "every admitted call ran once"
    );
    assert!(
        MOST_INSIDE.load(SeqCst) <= 8,
        "never above the largest limit"
    );
    let pool = registry::get::<Bulkhead>("cfg-storm").unwrap();
    let s = pool.snapshot();
    let (permits, threshold, open_for) = storm_limits(99);
    let permits = permits as usize;
    assert_eq!(
        (s.max_concurrent, s.in_use, s.available, s.waiting),
        (permits, 0, permits, 0),
        "the last limit, no permit outstanding"
    );
    let b = breaker("cfg-storm");
    assert_eq!(b.snapshot().trials_in_flight, 0, "no trial outstanding");
    let last = b.policy();
    assert_eq!(last.get_failure_threshold(), Some(threshold));
    assert_eq!(last.get_open_for(), open_for);
}

#[test]
fn a_watched_file_is_reloaded_when_it_changes_and_a_bad_change_is_refused() {
    let _serial = SERIAL.blocking_lock();
    let dir = std::env::temp_dir().join(format!("resilience-config-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("resilience.toml");
    let b = registry::get_or_register("cfg-watch", || {
        CircuitBreaker::named("cfg-watch", BreakerPolicy::new().failure_threshold(5))
    });
    std::fs::write(
        &path,
        "[circuit_breaker.cfg-watch]\nfailure_threshold = 2\n",
    )
    .unwrap();
    let watcher = resilience::config::watch(&path).unwrap();
    assert_eq!(
        b.policy().get_failure_threshold(),
        Some(2),
        "applied at once"
    );

    // Waits, boundedly, for what the watcher is expected to do.
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    std::fs::write(
        &path,
        "[circuit_breaker.cfg-watch]\nfailure_threshold = 3\n",
    )
    .unwrap();
    wait_for("the reload", &|| {
        b.policy().get_failure_threshold() == Some(3)
    });
    assert!(watcher.reloads() >= 1);

    std::fs::write(
        &path,
        "[circuit_breaker.cfg-watch]\nfailure_threshold = 0\n",
    )
    .unwrap();
    wait_for("the refusal", &|| watcher.refused() >= 1);
    assert_eq!(
        b.policy().get_failure_threshold(),
        Some(3),
        "the bad file changed nothing"
    );
    drop(watcher);
    Config::default().apply().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(start_paused = true)]
async fn a_reload_keeps_a_bulkheads_permits_a_limiters_turns_and_a_budgets_counts() {
    let _serial = SERIAL.lock().await;
    let pool = registry::get_or_register("cfg-kept", || Bulkhead::named("cfg-kept", 2));
    let limiter = registry::get_or_register("cfg-kept", || {
        RateLimiter::named("cfg-kept", 2, Duration::from_secs(1))
    });
    let retry = registry::get_or_register("cfg-kept", || {
        Retry::named("cfg-kept", RetryPolicy::new()).budgeted(RetryBudget::new(0.5, 0))
    });
    let (a, b) = (pool.try_acquire().unwrap(), pool.try_acquire().unwrap());
    assert!(limiter.check().is_ok() && limiter.check().is_ok());
    let budget = retry.budget().unwrap();
    for _ in 0..10 {
        budget.record_call();
    }
    toml(
        "[bulkhead.cfg-kept]\nmax_concurrent = 1\n\n[rate_limiter.cfg-kept]\nrate = 10\nburst = 10\n\n[retry.cfg-kept]\nbudget = 0.1\nmin_retries_per_sec = 0\n",
    )
    .apply()
    .unwrap();

    // Both permits still held; the limit of 1 admits only once both end.
    assert_eq!(pool.snapshot().in_use, 2);
    drop(a);
    assert!(pool.try_acquire().is_none(), "one call inside a limit of 1");
    drop(b);
    let c = pool.try_acquire().expect("under the new limit");
    assert!(pool.try_acquire().is_none());
    drop(c);
    assert_eq!(pool.snapshot().available, 1);

    // The second the two calls claimed stays claimed, freed at 10/s.
    let refused = limiter.check().unwrap_err();
    assert_eq!(refused.retry_after(), Some(Duration::from_millis(100)));

    // The ten calls counted before the reload allow 10 × 0.1 = 1 retry.
    assert!(budget.try_retry());
    assert!(!budget.try_retry());
    Config::default().apply().unwrap();
}

/// A word that is none of an option's choices is refused with the
/// attribute's sentence, from a file and from the environment alike (it
/// was once dropped in silence, leaving the attribute's value in force).
#[test]
fn an_unknown_choice_word_is_refused_with_the_attributes_sentence() {
    let error = Config::from_toml("[retry.cfg-words]\nbackoff = \"expo\"\njitter = \"half\"\n")
        .unwrap_err();
    let problems: Vec<_> = error
        .problems()
        .iter()
        .map(|p| (p.path.as_str(), p.line, p.message.as_str()))
        .collect();
    assert_eq!(
        problems,
        [
            (
                "retry.cfg-words.backoff",
                Some(2),
                "unknown backoff `expo` (did you mean \"exp\"?): use one of \"fixed\", \"linear\", \"exp\", \"decorrelated\""
            ),
            (
                "retry.cfg-words.jitter",
                Some(3),
                "unknown jitter `half`: use one of \"full\", \"equal\", \"none\""
            ),
        ]
    );
    let env = Config::from_vars([(
        "RESILIENCE_RETRY__CFG_WORDS__BACKOFF".to_owned(),
        "expo".to_owned(),
    )])
    .unwrap_err();
    assert_eq!(env.problems().len(), 1, "{env}");
    assert!(
        env.problems()[0]
            .message
            .starts_with("unknown backoff `expo` (did you mean \"exp\"?)"),
        "{env}"
    );
    // The words themselves still pass.
    Config::from_toml("[retry.cfg-words]\nbackoff = \"linear\"\njitter = \"equal\"\n").unwrap();
}
