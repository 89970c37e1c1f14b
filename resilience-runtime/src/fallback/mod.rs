//! `#[fallback]`: the degradation ladder, and its built-in stale cache.

#[cfg(feature = "stale-cache")]
mod stale_cache;

#[cfg(feature = "stale-cache")]
pub use stale_cache::{StaleCache, StaleCacheSnapshot};
