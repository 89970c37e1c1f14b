//! `#[adaptive_concurrency]` as a user sees it, on tokio's paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use resilience::{
    AdaptiveConcurrency, Classify, LimitAlgorithm, Outcome, Rejection, adaptive_concurrency,
};

static INSIDE: AtomicUsize = AtomicUsize::new(0);

#[adaptive_concurrency(algorithm = "aimd", min = 1, initial = 1, max = 4)]
async fn one_at_a_time() -> Result<(), Rejection> {
    INSIDE.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(10)).await;
    INSIDE.fetch_sub(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn at_the_limit_a_call_is_refused_as_transient_with_a_retry_after() {
    let (a, b) = tokio::join!(one_at_a_time(), one_at_a_time());
    let refused = [a, b]
        .into_iter()
        .find_map(Result::err)
        .expect("one of two refused");
    assert!(
        matches!(refused, Rejection::ConcurrencyLimited { .. }),
        "{refused}"
    );
    assert!(matches!(
        refused.classify(),
        Outcome::Transient { retry_after: Some(d) } if d > Duration::ZERO
    ));
    assert!(refused.to_string().contains("one_at_a_time"), "{refused}");
}

struct Request {
    priority: u8,
}

static SHARED: AdaptiveConcurrency = AdaptiveConcurrency::new("shared", LimitAlgorithm::Vegas)
    .min(1)
    .initial(1)
    .max(1)
    .max_wait(Duration::from_millis(100))
    .max_queue(1);

#[adaptive_concurrency(with = SHARED, priority = req.priority)]
async fn handle(req: Request, took: Arc<AtomicUsize>) -> Result<u8, Rejection> {
    tokio::time::sleep(Duration::from_millis(10)).await;
    took.fetch_add(1, Ordering::SeqCst);
    Ok(req.priority)
}

/// The queue holds one waiter: a high-priority call displaces a waiting
/// low one, which is shed and counted under its priority.
#[tokio::test(start_paused = true)]
async fn a_high_priority_call_displaces_a_waiting_low_one() {
    let took = Arc::new(AtomicUsize::new(0));
    let running = tokio::spawn(handle(Request { priority: 0 }, took.clone()));
    tokio::task::yield_now().await;
    let low = tokio::spawn(handle(Request { priority: 1 }, took.clone()));
    tokio::task::yield_now().await;
    let high = tokio::spawn(handle(Request { priority: 7 }, took.clone()));
    assert_eq!(running.await.unwrap(), Ok(0));
    assert!(matches!(
        low.await.unwrap(),
        Err(Rejection::ConcurrencyLimited { .. })
    ));
    assert_eq!(high.await.unwrap(), Ok(7));
    assert_eq!(took.load(Ordering::SeqCst), 2);
    let s = SHARED.snapshot();
    assert_eq!(s.shed_by_priority, vec![(1, 1)]);
    assert_eq!((s.in_flight, s.waiting), (0, 0));
}

#[adaptive_concurrency(algorithm = "aimd", min = 1, initial = 1, max_wait = "50ms")]
async fn waits(ms: u64) -> Result<(), Rejection> {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(())
}

/// A call at the limit waits up to `max_wait`, and a cancelled call gives
/// its place back.
#[tokio::test(start_paused = true)]
async fn waits_up_to_max_wait_and_a_cancelled_call_gives_its_place_back() {
    let start = tokio::time::Instant::now();
    let (a, b) = tokio::join!(waits(20), waits(20));
    assert_eq!((a, b), (Ok(()), Ok(())));
    assert_eq!(
        start.elapsed(),
        Duration::from_millis(40),
        "the second waited its turn"
    );
    let (a, b) = tokio::join!(waits(200), waits(1));
    assert!(a.is_ok());
    assert!(b.is_err(), "no place within 50ms");
    // Cancelled mid-call: the place is free again.
    let _ = tokio::time::timeout(Duration::from_millis(5), waits(1000)).await;
    assert_eq!(waits(1).await, Ok(()));
}
