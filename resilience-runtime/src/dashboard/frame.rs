//! The JSON of one frame: every instance as the registry lists it, with
//! its health and last few events. The page, `snapshot.json` and the
//! stream all read this one shape.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::events::Event;
use crate::health::{self, Status};
use crate::registry::{self, Instance, Kind, Scope};

/// How many events each card keeps.
pub(crate) const EVENTS_PER_INSTANCE: usize = 5;

/// An event and when the dashboard saw it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Stamped {
    /// Wall-clock milliseconds since the Unix epoch (the page shows the time).
    pub(crate) at: u64,
    /// The event, tagged by `"event"`.
    pub(crate) detail: Event,
}

/// The last few events of each instance, keyed by layer and name.
#[derive(Debug, Default)]
pub(crate) struct Recent {
    by_instance: HashMap<(String, String), VecDeque<Stamped>>,
    /// Events the subscription dropped because the dashboard fell behind.
    lagged: u64,
}

/// The layer whose card shows `event`, and the instance name: a private
/// instance's name is its function's, shared by each layer of that
/// function, so the layer decides the card.
fn owners(event: &Event) -> Vec<(&'static str, &str)> {
    match event {
        Event::StateTransition { name, .. } => vec![(Kind::CircuitBreaker.as_str(), name)],
        Event::CallRejected { layer, name, .. } => vec![(group(*layer), name)],
        Event::Retry { name, .. } | Event::RetriesExhausted { name, .. } => {
            vec![(Kind::Retry.as_str(), name)]
        }
        Event::Timeout { name, .. } => vec![(group(Kind::Timeout), name)],
        Event::HedgeStarted { name, .. } => vec![(Kind::Hedge.as_str(), name)],
        Event::FallbackUsed { name, .. } => vec![(Kind::Fallback.as_str(), name)],
        Event::StaleServed { name, .. } => vec![(Kind::StaleCache.as_str(), name)],
        Event::FaultInjected { name, .. } => vec![(Kind::Chaos.as_str(), name)],
        Event::ConfigReloaded { changed, .. } => changed
            .iter()
            .filter_map(|c| c.split_once('.'))
            .filter_map(|(kind, name)| Some((kind_str(kind)?, name)))
            .collect(),
        // Events added later show on no card until this learns them.
        #[allow(unreachable_patterns)]
        _ => Vec::new(),
    }
}

/// The card group of a layer: both kinds of timeout report `Timeout`.
fn group(kind: Kind) -> &'static str {
    match kind {
        Kind::AdaptiveTimeout => Kind::Timeout.as_str(),
        other => other.as_str(),
    }
}

fn kind_str(kind: &str) -> Option<&'static str> {
    [
        Kind::CircuitBreaker,
        Kind::Retry,
        Kind::Timeout,
        Kind::AdaptiveTimeout,
        Kind::Bulkhead,
        Kind::RateLimiter,
        Kind::Hedge,
        Kind::Fallback,
        Kind::StaleCache,
        Kind::Chaos,
        Kind::AdaptiveConcurrency,
        Kind::FleetRateLimiter,
    ]
    .into_iter()
    .find(|k| k.as_str() == kind)
    .map(group)
}

fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Recent {
    /// Adds the events drained since the last frame; `lagged` is the
    /// subscription's running count of dropped events.
    pub(crate) fn absorb(&mut self, events: Vec<Event>, lagged: u64) {
        self.lagged = lagged;
        let at = unix_millis(SystemTime::now());
        for event in events {
            for (kind, name) in owners(&event) {
                let ring = self
                    .by_instance
                    .entry((kind.to_owned(), name.to_owned()))
                    .or_default();
                if ring.len() == EVENTS_PER_INSTANCE {
                    ring.pop_front();
                }
                ring.push_back(Stamped {
                    at,
                    detail: event.clone(),
                });
            }
        }
    }

    /// The last events of the card of `kind` and `name`, oldest first.
    pub(crate) fn of(&self, kind: Kind, name: &str) -> Option<&VecDeque<Stamped>> {
        // Borrowed lookups of a tuple key need an owned key; a frame does
        // this once per instance, off every call's path.
        self.by_instance
            .get(&(group(kind).to_owned(), name.to_owned()))
    }
}

#[derive(Serialize)]
struct Card<'a> {
    #[serde(flatten)]
    instance: Instance,
    status: Status,
    reason: Option<&'static str>,
    events: Vec<&'a Stamped>,
}

#[derive(Serialize)]
struct Frame<'a> {
    /// Frame number, from 1.
    seq: u64,
    /// Milliseconds since the dashboard started, on tokio's clock: what
    /// the page computes rates against.
    t_ms: u64,
    /// Wall-clock milliseconds since the Unix epoch, for display.
    at: u64,
    /// The worst status of any instance.
    status: Status,
    /// Events the dashboard missed because it fell behind.
    lagged_events: u64,
    instances: Vec<Card<'a>>,
}

/// The JSON of one frame.
pub(crate) fn build(seq: u64, elapsed: Duration, recent: &Recent) -> String {
    let health = health::health();
    let judged: HashMap<(Kind, &str, Scope), (Status, Option<&'static str>)> = health
        .instances
        .iter()
        .map(|i| ((i.kind, i.name.as_str(), i.scope), (i.status, i.reason)))
        .collect();
    let instances = registry::instances()
        .into_iter()
        .map(|instance| {
            // An instance registered between the two walks is Up until the
            // next frame.
            let (status, reason) = judged
                .get(&(instance.kind, instance.name.as_str(), instance.scope))
                .copied()
                .unwrap_or((Status::Up, None));
            let events = recent
                .of(instance.kind, &instance.name)
                .map(|ring| ring.iter().collect())
                .unwrap_or_default();
            Card {
                instance,
                status,
                reason,
                events,
            }
        })
        .collect();
    let frame = Frame {
        seq,
        t_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        at: unix_millis(SystemTime::now()),
        status: health.status,
        lagged_events: recent.lagged,
        instances,
    };
    // Every field is a plain value, string or derived `Serialize`: this
    // cannot fail.
    serde_json::to_string(&frame).unwrap_or_else(|e| format!(r#"{{"error":"{e}"}}"#))
}
