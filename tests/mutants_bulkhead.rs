//! `Bulkhead` without the macro, and its named sites (issue 22, mutation
//! testing): the settings and counts a user reads, a reload that grows or
//! shrinks it under load, and that a waiter dropped from the queue leaves
//! nothing behind. Time runs on tokio's paused clock.

use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience::{Bulkhead, Rejection, bulkhead, registry};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Polls `f` once with a waker that does nothing.
fn poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// (available, in use, waiting).
fn occupancy(b: &Bulkhead) -> (usize, usize, usize) {
    let s = b.snapshot();
    (s.available, s.in_use, s.waiting)
}

#[test]
fn a_bulkhead_reports_its_settings() {
    let b = Bulkhead::new("mb-settings", 3)
        .max_wait(ms(50))
        .max_queue(4);
    assert_eq!(b.name(), "mb-settings");
    assert_eq!(b.max_concurrent(), 3);
    assert_eq!(b.get_max_wait(), ms(50));
    assert_eq!(b.get_max_queue(), Some(4));
    assert_eq!(b.snapshot().max_concurrent, 3);
    assert_eq!(occupancy(&b), (3, 0, 0));

    let unbounded = Bulkhead::named(String::from("mb-defaults"), 2);
    assert_eq!(unbounded.name(), "mb-defaults");
    assert_eq!(unbounded.get_max_wait(), Duration::ZERO);
    assert_eq!(unbounded.get_max_queue(), None);
}

#[tokio::test(start_paused = true)]
async fn a_rejection_names_its_bulkhead_and_is_counted() {
    let b = Bulkhead::named("mb-refusing", 1);
    let _held = b.try_acquire().unwrap();
    let err = b.call(async { Ok::<_, Rejection>(()) }).await.unwrap_err();
    assert_eq!(err.name(), "mb-refusing");
    assert!(matches!(err, Rejection::BulkheadFull { .. }));
    let s = b.snapshot();
    assert_eq!((s.rejected, s.calls.rejected), (1, 1));
}

/// A reload that grows the bulkhead lets more calls in at once; one that
/// shrinks it while calls are inside keeps counting them as in use until
/// they leave, and then holds only the new limit.
#[tokio::test(start_paused = true)]
async fn a_reload_grows_and_shrinks_the_bulkhead_under_load() {
    let b = Bulkhead::new("mb-reload", 1);
    b.reconfigure(3, ms(20), Some(5));
    assert_eq!(
        (b.max_concurrent(), b.get_max_wait(), b.get_max_queue()),
        (3, ms(20), Some(5))
    );
    let held: Vec<_> = (0..3)
        .map(|_| b.try_acquire().expect("grown to 3"))
        .collect();
    assert!(b.try_acquire().is_none());
    assert_eq!(occupancy(&b), (0, 3, 0));

    b.reconfigure(1, Duration::ZERO, None);
    assert_eq!(b.get_max_queue(), None);
    let s = b.snapshot();
    assert_eq!((s.max_concurrent, s.available, s.in_use), (1, 0, 3));
    drop(held);
    assert_eq!(occupancy(&b), (1, 0, 0));
    let one = b.try_acquire().expect("one permit left");
    assert!(b.try_acquire().is_none(), "shrunk to 1");
    drop(one);

    // Back up to 2 after the shrink: two permits, none owed.
    b.reconfigure(2, Duration::ZERO, None);
    let two: Vec<_> = (0..2)
        .map(|_| b.try_acquire().expect("grown to 2"))
        .collect();
    assert!(b.try_acquire().is_none());
    assert_eq!(occupancy(&b), (0, 2, 0));
    drop(two);
}

/// A waiter dropped before its turn leaves the queue: the permit freed
/// next goes to the next caller, not to the waiter that left.
#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_leaves_the_queue_and_takes_no_permit() {
    let b = Bulkhead::new("mb-dropped", 1).max_wait(Duration::from_secs(1));
    let held = b.try_acquire().unwrap();
    {
        let acquire = pin!(b.acquire());
        assert!(poll_once(acquire).is_pending());
        assert_eq!(occupancy(&b), (0, 1, 1));
    }
    assert_eq!(occupancy(&b), (0, 1, 0), "the dropped acquire left");
    {
        let call = pin!(b.call(async { Ok::<_, Rejection>(()) }));
        assert!(poll_once(call).is_pending());
        assert_eq!(occupancy(&b), (0, 1, 1));
    }
    assert_eq!(occupancy(&b), (0, 1, 0), "the dropped call left");
    drop(held);
    assert_eq!(occupancy(&b), (1, 0, 0));
    assert!(b.try_acquire().is_some());
}

#[bulkhead(name = "mb-shared", max_concurrent = 2, max_wait = "10ms")]
async fn site_a() -> Result<(), Rejection> {
    Ok(())
}

#[bulkhead(name = "mb-shared", max_concurrent = 2, max_wait = "10ms")]
async fn site_b() -> Result<(), Rejection> {
    Ok(())
}

#[bulkhead(
    name = "mb-shared",
    max_concurrent = 2,
    max_wait = "10ms",
    max_queue = 3
)]
async fn site_conflicting() -> Result<(), Rejection> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn sites_with_other_settings_are_recorded_as_conflicts() {
    let conflicts = || {
        registry::entries()
            .into_iter()
            .find(|e| e.kind == "bulkhead" && e.name == "mb-shared")
            .expect("registered")
            .conflicts
    };
    site_a().await.unwrap();
    site_b().await.unwrap();
    assert_eq!(conflicts(), 0, "the same settings are the same instance");
    site_conflicting().await.unwrap();
    assert_eq!(conflicts(), 1);
}
