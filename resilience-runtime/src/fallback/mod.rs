//! `#[fallback]`: the degradation ladder, and its built-in stale cache.

#[cfg(feature = "stale-cache")]
mod stale_cache;

#[cfg(feature = "stale-cache")]
pub use stale_cache::{StaleCache, StaleCacheSnapshot};

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use crate::registry::{Calls, Description, Kind, Policy, Snapshot};

/// How often each fallback level of one function was tried (see
/// [`registry::instances`](crate::registry::instances), which lists a
/// function's fallback from its first fallback on).
///
/// ```
/// let s = resilience::fallback::FallbackSnapshot::default();
/// assert!(s.levels_used.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FallbackSnapshot {
    /// `levels_used[i]`: calls that reached level `i + 1` (1 is the first
    /// level after the primary call failed).
    pub levels_used: Vec<u64>,
}

impl FallbackSnapshot {
    /// Calls that fell back at all (reached level 1).
    ///
    /// ```
    /// assert_eq!(resilience::fallback::FallbackSnapshot::default().fell_back(), 0);
    /// ```
    pub fn fell_back(&self) -> u64 {
        self.levels_used.first().copied().unwrap_or(0)
    }

    /// Calls by outcome as far as the fallback knows: `failed` counts the
    /// calls whose primary failed (a fallback rejects nothing, and its
    /// primary's successes are not counted, to keep them free).
    ///
    /// ```
    /// assert_eq!(resilience::fallback::FallbackSnapshot::default().calls().failed, 0);
    /// ```
    pub fn calls(&self) -> Calls {
        Calls {
            failed: self.fell_back(),
            ..Calls::default()
        }
    }
}

// Fallbacks have no instance: the levels are code in the annotated
// function. Counted here, by the function's name, on the failure path only.
static USED: Mutex<BTreeMap<&'static str, Vec<u64>>> = Mutex::new(BTreeMap::new());

/// A call of `name` failed so far and tries level `level` (1-based).
#[cold]
pub(crate) fn entering(name: &'static str, level: usize, error: &dyn fmt::Display) {
    {
        let mut used = USED.lock().unwrap_or_else(PoisonError::into_inner);
        let levels = used.entry(name).or_default();
        if levels.len() < level {
            levels.resize(level, 0);
        }
        levels[level - 1] += 1;
    }
    tracing::info!(name, layer = "fallback", level, error = %error, "resilience: call failed, trying fallback level");
    crate::events::emit(|| crate::events::Event::FallbackUsed {
        name: name.to_owned(),
        level,
        error: error.to_string(),
    });
}

/// Every function that fell back so far, for the registry.
pub(crate) fn describe_all() -> Vec<Description> {
    let used = USED.lock().unwrap_or_else(PoisonError::into_inner);
    used.iter()
        .map(|(name, levels)| {
            Description::new(
                Kind::Fallback,
                *name,
                Policy::new(),
                Snapshot::Fallback(FallbackSnapshot {
                    levels_used: levels.clone(),
                }),
            )
        })
        .collect()
}
