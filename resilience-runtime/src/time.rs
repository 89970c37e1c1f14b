//! Every timer of the runtime, and every deadline, is made here.
//!
//! Two reasons for one place. A call polled outside a Tokio runtime (or in
//! one built without its time driver) would otherwise panic deep in tokio
//! ("there is no reactor running"), naming neither this crate nor the fix.
//! And `Instant + Duration` panics on overflow (`Duration::MAX` is a
//! natural way to write "no limit"): deadlines saturate here, as
//! `tokio::time::sleep` does.
//!
//! Timers are made only when a call waits, so the runtime check is off the
//! hot path.

use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// The layer making a timer, as a user reads it in the panic message.
pub(crate) type Layer = &'static str;

pub(crate) const TIMEOUT: Layer = "`#[timeout]` (`Timeout`, `AdaptiveTimeout`)";
pub(crate) const RETRY: Layer = "`#[retry]` (`Retry`)";
pub(crate) const HEDGE: Layer = "`#[hedge]` (`Hedge`)";
pub(crate) const BULKHEAD: Layer = "`#[bulkhead]` (`Bulkhead`)";
pub(crate) const ADAPTIVE_CONCURRENCY: Layer = "`#[adaptive_concurrency]` (`AdaptiveConcurrency`)";
pub(crate) const RATE_LIMITER: Layer = "`#[rate_limiter]` (`RateLimiter`)";
#[cfg(feature = "chaos")]
pub(crate) const CHAOS: Layer = "`#[chaos]` (`Chaos`)";

/// About 30 years: the deadline of a wait that never ends (what tokio uses
/// for `sleep(Duration::MAX)`).
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `now + duration`, or a far-future instant where that overflows.
pub(crate) fn deadline(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

/// `tokio::time::sleep`, with a panic that names this crate and the fix.
#[track_caller]
pub(crate) fn sleep(duration: Duration, layer: Layer) -> Sleep {
    sleep_until(deadline(Instant::now(), duration), layer)
}

/// `tokio::time::sleep_until`, with a panic that names this crate and the
/// fix.
#[track_caller]
pub(crate) fn sleep_until(deadline: Instant, layer: Layer) -> Sleep {
    if tokio::runtime::Handle::try_current().is_err() {
        outside_runtime(layer);
    }
    // Inside a runtime, tokio still panics at once if it was built without
    // its time driver; it has no way to ask, so catch and restate.
    // Any other panic (a runtime shutting down) goes on as tokio raised it.
    match panic::catch_unwind(AssertUnwindSafe(|| tokio::time::sleep_until(deadline))) {
        Ok(sleep) => sleep,
        Err(payload) => restate(payload, layer),
    }
}

/// Tokio's "timers are disabled" as this crate's sentence with the fix;
/// any other panic as it was raised.
#[cold]
#[inline(never)]
#[track_caller]
fn restate(payload: Box<dyn std::any::Any + Send>, layer: Layer) -> ! {
    if says_timers_are_disabled(&*payload) {
        timers_disabled(layer)
    }
    panic::resume_unwind(payload)
}

/// Whether a panic's message is tokio's "timers are disabled".
fn says_timers_are_disabled(payload: &(dyn std::any::Any + Send)) -> bool {
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
    message.is_some_and(|m| m.contains("timers are disabled"))
}

#[cold]
#[inline(never)]
#[track_caller]
fn outside_runtime(layer: Layer) -> ! {
    panic!(
        "resilience: {layer} was polled outside a Tokio runtime; it needs one with the time driver enabled: \
         run it under `#[tokio::main]` or `#[tokio::test]`, or in a runtime built with \
         `tokio::runtime::Builder::enable_time()` (or `enable_all()`)"
    )
}

#[cold]
#[inline(never)]
#[track_caller]
fn timers_disabled(layer: Layer) -> ! {
    panic!(
        "resilience: {layer} needs a Tokio runtime with the time driver enabled, and this one was built without it: \
         add `enable_time()` (or `enable_all()`) to its `tokio::runtime::Builder`"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_saturate_instead_of_overflowing() {
        let now = Instant::now();
        let far = deadline(now, Duration::MAX);
        assert!(far >= now + FAR_FUTURE);
        // A wait that never ends stays pending for decades, not a year.
        assert!(far.duration_since(now) >= Duration::from_secs(30 * 365 * 86_400));
        assert_eq!(
            deadline(now, Duration::from_secs(1)),
            now + Duration::from_secs(1)
        );
    }

    #[test]
    #[should_panic(
        expected = "resilience: `#[retry]` (`Retry`) was polled outside a Tokio runtime"
    )]
    fn a_timer_outside_a_runtime_names_the_crate_and_the_fix() {
        drop(sleep(Duration::from_secs(1), RETRY));
    }

    #[test]
    fn only_tokios_timers_are_disabled_panic_is_restated() {
        let other = panic::catch_unwind(|| restate(Box::new("a runtime shutting down"), RETRY))
            .unwrap_err();
        assert_eq!(
            other.downcast_ref::<&str>(),
            Some(&"a runtime shutting down")
        );
        let tokios = String::from(
            "A Tokio 1.x context was found, but timers are disabled. Call `enable_time` on the runtime builder to enable timers.",
        );
        let ours = panic::catch_unwind(|| restate(Box::new(tokios), RETRY)).unwrap_err();
        let ours = ours.downcast_ref::<String>().expect("a formatted message");
        assert!(ours.contains("add `enable_time()`"), "{ours}");
    }

    #[test]
    #[should_panic(expected = "add `enable_time()` (or `enable_all()`)")]
    fn a_timer_in_a_runtime_without_time_names_the_fix() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            drop(sleep(Duration::from_secs(1), RETRY));
        });
    }
}
