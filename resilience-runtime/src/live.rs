//! Policy values a reload may change in place (issue 14): each one word,
//! read with a relaxed load, as cheap as the plain field it replaces. They
//! are `std`'s atomics even under loom: they stay `const`-constructible,
//! and no engine's correctness depends on how a reload interleaves with a
//! call (a call reads each value once, the old or the new one).

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Nanoseconds of `d`, saturating at `u64::MAX` (584 years).
pub(crate) const fn nanos(d: Duration) -> u64 {
    let n = d.as_nanos();
    if n > u64::MAX as u128 {
        u64::MAX
    } else {
        n as u64
    }
}

/// A duration, in nanoseconds.
pub(crate) struct LiveDuration(AtomicU64);

impl LiveDuration {
    /// The value, in a `const` builder (which owns the instance).
    pub(crate) const fn into_inner(self) -> Duration {
        Duration::from_nanos(self.0.into_inner())
    }

    pub(crate) const fn new(d: Duration) -> Self {
        LiveDuration(AtomicU64::new(nanos(d)))
    }

    #[inline]
    pub(crate) fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(Relaxed))
    }

    /// The value in nanoseconds, as stored (saturated at `u64::MAX`): for
    /// a hot path that needs the word, not a `Duration` built and taken
    /// apart again (a timeout's deadline scope).
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub(crate) fn get_nanos(&self) -> u64 {
        self.0.load(Relaxed)
    }

    pub(crate) fn set(&self, d: Duration) {
        self.0.store(nanos(d), Relaxed);
    }
}

/// An optional duration: nanoseconds + 1, 0 for `None`.
pub(crate) struct LiveOption(AtomicU64);

impl LiveOption {
    pub(crate) const fn new(d: Option<Duration>) -> Self {
        LiveOption(AtomicU64::new(Self::encode(d)))
    }

    const fn encode(d: Option<Duration>) -> u64 {
        match d {
            Some(d) => nanos(d).saturating_add(1),
            None => 0,
        }
    }

    #[inline]
    pub(crate) fn is_some(&self) -> bool {
        self.0.load(Relaxed) != 0
    }

    #[inline]
    pub(crate) fn get(&self) -> Option<Duration> {
        match self.0.load(Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n - 1)),
        }
    }

    pub(crate) fn set(&self, d: Option<Duration>) {
        self.0.store(Self::encode(d), Relaxed);
    }
}

/// A number.
pub(crate) struct LiveF64(AtomicU64);

impl LiveF64 {
    pub(crate) const fn new(x: f64) -> Self {
        LiveF64(AtomicU64::new(x.to_bits()))
    }

    #[inline]
    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }

    pub(crate) fn set(&self, x: f64) {
        self.0.store(x.to_bits(), Relaxed);
    }
}

/// A count.
pub(crate) struct LiveU32(AtomicU32);

impl LiveU32 {
    /// The value, in a `const` builder (which owns the instance).
    pub(crate) const fn into_inner(self) -> u32 {
        self.0.into_inner()
    }

    pub(crate) const fn new(n: u32) -> Self {
        LiveU32(AtomicU32::new(n))
    }

    #[inline]
    pub(crate) fn get(&self) -> u32 {
        self.0.load(Relaxed)
    }

    pub(crate) fn set(&self, n: u32) {
        self.0.store(n, Relaxed);
    }
}

/// A word: a count or a packed value.
pub(crate) struct LiveU64(AtomicU64);

impl LiveU64 {
    /// The value, in a `const` builder (which owns the instance).
    pub(crate) const fn into_inner(self) -> u64 {
        self.0.into_inner()
    }

    pub(crate) const fn new(n: u64) -> Self {
        LiveU64(AtomicU64::new(n))
    }

    #[inline]
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    pub(crate) fn set(&self, n: u64) {
        self.0.store(n, Relaxed);
    }
}

/// `Debug` and `Clone` by the value held.
macro_rules! debug_as_value {
    ($($ty:ty),*) => {$(
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.get(), f)
            }
        }

        impl Clone for $ty {
            fn clone(&self) -> Self {
                <$ty>::new(self.get())
            }
        }
    )*};
}

debug_as_value!(LiveDuration, LiveOption, LiveF64, LiveU32, LiveU64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        let d = LiveOption::new(None);
        assert_eq!(d.get(), None);
        d.set(Some(Duration::ZERO));
        assert_eq!(d.get(), Some(Duration::ZERO));
        d.set(Some(Duration::MAX));
        assert!(d.is_some());
        let x = LiveF64::new(0.25);
        x.set(0.5);
        assert_eq!(x.get(), 0.5);
        let t = LiveDuration::new(Duration::from_millis(3));
        assert_eq!(t.get(), Duration::from_millis(3));
    }
}
