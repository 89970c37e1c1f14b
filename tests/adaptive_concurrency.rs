//! `#[adaptive_concurrency]` as a user sees it, on tokio's paused clock.

#[path = "support/tracing_capture.rs"]
mod tracing_capture;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use resilience::{
    AdaptiveConcurrency, Classify, LimitAlgorithm, Outcome, Rejection, adaptive_concurrency,
};
use tracing_capture::Capture;

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

async fn ten_ms() -> Result<(), Rejection> {
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}

/// A limiter with one place, where a call at the limit waits up to 100 ms.
fn one_place(name: &'static str) -> AdaptiveConcurrency {
    AdaptiveConcurrency::new(name, LimitAlgorithm::Aimd)
        .min(1)
        .initial(1)
        .max(1)
        .max_wait(Duration::from_millis(100))
}

/// Without `max_queue` every call at the limit waits its turn; with it, a
/// call that finds the queue full is refused at once.
#[tokio::test(start_paused = true)]
async fn the_queue_is_unbounded_by_default_and_max_queue_bounds_it() {
    let l = one_place("unbounded");
    let start = tokio::time::Instant::now();
    let (a, b, c) = tokio::join!(
        l.call(0, ten_ms()),
        l.call(0, ten_ms()),
        l.call(0, ten_ms())
    );
    assert_eq!((a, b, c), (Ok(()), Ok(()), Ok(())));
    assert_eq!(start.elapsed(), Duration::from_millis(30), "one at a time");

    let l = one_place("bounded").max_queue(2);
    let start = tokio::time::Instant::now();
    let (a, b, c, d) = tokio::join!(
        l.call(0, ten_ms()),
        l.call(0, ten_ms()),
        l.call(0, ten_ms()),
        l.call(0, ten_ms())
    );
    assert_eq!((a, b, c), (Ok(()), Ok(()), Ok(())), "two waited");
    assert!(
        matches!(d, Err(Rejection::ConcurrencyLimited { .. })),
        "{d:?}"
    );
    assert_eq!(start.elapsed(), Duration::from_millis(30));
}

/// A limiter named at run time reports that name, and its rejections
/// carry it.
#[tokio::test(start_paused = true)]
async fn a_limiter_named_at_run_time_reports_its_name_and_so_do_its_rejections() {
    let host = "eu-1";
    let l = AdaptiveConcurrency::named(format!("api@{host}"), LimitAlgorithm::Aimd)
        .min(1)
        .initial(1)
        .max(1);
    assert_eq!(l.name(), "api@eu-1");
    let _held = l.try_acquire(0).expect("a place");
    let refused = l.call(0, ten_ms()).await.unwrap_err();
    assert_eq!(refused.name(), l.name());
}

/// The limit is updated once a window has passed and at least 10 calls
/// ended in it: the 10th call past the window closes it, and the snapshot
/// then shows the window's mean latency.
#[tokio::test(start_paused = true)]
async fn a_window_closes_at_its_tenth_call() {
    let l = AdaptiveConcurrency::new("ten-calls", LimitAlgorithm::Aimd)
        .initial(4)
        .window(Duration::from_millis(50));
    for _ in 0..9 {
        l.call(0, async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, Rejection>(())
        })
        .await
        .unwrap();
    }
    assert_eq!(l.snapshot().latency, Duration::ZERO, "9 calls: still open");
    l.call(0, async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok::<_, Rejection>(())
    })
    .await
    .unwrap();
    assert_eq!(l.snapshot().latency, Duration::from_millis(20));
}

/// One window of `window_of_ten`'s limiter: ten calls of 20 ms, one after
/// another, the last failed if `fail_last`.
async fn window_of_ten(l: &AdaptiveConcurrency, fail_last: bool) {
    for i in 0..10 {
        let failed = fail_last && i == 9;
        let _ = l
            .call_with(
                0,
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if failed {
                        Err(std::io::Error::other("down"))
                    } else {
                        Ok(())
                    }
                },
                |_| Outcome::Fault,
                std::io::Error::other,
            )
            .await;
    }
}

