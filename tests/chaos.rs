//! `#[chaos]` and scoped fault injection (feature `chaos`), on tokio's
//! paused clock.
#![cfg(feature = "chaos")]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience::chaos::{Fault, Scope};
use resilience::{Rejection, chaos, rng, timeout};
use tokio::time::Instant;

#[derive(Debug, PartialEq)]
enum AppError {
    Rejected(Rejection),
    Own(&'static str),
}

impl From<Rejection> for AppError {
    fn from(r: Rejection) -> Self {
        AppError::Rejected(r)
    }
}

#[chaos(name = "inventory")]
async fn inventory(n: u32) -> Result<u32, AppError> {
    Ok(n)
}

/// Shares the `inventory` instance name, and counts its body's runs.
#[chaos(name = "inventory")]
async fn counted(runs: &AtomicU32) -> Result<u32, AppError> {
    Ok(runs.fetch_add(1, Ordering::SeqCst))
}

#[timeout("1s")]
#[chaos(name = "inventory-behind-timeout")]
async fn guarded() -> Result<u32, AppError> {
    Ok(1)
}

fn injected(result: &Result<u32, AppError>) -> bool {
    matches!(result, Err(AppError::Rejected(Rejection::Injected { name, .. })) if name == "inventory")
}

#[tokio::test(start_paused = true)]
async fn error_fault_fails_without_running_the_body() {
    chaos::scope(async {
        let runs = AtomicU32::new(0);
        let fault = chaos::inject("inventory", Fault::error()).unwrap();
        assert!(injected(&counted(&runs).await));
        assert_eq!(runs.load(Ordering::SeqCst), 0, "the body must not run");
        drop(fault);
        assert_eq!(counted(&runs).await, Ok(0));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn error_fault_with_the_users_own_error() {
    chaos::scope(async {
        let _fault = chaos::inject(
            "inventory",
            Fault::error_with(|| AppError::Own("disk full")),
        )
        .unwrap();
        assert_eq!(inventory(1).await, Err(AppError::Own("disk full")));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn latency_fault_delays_then_runs() {
    chaos::scope(async {
        let _fault =
            chaos::inject("inventory", Fault::latency(Duration::from_millis(200))).unwrap();
        let start = Instant::now();
        assert_eq!(inventory(7).await, Ok(7));
        assert_eq!(start.elapsed(), Duration::from_millis(200));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn hang_fault_is_caught_by_a_timeout() {
    chaos::scope(async {
        let _fault = chaos::inject("inventory-behind-timeout", Fault::hang()).unwrap();
        let start = Instant::now();
        let out = guarded().await;
        assert!(
            matches!(out, Err(AppError::Rejected(Rejection::Timeout { .. }))),
            "{out:?}"
        );
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn panic_fault_panics_the_task() {
    let scope = Scope::new();
    let _fault = scope.inject("inventory", Fault::panic());
    let task = tokio::spawn(scope.enter(inventory(1)));
    assert!(task.await.unwrap_err().is_panic());
}

#[tokio::test(start_paused = true)]
async fn expires_after_a_number_of_calls() {
    chaos::scope(async {
        let _fault = chaos::inject("inventory", Fault::error())
            .unwrap()
            .for_calls(2);
        assert!(injected(&inventory(1).await));
        assert!(injected(&inventory(1).await));
        assert_eq!(inventory(3).await, Ok(3));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn expires_after_a_duration() {
    chaos::scope(async {
        let _fault = chaos::inject("inventory", Fault::error())
            .unwrap()
            .for_duration(Duration::from_secs(5));
        assert!(injected(&inventory(1).await));
        tokio::time::advance(Duration::from_millis(4999)).await;
        assert!(injected(&inventory(1).await));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(inventory(2).await, Ok(2));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropping_the_guard_removes_the_fault() {
    chaos::scope(async {
        let fault = chaos::inject("inventory", Fault::error()).unwrap();
        assert!(injected(&inventory(1).await));
        drop(fault);
        assert_eq!(inventory(4).await, Ok(4));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn the_newest_injection_wins_and_the_older_one_returns() {
    chaos::scope(async {
        let _error = chaos::inject("inventory", Fault::error()).unwrap();
        let latency =
            chaos::inject("inventory", Fault::latency(Duration::from_millis(50))).unwrap();
        assert_eq!(inventory(5).await, Ok(5), "latency, the newest, applies");
        drop(latency);
        assert!(injected(&inventory(5).await));
    })
    .await;
}

#[test]
fn injecting_outside_a_scope_is_refused() {
    assert!(chaos::inject("inventory", Fault::error()).is_err());
}

/// Two tests at once, each in its own scope, both targeting `inventory`:
/// neither sees the other's fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_scopes_do_not_see_each_other() {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let erroring = {
        let barrier = barrier.clone();
        tokio::spawn(chaos::scope(async move {
            let _fault = chaos::inject("inventory", Fault::error()).unwrap();
            barrier.wait().await;
            let mut all_injected = true;
            for _ in 0..100 {
                all_injected &= injected(&inventory(1).await);
                tokio::task::yield_now().await;
            }
            all_injected
        }))
    };
    let clean = tokio::spawn(chaos::scope(async move {
        let _fault = chaos::inject("someone-else", Fault::error()).unwrap();
        barrier.wait().await;
        let mut all_clean = true;
        for _ in 0..100 {
            all_clean &= inventory(2).await == Ok(2);
            tokio::task::yield_now().await;
        }
        all_clean
    }));
    assert!(
        erroring.await.unwrap(),
        "the erroring scope saw a clean call"
    );
    assert!(
        clean.await.unwrap(),
        "the clean scope saw an injected error"
    );
}

#[chaos(
    error_rate = 0.5,
    latency = "100ms",
    latency_rate = 0.5,
    name = "flaky"
)]
async fn flaky() -> Result<(), AppError> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn random_faults_follow_their_rates_and_the_seed() {
    async fn run() -> Vec<(bool, Duration)> {
        let mut outcomes = Vec::new();
        for _ in 0..400 {
            let start = Instant::now();
            let failed = flaky().await.is_err();
            outcomes.push((failed, start.elapsed()));
        }
        outcomes
    }
    let a = rng::with_seed(3, run()).await;
    let b = rng::with_seed(3, run()).await;
    assert_eq!(a, b, "the same seed gives the same faults");
    let errors = a.iter().filter(|(failed, _)| *failed).count();
    let delayed = a
        .iter()
        .filter(|(failed, d)| !failed && *d == Duration::from_millis(100))
        .count();
    assert!(
        (150..=250).contains(&errors),
        "error_rate 0.5 gave {errors}/400"
    );
    // Latency is drawn for calls that did not fail: about half of the rest.
    assert!(
        (60..=140).contains(&delayed),
        "latency_rate 0.5 gave {delayed}/{}",
        400 - errors
    );
}

#[tokio::test(start_paused = true)]
async fn an_injection_for_duration_max_lasts_instead_of_panicking() {
    chaos::scope(async {
        let _fault = chaos::inject("inventory", Fault::error())
            .unwrap()
            .for_duration(Duration::MAX);
        tokio::time::advance(Duration::from_secs(365 * 86_400)).await;
        assert!(injected(&inventory(1).await));
    })
    .await;
}
