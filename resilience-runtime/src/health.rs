//! `resilience::health()`: Up / Degraded / Down for every instance, and
//! for the process, from the registry's snapshots.
//!
//! A circuit breaker that is open, forced open or half-open is
//! `Degraded`; one that you have asked to [`fail_when_open`] is `Down`
//! then instead (as resilience4j's `allowHealthIndicatorToFail`). A
//! bulkhead with no free permit and callers waiting is `Degraded`. Every
//! other instance is `Up`. The overall status is the worst of them.
//!
//! ```
//! use resilience::breaker::{BreakerPolicy, CircuitBreaker};
//! use resilience::health::{self, Status};
//! use resilience::registry;
//!
//! let b = registry::get_or_register("doc-health", || CircuitBreaker::named("doc-health", BreakerPolicy::new()));
//! b.force_open();
//! let h = resilience::health();
//! let mine = h.instances.iter().find(|i| i.name == "doc-health").unwrap();
//! assert_eq!(mine.status, Status::Degraded);
//! assert!(h.status >= Status::Degraded);
//!
//! health::fail_when_open("doc-health");
//! let mine = resilience::health().instances.into_iter().find(|i| i.name == "doc-health").unwrap();
//! assert_eq!(mine.status, Status::Down);
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use crate::breaker::State;
use crate::registry::{self, Kind, Scope, Snapshot};

/// How an instance, or the whole process, is doing. Ordered from best to
/// worst, so the overall status is the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "UPPERCASE"))]
pub enum Status {
    /// Working normally.
    Up,
    /// Working, but shedding calls (an open breaker, a full bulkhead).
    Degraded,
    /// Failing, where you asked for it ([`fail_when_open`]).
    Down,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Up => "UP",
            Status::Degraded => "DEGRADED",
            Status::Down => "DOWN",
        })
    }
}

/// One instance's health.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct InstanceHealth {
    /// The layer.
    pub kind: Kind,
    /// The instance name.
    pub name: String,
    /// Named or private.
    pub scope: Scope,
    /// Its status.
    pub status: Status,
    /// Why, when not `Up` (`"circuit open"`).
    pub reason: Option<&'static str>,
}

/// The health of every instance, and overall (see [`health`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Health {
    /// The worst status of any instance (`Up` with none).
    pub status: Status,
    /// Every instance, as [`registry::instances`] lists them.
    pub instances: Vec<InstanceHealth>,
}

static FAIL_WHEN_OPEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Reports the circuit breaker `name` as `Down`, not `Degraded`, while it
/// is open, forced open or half-open: for a dependency without which the
/// service cannot work, so that a load balancer takes it out.
///
/// ```
/// resilience::health::fail_when_open("payments");
/// ```
pub fn fail_when_open(name: impl Into<String>) {
    FAIL_WHEN_OPEN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name.into());
}

/// Every instance's status now, and the overall one.
///
/// ```
/// let h = resilience::health();
/// assert_eq!(h.status, h.instances.iter().map(|i| i.status).max().unwrap_or(resilience::health::Status::Up));
/// ```
pub fn health() -> Health {
    let fail = FAIL_WHEN_OPEN
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let instances: Vec<InstanceHealth> = registry::instances()
        .into_iter()
        .map(|i| {
            let (status, reason) = judge(&i.snapshot, fail.contains(&i.name));
            InstanceHealth {
                kind: i.kind,
                name: i.name,
                scope: i.scope,
                status,
                reason,
            }
        })
        .collect();
    Health {
        status: instances
            .iter()
            .map(|i| i.status)
            .max()
            .unwrap_or(Status::Up),
        instances,
    }
}

fn judge(snapshot: &Snapshot, fail_when_open: bool) -> (Status, Option<&'static str>) {
    let shedding = if fail_when_open {
        Status::Down
    } else {
        Status::Degraded
    };
    match snapshot {
        Snapshot::CircuitBreaker(b) => match b.state {
            State::Open => (shedding, Some("circuit open")),
            State::ForcedOpen => (shedding, Some("circuit forced open")),
            State::HalfOpen => (shedding, Some("circuit half-open")),
            _ => (Status::Up, None),
        },
        Snapshot::Bulkhead(b) if b.available == 0 && b.waiting > 0 => {
            (Status::Degraded, Some("bulkhead full, callers waiting"))
        }
        #[cfg(feature = "redis")]
        Snapshot::FleetRateLimiter(f) if f.on_fallback => (
            Status::Degraded,
            Some("Redis unreachable, on_store_error applies"),
        ),
        _ => (Status::Up, None),
    }
}
