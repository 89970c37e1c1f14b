//! `[adaptive_concurrency.<name>]`: the tables of an
//! [`AdaptiveConcurrency`](crate::AdaptiveConcurrency), in the schema's
//! terms (`resilience-schema/src/adaptive_concurrency.rs`, the options'
//! one definition), over the instance's own settings.

use resilience_schema::Options;
use resilience_schema::adaptive_concurrency::{Algorithm, Settings};

use super::Table;

/// `base` with the tables' values on top, in order. A table that changes
/// `algorithm` drops the instance's tuning of its old algorithm (which the
/// new one would refuse as an option of another algorithm), unless the
/// tables write it again.
pub(super) fn overlay(mut base: Settings, tables: &[Table]) -> Settings {
    let entries = || tables.iter().flat_map(|t| &t.entries);
    let written = |key: &str| entries().any(|e| e.key == key);
    let mut probe = base;
    for entry in entries() {
        probe.set(entry.key, &entry.value);
    }
    if probe.algorithm != base.algorithm {
        let to = probe
            .algorithm
            .unwrap_or(resilience_schema::adaptive_concurrency::ALGORITHM);
        if to != Algorithm::Aimd {
            if !written("backoff_ratio") {
                base.backoff_ratio = None;
            }
            if !written("slow_call") {
                base.slow_call = None;
            }
        }
        if to == Algorithm::Vegas && !written("tolerance") {
            base.tolerance = None;
        }
        if to != Algorithm::Gradient2 && !written("smoothing") {
            base.smoothing = None;
        }
    }
    for entry in entries() {
        base.set(entry.key, &entry.value);
    }
    base
}
