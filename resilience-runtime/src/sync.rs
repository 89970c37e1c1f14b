//! The synchronisation types of the runtime's engines (breaker,
//! bulkhead, rate limiter, retry budget, latency window, adaptive timeout):
//! `std`'s, or loom's under `--cfg resilience_loom` so the model checker
//! sees every access.
//!
//! (Not `cfg(loom)`: tokio reacts to that name and would need loom too.)

#[cfg(resilience_loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(resilience_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};
#[cfg(not(resilience_loom))]
pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(not(resilience_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// `pub const fn` normally, a plain `pub fn` under loom, whose atomics
/// cannot be built in a `const` context.
macro_rules! const_unless_loom {
    ($(#[$meta:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(resilience_loom))]
        $(#[$meta])* $vis const fn $($rest)*
        #[cfg(resilience_loom)]
        $(#[$meta])* $vis fn $($rest)*
    };
}
pub(crate) use const_unless_loom;
