//! `#[bulkhead]`: at most N calls inside at once, FIFO waiters, permits that
//! never leak. Time runs paused: nothing here really sleeps.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience::{Bulkhead, Rejection, bulkhead, registry};
use tokio::task::yield_now;
use tokio::time::{Instant, sleep};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Lets every spawned task run until it waits.
async fn settle() {
    for _ in 0..8 {
        yield_now().await;
    }
}

fn is_full(result: &Result<impl Sized, Rejection>) -> bool {
    matches!(result, Err(Rejection::BulkheadFull { .. }))
}

#[bulkhead(max_concurrent = 2)]
async fn two_at_a_time(hold: Duration) -> Result<Duration, Rejection> {
    sleep(hold).await;
    Ok(hold)
}

#[tokio::test(start_paused = true)]
async fn the_call_past_max_concurrent_is_rejected_at_once() {
    let a = tokio::spawn(two_at_a_time(ms(1000)));
    let b = tokio::spawn(two_at_a_time(ms(1000)));
    settle().await;
    let start = Instant::now();
    let third = two_at_a_time(ms(0)).await;
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "no max_wait: refused without waiting"
    );
    let Err(Rejection::BulkheadFull { name, .. }) = third else {
        panic!("expected BulkheadFull, got {third:?}")
    };
    assert_eq!(name, "bulkhead::two_at_a_time");
    assert_eq!(a.await.unwrap(), Ok(ms(1000)));
    assert_eq!(b.await.unwrap(), Ok(ms(1000)));
    assert_eq!(two_at_a_time(ms(0)).await, Ok(ms(0)), "permits are back");
}