/// A window that changes the limit logs the change (from, to); one that
/// keeps it logs nothing.
#[tokio::test(start_paused = true)]
async fn a_limit_change_is_logged_and_a_window_that_keeps_the_limit_is_not() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let changes = || {
        capture
            .take("logged-limit")
            .into_iter()
            .filter(|f| {
                f.get("message")
                    .is_some_and(|m| m.contains("limit changed"))
            })
            .collect::<Vec<_>>()
    };
    let l = AdaptiveConcurrency::new("logged-limit", LimitAlgorithm::Aimd)
        .initial(4)
        .window(Duration::from_millis(50));
    // A failure in the window: AIMD backs off, 4 → 3.
    window_of_ten(&l, true).await;
    assert_eq!(l.snapshot().limit, 3);
    let logged = changes();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(
        (logged[0]["from"].as_str(), logged[0]["to"].as_str()),
        ("4", "3")
    );
    // One call at a time of a limit of 3, none failed, none slow: kept.
    window_of_ten(&l, false).await;
    assert_eq!(l.snapshot().limit, 3);
    assert_eq!(changes(), vec![]);
}

/// Polls `f` once; `Some` if it was ready.
fn poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

/// While a call of higher priority waits, lower ones keep to
/// `priority_share` of the limit: half by default, 2 of 4; the least share
/// still lets one in.
#[tokio::test(start_paused = true)]
async fn lower_priorities_keep_to_their_share_while_a_higher_one_waits() {
    for (share, low_at_one_in_flight, low_at_none) in
        [(None, true, true), (Some(0.0001), false, true)]
    {
        let mut l = AdaptiveConcurrency::new("share", LimitAlgorithm::Aimd)
            .min(4)
            .initial(4)
            .max(4)
            .max_wait(Duration::from_secs(1));
        if let Some(share) = share {
            l = l.priority_share(share);
        }
        let mut low: Vec<_> = (0..4).map(|_| l.try_acquire(0).unwrap()).collect();
        let mut high = std::pin::pin!(l.acquire(1));
        assert!(poll_once(high.as_mut()).is_none(), "waits at the limit");
        low.pop();
        let high = poll_once(high.as_mut()).expect("granted").unwrap();
        // In flight: the high call and three low ones. Two low ones end.
        low.truncate(1);
        assert!(
            l.try_acquire(0).is_none(),
            "{share:?}: 2 of 4 in flight, over the low share"
        );
        assert!(
            l.try_acquire(1).is_some(),
            "the waiting priority is not held back"
        );
        low.clear();
        assert_eq!(
            l.try_acquire(0).is_some(),
            low_at_one_in_flight,
            "{share:?}: 1 of 4 in flight"
        );
        drop(high);
        assert_eq!(
            l.try_acquire(0).is_some(),
            low_at_none,
            "{share:?}: none in flight"
        );
    }
}

/// Two call sites that name one limiter with the same settings share it
/// quietly; one with other settings gets the first one's and is counted
/// as a conflict.
#[test]
fn a_named_limiter_built_again_differently_counts_a_conflict() {
    let make = |max| {
        move || {
            AdaptiveConcurrency::named("ac-conflict", LimitAlgorithm::Vegas)
                .max(max)
                .max_wait(Duration::from_millis(5))
        }
    };
    let conflicts = || {
        resilience::registry::entries()
            .into_iter()
            .find(|e| e.name == "ac-conflict")
            .map(|e| e.conflicts)
    };
    let first = resilience::registry::get_or_register("ac-conflict", make(50));
    resilience::registry::get_or_register("ac-conflict", make(50));
    assert_eq!(conflicts(), Some(0), "the same settings");
    let other = resilience::registry::get_or_register("ac-conflict", make(60));
    assert!(Arc::ptr_eq(&first, &other));
    assert_eq!(conflicts(), Some(1), "another max");
}

/// A permit's `failure()` is a failure of its window: AIMD backs off.
#[tokio::test(start_paused = true)]
async fn a_permit_that_failed_makes_the_limit_back_off() {
    for (fail, limit) in [(true, 3), (false, 4)] {
        let l = AdaptiveConcurrency::new("ac-permit-failure", LimitAlgorithm::Aimd)
            .min(1)
            .initial(4)
            .max(8)
            .window(Duration::from_millis(10));
        // A window's calls, one after another: the first fails or not.
        let permit = l.try_acquire(0).unwrap();
        if fail {
            permit.failure();
        } else {
            permit.success();
        }
        for _ in 0..10 {
            l.try_acquire(0).unwrap().success();
        }
        tokio::time::advance(Duration::from_millis(20)).await;
        l.try_acquire(0).unwrap().success(); // closes the window
        assert_eq!(l.snapshot().limit, limit, "failure: {fail}");
    }
}
