//! The process-wide registry of named instances (`name = "…"`).

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

/// An instance type that can be shared by name across functions.
pub trait Registrable: Send + Sync + 'static {
    /// The layer, as users write it: `"retry"`, `"circuit_breaker"`, ….
    const KIND: &'static str;

    /// Whether `other` was configured the same way. Two call sites naming
    /// one instance with different settings are a conflict: the first
    /// configuration wins, and the conflict is recorded and logged.
    fn same_settings(&self, other: &Self) -> bool;
}

/// One named instance, as the registry lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Entry {
    /// The layer kind, e.g. `"retry"`.
    pub kind: &'static str,
    /// The instance name.
    pub name: String,
    /// How many call sites asked for it with settings other than the first.
    pub conflicts: usize,
}

struct Slot {
    kind: &'static str,
    instance: Arc<dyn Any + Send + Sync>,
    conflicts: usize,
}

type Map = HashMap<(TypeId, Cow<'static, str>), Slot>;

fn map() -> MutexGuard<'static, Map> {
    static MAP: OnceLock<Mutex<Map>> = OnceLock::new();
    // A panic while holding the lock cannot leave the map half-written
    // (every write is a single insert or counter bump), so poison is ignored.
    MAP.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// The instance of type `T` registered under `name`, created by `make` if
/// there is none yet.
///
/// If one exists with different settings than `make()` would give, the
/// existing one is returned, the conflict is counted in [`entries`], and a
/// `tracing` warning names the instance.
///
/// ```
/// use resilience::{registry, Timeout};
/// use std::time::Duration;
///
/// let a = registry::get_or_register("doc-search", || Timeout::named("doc-search", Duration::from_secs(1)));
/// let b = registry::get_or_register("doc-search", || Timeout::named("doc-search", Duration::from_secs(9)));
/// assert!(std::sync::Arc::ptr_eq(&a, &b));
/// assert_eq!(b.duration(), Duration::from_secs(1)); // the first configuration wins
/// ```
pub fn get_or_register<T: Registrable>(
    name: impl Into<Cow<'static, str>>,
    make: impl FnOnce() -> T,
) -> Arc<T> {
    let key = (TypeId::of::<T>(), name.into());
    // Issue 14 (config): the configuration in force governs the instance
    // from its creation (and the one built only to compare with it).
    #[cfg(feature = "config")]
    let make = || crate::config::govern(&key.1, make());
    let mut map = map();
    if let Some(slot) = map.get_mut(&key) {
        let existing = Arc::clone(&slot.instance)
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("registry slots are keyed by TypeId"));
        if !existing.same_settings(&make()) {
            slot.conflicts += 1;
            tracing::warn!(
                kind = T::KIND,
                name = %key.1,
                "resilience: two call sites configure this named instance differently; the first configuration wins"
            );
        }
        return existing;
    }
    let instance = Arc::new(make());
    map.insert(
        key,
        Slot {
            kind: T::KIND,
            instance: instance.clone(),
            conflicts: 0,
        },
    );
    instance
}

/// The instance of type `T` registered under `name`, if there is one.
///
/// ```
/// use resilience::{registry, Timeout};
/// use std::time::Duration;
///
/// registry::get_or_register("doc-lookup", || Timeout::named("doc-lookup", Duration::from_secs(1)));
/// assert!(registry::get::<Timeout>("doc-lookup").is_some());
/// assert!(registry::get::<Timeout>("doc-nobody").is_none());
/// ```
pub fn get<T: Registrable>(name: &str) -> Option<Arc<T>> {
    let key = (TypeId::of::<T>(), Cow::Owned(name.to_owned()));
    let instance = Arc::clone(&map().get(&key)?.instance);
    Some(
        instance
            .downcast::<T>()
            .unwrap_or_else(|_| unreachable!("registry slots are keyed by TypeId")),
    )
}

/// Every named instance, sorted by kind and name (for a health endpoint).
///
/// ```
/// use resilience::{registry, Timeout};
/// use std::time::Duration;
///
/// registry::get_or_register("doc-entries", || Timeout::named("doc-entries", Duration::from_secs(1)));
/// assert!(registry::entries().iter().any(|e| e.kind == "timeout" && e.name == "doc-entries"));
/// ```
pub fn entries() -> Vec<Entry> {
    let mut all: Vec<Entry> = map()
        .iter()
        .map(|((_, name), slot)| Entry {
            kind: slot.kind,
            name: name.to_string(),
            conflicts: slot.conflicts,
        })
        .collect();
    all.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    all
}

/// A call site's handle on a named instance: looks the registry up once,
/// then every call is a single atomic load.
///
/// ```
/// use resilience::{registry::NamedSlot, Timeout};
/// use std::time::Duration;
///
/// static SLOT: NamedSlot<Timeout> = NamedSlot::new();
/// let t = SLOT.get("doc-slot", || Timeout::named("doc-slot", Duration::from_secs(2)));
/// assert_eq!(t.duration(), Duration::from_secs(2));
/// ```
#[derive(Debug)]
pub struct NamedSlot<T>(OnceLock<Arc<T>>);

impl<T: Registrable> NamedSlot<T> {
    /// An empty slot, for a `static`.
    ///
    /// ```
    /// # use resilience::{registry::NamedSlot, Timeout};
    /// static SLOT: NamedSlot<Timeout> = NamedSlot::new();
    /// ```
    pub const fn new() -> Self {
        NamedSlot(OnceLock::new())
    }

    /// The registered instance, registering it on first use.
    ///
    /// ```
    /// # use resilience::{registry::NamedSlot, Timeout};
    /// # use std::time::Duration;
    /// static SLOT: NamedSlot<Timeout> = NamedSlot::new();
    /// let first = SLOT.get("doc-get", || Timeout::named("doc-get", Duration::from_secs(1)));
    /// assert_eq!(first.name(), "doc-get");
    /// ```
    pub fn get(&self, name: &'static str, make: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(|| get_or_register(name, make))
    }
}

impl<T: Registrable> Default for NamedSlot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl Registrable for crate::Timeout {
    const KIND: &'static str = "timeout";
    fn same_settings(&self, other: &Self) -> bool {
        self.duration() == other.duration()
    }
}

impl Registrable for crate::Retry {
    const KIND: &'static str = "retry";
    fn same_settings(&self, other: &Self) -> bool {
        self.policy() == other.policy()
            && self.budget().map(|b| (b.ratio(), b.min_per_sec()))
                == other.budget().map(|b| (b.ratio(), b.min_per_sec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timeout;
    use std::time::Duration;

    #[test]
    fn conflicting_settings_keep_the_first_and_are_counted() {
        let a = get_or_register("reg-test", || {
            Timeout::named("reg-test", Duration::from_secs(1))
        });
        let same = get_or_register("reg-test", || {
            Timeout::named("reg-test", Duration::from_secs(1))
        });
        assert!(Arc::ptr_eq(&a, &same));
        let entry = |e: &Entry| e.name == "reg-test";
        assert_eq!(
            entries().iter().find(|e| entry(e)).map(|e| e.conflicts),
            Some(0)
        );
        let other = get_or_register("reg-test", || {
            Timeout::named("reg-test", Duration::from_secs(5))
        });
        assert_eq!(other.duration(), Duration::from_secs(1));
        assert_eq!(
            entries().iter().find(|e| entry(e)).map(|e| e.conflicts),
            Some(1)
        );
    }
}
