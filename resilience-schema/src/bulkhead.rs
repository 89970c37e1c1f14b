//! `#[bulkhead]`, `Bulkhead`.

use std::time::Duration;

use crate::{Check, Fallback, Kind, Problem, collect, count_in, nonzero, written};

/// The largest `max_concurrent`: the runtime's limit (`usize::MAX / 2`) on
/// the smallest target, 32 bits.
pub const MAX_PERMITS: u64 = (u32::MAX >> 1) as u64;
/// How long a caller waits for a permit: not at all.
pub const MAX_WAIT: Duration = Duration::ZERO;

crate::options! {
    /// `#[bulkhead]`'s options as written (`None`: the default).
    max_concurrent: u64, Kind::Count { min: 1, max: u64::MAX }, Fallback::Unset, "Calls allowed inside at once (required; at most 2147483647).";
    max_wait: Duration, Kind::Duration, Fallback::Duration(MAX_WAIT), "How long a caller may wait for a permit; zero: refused at once.";
    max_queue: u64, Kind::Count { min: 1, max: u64::MAX }, Fallback::Unset, "With `max_wait`: callers allowed to wait at once; unset: no bound.";
}

impl Settings {
    /// Every rule the settings break.
    pub fn problems(&self) -> Vec<Problem> {
        collect([
            match self.max_concurrent {
                None => Err(Problem::whole(
                    "`#[bulkhead]` needs `max_concurrent`, the number of calls allowed inside at once, e.g. `#[bulkhead(max_concurrent = 10)]`",
                )),
                Some(n) => check_max_concurrent(n),
            },
            written(self.max_queue, |q| check_max_queue(q, self.max_wait)),
        ])
    }
}

/// 1 to [`MAX_PERMITS`].
pub const fn check_max_concurrent(n: u64) -> Check {
    count_in(
        "max_concurrent",
        n,
        MAX_PERMITS,
        "`max_concurrent = 0` would refuse every call: allow at least 1 call inside at once",
        "`max_concurrent` can be at most 2147483647; for no limit, remove `#[bulkhead]`",
    )
}

/// `max_queue` bounds waiting callers: it needs a positive `max_wait`, and
/// at least 1 place.
pub const fn check_max_queue(max_queue: u64, max_wait: Option<Duration>) -> Check {
    match max_wait {
        None => Err(Problem::at(
            "max_queue",
            "`max_queue` bounds the callers waiting for a permit, but there is no `max_wait`, so no caller waits: add `max_wait = \"100ms\"` (how long a caller may wait) or remove `max_queue`",
        )),
        Some(wait) if wait.is_zero() => Err(Problem::at(
            "max_queue",
            "`max_queue` bounds the callers waiting for a permit, but `max_wait` is zero, so no caller waits: add `max_wait = \"100ms\"` (how long a caller may wait) or remove `max_queue`",
        )),
        Some(_) => nonzero(
            "max_queue",
            max_queue,
            "`max_queue = 0` lets no caller wait, which contradicts `max_wait`: allow at least 1 waiter, or remove `max_wait` and `max_queue` to refuse at once",
        ),
    }
}
