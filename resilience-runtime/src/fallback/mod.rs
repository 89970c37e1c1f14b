//! `#[fallback]`: the degradation ladder, and its built-in stale cache.

#[cfg(feature = "stale-cache")]
mod stale_cache;

#[cfg(feature = "stale-cache")]
pub use stale_cache::{StaleCache, StaleCacheSnapshot};

/// Records that a call failed and fallback level `level` (1 for the first)
/// is being tried; emits a `tracing` event with the instance name.
///
/// ```
/// resilience_runtime::fallback::entering("recommendations", 1);
/// ```
#[cold]
pub fn entering(name: &str, level: usize) {
    tracing::info!(
        name,
        level,
        "resilience: call failed, trying fallback level"
    );
}