#[bulkhead(max_concurrent = 1, max_wait = "100ms")]
async fn waits_100ms(hold: Duration) -> Result<(), Rejection> {
    sleep(hold).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_waiter_gets_in_when_a_permit_frees_within_max_wait() {
    let holder = tokio::spawn(waits_100ms(ms(60)));
    settle().await;
    let start = Instant::now();
    assert_eq!(waits_100ms(ms(0)).await, Ok(()));
    assert_eq!(
        start.elapsed(),
        ms(60),
        "admitted the moment the holder left"
    );
    holder.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_waiter_is_rejected_when_no_permit_frees_within_max_wait() {
    let holder = tokio::spawn(waits_100ms(ms(250)));
    settle().await;
    let start = Instant::now();
    assert!(is_full(&waits_100ms(ms(0)).await));
    assert_eq!(start.elapsed(), ms(100), "gave up exactly at max_wait");
    holder.await.unwrap().unwrap();
}

#[bulkhead(max_concurrent = 1, max_wait = "1s", max_queue = 2)]
async fn queue_of_two(hold: Duration) -> Result<(), Rejection> {
    sleep(hold).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn max_queue_bounds_the_waiters() {
    let holder = tokio::spawn(queue_of_two(ms(100)));
    settle().await;
    let waiters: Vec<_> = (0..2)
        .map(|_| tokio::spawn(queue_of_two(ms(100))))
        .collect();
    settle().await;
    let start = Instant::now();
    assert!(
        is_full(&queue_of_two(ms(0)).await),
        "a third waiter is one too many"
    );
    assert_eq!(start.elapsed(), Duration::ZERO, "refused without queueing");
    holder.await.unwrap().unwrap();
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap(), Ok(()), "queued waiters are served");
    }
}

#[bulkhead(max_concurrent = 1, max_wait = "10s")]
async fn logged(id: u32, log: Arc<Mutex<Vec<u32>>>) -> Result<(), Rejection> {
    log.lock().unwrap().push(id);
    sleep(ms(10)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn waiters_are_admitted_first_in_first_out() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for id in 0..6 {
        tasks.push(tokio::spawn(logged(id, log.clone())));
        // Each caller reaches the bulkhead before the next one is spawned.
        settle().await;
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(*log.lock().unwrap(), [0, 1, 2, 3, 4, 5]);
}

struct Service {
    bulkhead: Bulkhead,
}

impl Service {
    #[bulkhead(with = self.bulkhead)]
    async fn work(&self, hold: Duration, fail: bool) -> Result<u32, Rejection> {
        sleep(hold).await;
        assert!(!fail, "the body panicked");
        Ok(1)
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_gives_its_permit_back() {
    let service = Service {
        bulkhead: Bulkhead::new("svc", 1),
    };
    let cancelled = tokio::time::timeout(ms(10), service.work(ms(1000), false)).await;
    assert!(
        cancelled.is_err(),
        "the call was cancelled by the outer timeout"
    );
    assert_eq!(service.bulkhead.snapshot().in_use, 0);
    assert_eq!(service.work(ms(0), false).await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn an_aborted_task_gives_its_permit_back() {
    static SERVICE: Service = Service {
        bulkhead: Bulkhead::new("aborted", 1),
    };
    let task = tokio::spawn(SERVICE.work(ms(1000), false));
    settle().await;
    assert_eq!(SERVICE.bulkhead.snapshot().in_use, 1);
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(SERVICE.bulkhead.snapshot().in_use, 0);
    assert_eq!(SERVICE.work(ms(0), false).await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_the_body_gives_its_permit_back() {
    static SERVICE: Service = Service {
        bulkhead: Bulkhead::new("panics", 1),
    };
    let task = tokio::spawn(SERVICE.work(ms(5), true));
    let error = task.await.unwrap_err();
    assert!(error.is_panic(), "the body's panic reaches the JoinHandle");
    assert_eq!(SERVICE.bulkhead.snapshot().in_use, 0);
    assert_eq!(SERVICE.work(ms(0), false).await, Ok(1));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_before_admission_never_holds_a_permit() {
    let shared = Arc::new(Bulkhead::new("dropped-waiter", 1).max_wait(ms(1000)));
    let permit_holder = {
        let shared = shared.clone();
        tokio::spawn(async move {
            shared
                .call(async {
                    sleep(ms(50)).await;
                    Ok::<_, Rejection>(())
                })
                .await
        })
    };
    settle().await;
    // Queue a waiter, then drop it before the holder leaves.
    let gave_up = tokio::time::timeout(ms(20), shared.call(async { Ok::<_, Rejection>(()) })).await;
    assert!(gave_up.is_err());
    assert_eq!(shared.snapshot().waiting, 0);
    permit_holder.await.unwrap().unwrap();
    let s = shared.snapshot();
    assert_eq!((s.in_use, s.waiting, s.available), (0, 0, 1));
}

#[bulkhead(name = "shared-db", max_concurrent = 1)]
async fn read_user(hold: Duration) -> Result<(), Rejection> {
    sleep(hold).await;
    Ok(())
}

#[bulkhead(name = "shared-db", max_concurrent = 1)]
async fn write_user(hold: Duration) -> Result<(), Rejection> {
    sleep(hold).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_named_bulkhead_counts_calls_of_every_function_naming_it() {
    let reader = tokio::spawn(read_user(ms(100)));
    settle().await;
    let refused = write_user(ms(0)).await;
    let Err(Rejection::BulkheadFull { name, .. }) = refused else {
        panic!("expected BulkheadFull, got {refused:?}")
    };
    assert_eq!(name, "shared-db");
    let entry = registry::entries()
        .into_iter()
        .find(|e| e.name == "shared-db")
        .unwrap();
    assert_eq!((entry.kind, entry.conflicts), ("bulkhead", 0));
    reader.await.unwrap().unwrap();
    assert_eq!(write_user(ms(0)).await, Ok(()));
}

#[bulkhead(max_concurrent = 2, max_wait = "50ms")]
async fn hanging_service() -> Result<(), Rejection> {
    std::future::pending().await
}

#[bulkhead(max_concurrent = 2)]
async fn healthy_service() -> Result<&'static str, Rejection> {
    sleep(ms(5)).await;
    Ok("fine")
}

#[tokio::test(start_paused = true)]
async fn one_hanging_service_fills_only_its_own_bulkhead() {
    let hung: Vec<_> = (0..2).map(|_| tokio::spawn(hanging_service())).collect();
    settle().await;
    let start = Instant::now();
    let (hanging, healthy) = tokio::join!(hanging_service(), healthy_service());
    assert!(is_full(&hanging), "the hanging service's pool is full");
    assert_eq!(healthy, Ok("fine"), "the healthy service is not affected");
    assert_eq!(start.elapsed(), ms(50));
    let start = Instant::now();
    for _ in 0..3 {
        assert_eq!(healthy_service().await, Ok("fine"));
    }
    assert_eq!(start.elapsed(), ms(15), "no waiting on the hanging pool");
    for task in hung {
        task.abort();
    }
}

#[bulkhead(max_concurrent = 4)]
async fn io_call() -> std::io::Result<u8> {
    Ok(4)
}

#[bulkhead(max_concurrent = 4)]
async fn anyhow_call() -> anyhow::Result<u8> {
    Ok(5)
}

#[tokio::test]
async fn error_types_with_from_rejection_work_as_they_are() {
    assert_eq!(io_call().await.unwrap(), 4);
    assert_eq!(anyhow_call().await.unwrap(), 5);
}

#[tokio::test(start_paused = true)]
async fn works_without_macros() {
    let b = Bulkhead::new("plain", 1);
    let permit = b.acquire().await.unwrap();
    assert!(is_full(&b.call(async { Ok::<_, Rejection>(()) }).await));
    drop(permit);
    assert_eq!(b.call(async { Ok::<_, Rejection>(3) }).await, Ok(3));
    assert_eq!(b.snapshot().rejected, 1);
}

#[test]
fn futures_stay_send() {
    fn assert_send<T: Send>(_: T) {}
    assert_send(two_at_a_time(ms(1)));
    assert_send(
        Service {
            bulkhead: Bulkhead::new("s", 1),
        }
        .work(ms(1), false),
    );
}

#[resilience::retry(max_attempts = 3, backoff = "fixed", base = "10ms")]
#[bulkhead(max_concurrent = 1, max_wait = "6ms")]
async fn retried_when_full(hold: Duration) -> Result<(), Rejection> {
    sleep(hold).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn retry_above_a_bulkhead_retries_a_full_bulkhead() {
    let holder = tokio::spawn(retried_when_full(ms(20)));
    settle().await;
    let start = Instant::now();
    // Attempt 1 waits 6ms and is refused; 10ms later attempt 2 queues and
    // gets the permit when the holder leaves at 20ms.
    assert_eq!(retried_when_full(ms(0)).await, Ok(()));
    assert_eq!(start.elapsed(), ms(20));
    holder.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_real_contention_never_more_than_max_concurrent_inside() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    static BULKHEAD: Bulkhead = Bulkhead::new("stress", 3).max_wait(Duration::from_secs(60));
    static INSIDE: AtomicUsize = AtomicUsize::new(0);
    static MOST: AtomicUsize = AtomicUsize::new(0);

    let tasks: Vec<_> = (0..16)
        .map(|_| {
            tokio::spawn(async {
                for _ in 0..500 {
                    BULKHEAD
                        .call(async {
                            let now = INSIDE.fetch_add(1, Ordering::SeqCst) + 1;
                            MOST.fetch_max(now, Ordering::SeqCst);
                            yield_now().await;
                            INSIDE.fetch_sub(1, Ordering::SeqCst);
                            Ok::<_, Rejection>(())
                        })
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(
        MOST.load(Ordering::SeqCst) <= 3,
        "{} inside at once",
        MOST.load(Ordering::SeqCst)
    );
    let s = BULKHEAD.snapshot();
    assert_eq!((s.in_use, s.waiting, s.rejected), (0, 0, 0));
}
