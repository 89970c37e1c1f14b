//! The layers a configuration reaches: their tables' keys, the settings
//! of their instances in the schema's terms, and how each is given its
//! new settings (in place, or at creation).

use std::any::Any;
use std::time::Duration;

use resilience_schema::{
    self as schema, Options, Problem, Spec, adaptive_concurrency, bulkhead, circuit_breaker,
    fleet_rate_limiter, parse::closest, rate_limiter, retry, timeout,
};

use super::parse::key_path;
use super::{Config, ConfigProblem, Origin, Table, state};
use crate::breaker::{BreakerPolicy, CircuitBreaker};
use crate::registry;
use crate::{AdaptiveConcurrency, Bulkhead, RateLimiter, Retry, RetryPolicy, Timeout};

/// A layer with instances a configuration can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Layer {
    CircuitBreaker,
    Retry,
    Bulkhead,
    RateLimiter,
    Timeout,
    /// `[fleet_rate_limiter.<name>]`: read by
    /// [`Config::bind_fleet_rate_limiters`](super::Config::bind_fleet_rate_limiters)
    /// (feature `redis`), which builds the limiter; nothing to reconfigure live.
    FleetRateLimiter,
    AdaptiveConcurrency,
}

const LAYERS: [Layer; 7] = [
    Layer::CircuitBreaker,
    Layer::Retry,
    Layer::Bulkhead,
    Layer::RateLimiter,
    Layer::Timeout,
    Layer::FleetRateLimiter,
    Layer::AdaptiveConcurrency,
];

impl Layer {
    /// The table's name: the attribute's.
    pub(super) fn key(self) -> &'static str {
        match self {
            Layer::CircuitBreaker => "circuit_breaker",
            Layer::Retry => "retry",
            Layer::Bulkhead => "bulkhead",
            Layer::RateLimiter => "rate_limiter",
            Layer::Timeout => "timeout",
            Layer::FleetRateLimiter => "fleet_rate_limiter",
            Layer::AdaptiveConcurrency => "adaptive_concurrency",
        }
    }

    pub(super) fn from_key(key: &str) -> Option<Layer> {
        LAYERS.into_iter().find(|l| l.key() == key)
    }

    /// The sentence for a table named after no layer.
    pub(super) fn unknown(key: &str) -> String {
        let known = LAYERS.map(Layer::key);
        let listed = known.map(|k| format!("`{k}`")).join(", ");
        if matches!(key, "hedge" | "chaos" | "fallback" | "stale_cache") {
            return format!(
                "`{key}` instances are not configured from a file yet: set them in the attribute (the layers a file configures are {listed})"
            );
        }
        match closest(key, known) {
            Some(close) => {
                format!("unknown layer `{key}` (did you mean `{close}`?): the layers are {listed}")
            }
            None => format!("unknown layer `{key}`: the layers are {listed}"),
        }
    }

    fn options(self) -> &'static [Spec] {
        match self {
            Layer::CircuitBreaker => circuit_breaker::OPTIONS,
            Layer::Retry => retry::OPTIONS,
            Layer::Bulkhead => bulkhead::OPTIONS,
            Layer::RateLimiter => rate_limiter::OPTIONS,
            Layer::Timeout => timeout::OPTIONS,
            Layer::FleetRateLimiter => fleet_rate_limiter::OPTIONS,
            Layer::AdaptiveConcurrency => adaptive_concurrency::OPTIONS,
        }
    }

    /// The option `key` of a table, or the sentence: unknown (with a
    /// "did you mean"), or an option that is code, not a value.
    pub(super) fn spec(self, key: &str) -> Result<&'static Spec, String> {
        let layer = self.key();
        if let Some(common) = schema::find(schema::common::OPTIONS, key) {
            return Err(format!(
                "`{}` is set in the attribute, not in a file: the table's own name (`[{layer}.<name>]`) is the instance it configures",
                common.key
            ));
        }
        let Some(spec) = schema::find(self.options(), key) else {
            let settable = self.options().iter().filter(|s| settable(s)).map(|s| s.key);
            let listed: Vec<&str> = settable.clone().collect();
            return Err(match closest(key, settable) {
                Some(close) => {
                    format!("unknown option `{key}` of `{layer}` (did you mean `{close}`?)")
                }
                None => format!(
                    "unknown option `{key}` of `{layer}`: the options are {}",
                    listed.join(", ")
                ),
            });
        };
        if self == Layer::Timeout && matches!(key, "quantile" | "multiplier" | "min" | "max") {
            return Err(format!(
                "`{key}` tunes an adaptive timeout, which a file does not configure yet: set it in the attribute (a file sets a fixed timeout's `duration`)"
            ));
        }
        if !settable(spec) {
            return Err(match spec.kind {
                schema::Kind::Path => format!(
                    "`{key}` names a function, which is code: set it in the attribute, e.g. `#[{layer}({})]`",
                    spec.kind.example(key).trim_matches('`')
                ),
                schema::Kind::Expr => format!(
                    "`{key}` is an expression over the call's arguments, which is code: set it in the attribute, e.g. `#[{layer}({key} = req.{key})]`"
                ),
                _ => format!(
                    "`{key}` chooses the kind of instance the attribute builds: set it in the attribute"
                ),
            });
        }
        Ok(spec)
    }
}

/// Whether a file can set this option.
fn settable(spec: &Spec) -> bool {
    !spec.at_call_site && !matches!(spec.kind, schema::Kind::Path | schema::Kind::Flag)
}

/// An instance's settings as its attribute (or builder) gave them, in the
/// schema's terms: what a key a configuration does not mention keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Base {
    CircuitBreaker(circuit_breaker::Settings),
    Retry(retry::Settings),
    Bulkhead(bulkhead::Settings),
    RateLimiter(rate_limiter::Settings),
    Timeout(timeout::Settings),
    AdaptiveConcurrency(adaptive_concurrency::Settings),
}

/// `base` with the tables' values on top, in order.
pub(super) fn overlay<S: Options>(mut settings: S, tables: &[Table]) -> S {
    for entry in tables.iter().flat_map(|t| &t.entries) {
        settings.set(entry.key, &entry.value);
    }
    settings
}

/// A breaker's tables choose its trip rule: written rate options drop the
/// attribute's `failure_threshold`, a written `failure_threshold` drops
/// its rate options.
fn overlay_breaker(
    mut base: circuit_breaker::Settings,
    tables: &[Table],
) -> circuit_breaker::Settings {
    let written = |key: &str| tables.iter().flat_map(|t| &t.entries).any(|e| e.key == key);
    let rate_keys = ["failure_rate", "window", "min_calls", "slow_call_rate"];
    let rate_written = rate_keys.iter().any(|k| written(k));
    if written("failure_threshold") && !rate_written {
        base.failure_rate = None;
        base.window = None;
        base.min_calls = None;
        base.slow_call_rate = None;
    } else if rate_written && !written("failure_threshold") {
        base.failure_threshold = None;
    }
    overlay(base, tables)
}

/// The problems of `tables` for an instance of `layer` with the attribute
/// `base` (`None`: no such instance yet, so the attribute's required
/// options are not asked for); `live`: the instance runs, so also the
/// changes it cannot take in place.
pub(super) fn problems(
    layer: Layer,
    base: Option<&Base>,
    tables: &[Table],
    live: bool,
) -> Vec<ConfigProblem> {
    let (found, of_base, live_found) = match (layer, base) {
        (Layer::CircuitBreaker, base) => {
            let base = match base {
                Some(Base::CircuitBreaker(s)) => *s,
                _ => Default::default(),
            };
            let effective = overlay_breaker(base, tables);
            let mut live_found = Vec::new();
            if live && !same_trip_rule(&base, &effective) {
                live_found.push(Problem::at(
                    tables_key(tables, &["window", "failure_rate", "failure_threshold", "min_calls"]),
                    "a running breaker keeps its trip rule and window (resizing a window in place would lose or invent calls): change the attribute, or keep this in the file for instances created after a restart and drop it for now",
                ));
            }
            (effective.problems(), base.problems(), live_found)
        }
        (Layer::Retry, base) => {
            let base = match base {
                Some(Base::Retry(s)) => *s,
                _ => Default::default(),
            };
            let effective = overlay(base, tables);
            let mut live_found = Vec::new();
            if live && base.budget.is_none() && effective.budget.is_some() {
                live_found.push(Problem::at(
                    "budget",
                    "a running retry instance without a budget cannot get one in place (its calls have not been counted): add `budget` to the attribute",
                ));
            }
            if live && base.budget.is_some() && effective.budget.is_none() {
                live_found.push(Problem::at(
                    "budget",
                    "a running retry budget cannot be removed in place: raise `budget` to 1 to stop limiting retries",
                ));
            }
            (effective.problems(), base.problems(), live_found)
        }
        (Layer::Bulkhead, base) => {
            let base = match base {
                Some(Base::Bulkhead(s)) => *s,
                _ => Default::default(),
            };
            (
                overlay(base, tables).problems(),
                base.problems(),
                Vec::new(),
            )
        }
        (Layer::RateLimiter, base) => {
            let base = match base {
                Some(Base::RateLimiter(s)) => *s,
                _ => Default::default(),
            };
            (
                overlay(base, tables).problems(),
                base.problems(),
                Vec::new(),
            )
        }
        (Layer::Timeout, base) => {
            let base = match base {
                Some(Base::Timeout(s)) => *s,
                _ => Default::default(),
            };
            (
                overlay(base, tables).problems(),
                base.problems(),
                Vec::new(),
            )
        }
        // No attribute: the required options are asked for when the
        // limiter is built from the tables (`bind_fleet_rate_limiters`).
        // Without the `redis` feature nothing builds the limiter: the
        // table is refused rather than read and silently unused.
        (Layer::FleetRateLimiter, _) => (
            overlay(fleet_rate_limiter::Settings::default(), tables).problems(),
            Vec::new(),
            if cfg!(feature = "redis") {
                Vec::new()
            } else {
                vec![Problem::whole(FLEET_WITHOUT_REDIS)]
            },
        ),
        (Layer::AdaptiveConcurrency, base) => {
            let base = match base {
                Some(Base::AdaptiveConcurrency(s)) => *s,
                _ => Default::default(),
            };
            (
                super::adaptive::overlay(base, tables).problems(),
                base.problems(),
                Vec::new(),
            )
        }
    };
    found
        .into_iter()
        // What the attribute alone gets wrong is not the configuration's
        // doing; a required option comes from the attribute.
        .filter(|p| !of_base.contains(p) && (base.is_some() || p.key.is_some()))
        .chain(live_found)
        .map(|p| problem_at(layer, tables, p))
        .collect()
}

/// The sentence for a `[fleet_rate_limiter.<name>]` table in a build
/// without the `redis` feature.
const FLEET_WITHOUT_REDIS: &str = "a fleet rate limiter needs the `redis` feature, which this build lacks: enable it (`resilience = { features = [\"redis\"] }`) or remove this table";

/// The first of `keys` the tables write (the option a problem is about).
fn tables_key(tables: &[Table], keys: &[&'static str]) -> &'static str {
    keys.iter()
        .copied()
        .find(|k| tables.iter().flat_map(|t| &t.entries).any(|e| e.key == *k))
        .unwrap_or(keys[0])
}

fn same_trip_rule(base: &circuit_breaker::Settings, effective: &circuit_breaker::Settings) -> bool {
    let rule = |s: &circuit_breaker::Settings| {
        (
            s.rate_mode(),
            s.rate_mode()
                .then(|| s.window.unwrap_or(circuit_breaker::WINDOW)),
        )
    };
    rule(base) == rule(effective)
}

/// `problem` where the tables wrote its key (the last that did), or at
/// the last table.
pub(super) fn problem_at(layer: Layer, tables: &[Table], problem: Problem) -> ConfigProblem {
    let written = problem.key.and_then(|key| {
        tables.iter().rev().find_map(|t| {
            t.entries
                .iter()
                .rev()
                .find(|e| e.key == key)
                .map(|e| (t, e))
        })
    });
    let table = written.map(|(t, _)| t).or(tables.last());
    let name = table.map_or("", |t| t.name.as_str());
    let (line, variable) = match written.map(|(_, e)| &e.origin) {
        Some(Origin::Line(line)) => (Some(*line), None),
        Some(Origin::Variable(v)) => (None, Some(v.clone())),
        None => (None, None),
    };
    ConfigProblem {
        path: key_path(layer.key(), name, problem.key),
        line,
        variable,
        message: problem.to_string(),
    }
}

/// Gives the instance `name` of `layer` (attribute `base`) the settings
/// `config` gives it, in place.
pub(super) fn reconfigure(layer: Layer, name: &str, base: &Base, config: &Config) {
    let tables: Vec<Table> = config.tables_for(layer, name).cloned().collect();
    let problems = problems(layer, Some(base), &tables, true);
    if !problems.is_empty() {
        // Created between the check and now with an attribute the
        // configuration does not fit: it keeps what it has.
        tracing::warn!(target: "resilience::config", name, problems = ?problems, "resilience: configuration does not fit this instance; it keeps its settings");
        return;
    }
    match *base {
        Base::CircuitBreaker(base) => {
            if let Some(b) = registry::get::<CircuitBreaker>(name) {
                let policy = BreakerPolicy::from_settings(&overlay_breaker(base, &tables));
                let _ = b.reconfigure(policy);
            }
        }
        Base::Retry(base) => {
            if let Some(r) = registry::get::<Retry>(name) {
                let s = overlay(base, &tables);
                r.reconfigure(RetryPolicy::from_settings(&s));
                if let (Some(budget), Some(ratio)) = (r.budget(), s.budget) {
                    budget.reconfigure(
                        ratio,
                        s.min_retries_per_sec.unwrap_or(retry::MIN_RETRIES_PER_SEC),
                    );
                }
            }
        }
        Base::Bulkhead(base) => {
            if let Some(b) = registry::get::<Bulkhead>(name) {
                let (max, wait, queue) = bulkhead_settings(&overlay(base, &tables));
                b.reconfigure(max, wait, queue);
            }
        }
        Base::RateLimiter(base) => {
            if let Some(r) = registry::get::<RateLimiter>(name) {
                let (rate, per, burst, wait) = limiter_settings(&overlay(base, &tables));
                r.reconfigure(rate, per, burst, wait);
            }
        }
        Base::Timeout(base) => {
            if let Some(t) = registry::get::<Timeout>(name)
                && let Some(d) = overlay(base, &tables).duration
            {
                t.reconfigure(d);
            }
        }
        Base::AdaptiveConcurrency(base) => {
            if let Some(l) = registry::get::<AdaptiveConcurrency>(name) {
                l.retune(&super::adaptive::overlay(base, &tables));
            }
        }
    }
}

fn bulkhead_settings(s: &bulkhead::Settings) -> (usize, Duration, Option<usize>) {
    (
        usize::try_from(s.max_concurrent.unwrap_or(1)).unwrap_or(usize::MAX),
        s.max_wait.unwrap_or(bulkhead::MAX_WAIT),
        s.max_queue
            .map(|q| usize::try_from(q).unwrap_or(usize::MAX)),
    )
}

fn limiter_settings(s: &rate_limiter::Settings) -> (u32, Duration, u32, Duration) {
    let rate = s.rate.unwrap_or(1);
    (
        rate,
        s.per.unwrap_or(rate_limiter::PER),
        s.burst.unwrap_or(rate),
        s.max_wait.unwrap_or(rate_limiter::MAX_WAIT),
    )
}

/// See [`super::govern`].
pub(super) fn govern<T: 'static>(name: &str, instance: T) -> T {
    let mut slot = Some(instance);
    let any: &mut dyn Any = &mut slot;
    if let Some(s) = any.downcast_mut::<Option<CircuitBreaker>>() {
        *s = s.take().map(|b| {
            let base = b.policy().to_settings();
            match effective(
                name,
                Layer::CircuitBreaker,
                Base::CircuitBreaker(base),
                |t| overlay_breaker(base, t),
            ) {
                Some(s) => {
                    CircuitBreaker::named(b.name().to_owned(), BreakerPolicy::from_settings(&s))
                }
                None => b,
            }
        });
    } else if let Some(s) = any.downcast_mut::<Option<Retry>>() {
        *s = s.take().map(|r| {
            let mut base = r.policy().to_settings();
            if let Some(budget) = r.budget() {
                base.budget = Some(budget.ratio());
                base.min_retries_per_sec = Some(budget.min_per_sec());
            }
            match effective(name, Layer::Retry, Base::Retry(base), |t| overlay(base, t)) {
                Some(s) => {
                    let rebuilt = Retry::named(r.name().to_owned(), RetryPolicy::from_settings(&s));
                    match s.budget {
                        Some(ratio) => rebuilt.budgeted(crate::RetryBudget::new(
                            ratio,
                            s.min_retries_per_sec.unwrap_or(retry::MIN_RETRIES_PER_SEC),
                        )),
                        None => rebuilt,
                    }
                }
                None => r,
            }
        });
    } else if let Some(Some(b)) = any.downcast_ref::<Option<Bulkhead>>() {
        let base = bulkhead::Settings {
            max_concurrent: Some(b.max_concurrent() as u64),
            max_wait: Some(b.get_max_wait()).filter(|w| !w.is_zero()),
            max_queue: b.get_max_queue().map(|q| q as u64),
        };
        if let Some(s) = effective(name, Layer::Bulkhead, Base::Bulkhead(base), |t| {
            overlay(base, t)
        }) {
            let (max, wait, queue) = bulkhead_settings(&s);
            b.reconfigure(max, wait, queue);
        }
    } else if let Some(Some(r)) = any.downcast_ref::<Option<RateLimiter>>() {
        let base = rate_limiter::Settings {
            rate: Some(r.rate()),
            per: Some(r.per()),
            burst: Some(r.get_burst()),
            max_wait: Some(r.get_max_wait()).filter(|w| !w.is_zero()),
        };
        if let Some(s) = effective(name, Layer::RateLimiter, Base::RateLimiter(base), |t| {
            overlay(base, t)
        }) {
            let (rate, per, burst, wait) = limiter_settings(&s);
            r.reconfigure(rate, per, burst, wait);
        }
    } else if let Some(Some(l)) = any.downcast_ref::<Option<AdaptiveConcurrency>>() {
        let base = l.settings();
        if let Some(s) = effective(
            name,
            Layer::AdaptiveConcurrency,
            Base::AdaptiveConcurrency(base),
            |t| super::adaptive::overlay(base, t),
        ) {
            l.retune(&s);
            l.start_at(&s);
        }
    } else if let Some(Some(t)) = any.downcast_ref::<Option<Timeout>>() {
        let base = timeout::Settings {
            duration: Some(t.duration()),
            ..Default::default()
        };
        if let Some(s) = effective(name, Layer::Timeout, Base::Timeout(base), |tables| {
            overlay(base, tables)
        }) && let Some(d) = s.duration
        {
            t.reconfigure(d);
        }
    }
    slot.expect("put back above")
}

/// Records `base` as the attribute of `name` if it is the first, and the
/// settings the configuration in force gives it (`None`: it gives none,
/// or gives ones the attribute does not fit, which a warning reports).
fn effective<S>(
    name: &str,
    layer: Layer,
    base: Base,
    apply: impl FnOnce(&[Table]) -> S,
) -> Option<S> {
    let mut state = state();
    state.bases.entry((layer, name.to_owned())).or_insert(base);
    let tables: Vec<Table> = state.applied.tables_for(layer, name).cloned().collect();
    drop(state);
    if tables.is_empty() {
        return None;
    }
    let problems = problems(layer, Some(&base), &tables, false);
    if !problems.is_empty() {
        tracing::warn!(target: "resilience::config", name, problems = ?problems, "resilience: configuration does not fit this instance's attribute; it keeps the attribute's settings");
        return None;
    }
    Some(apply(&tables))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_are_code_or_unknown_say_so() {
        let breaker = Layer::CircuitBreaker;
        assert!(breaker.spec("failure_if").unwrap_err().contains("is code"));
        assert!(
            breaker
                .spec("name")
                .unwrap_err()
                .contains("set in the attribute")
        );
        assert!(
            breaker
                .spec("open_four")
                .unwrap_err()
                .contains("did you mean `open_for`?")
        );
        assert!(
            Layer::Timeout
                .spec("adaptive")
                .unwrap_err()
                .contains("kind of instance")
        );
        assert!(
            Layer::Timeout
                .spec("quantile")
                .unwrap_err()
                .contains("adaptive timeout")
        );
        assert!(Layer::unknown("hedge").contains("not configured from a file yet"));
        assert_eq!(
            Layer::Retry.spec("max_attempts").unwrap().key,
            "max_attempts"
        );
    }

    /// What `problems` filters relies on: the settings of no instance
    /// (each layer's defaults) break only rules of the table as a whole
    /// (a required option), never one of an option; an instance's own
    /// settings break none (its attribute and builder check them).
    #[test]
    fn the_defaults_break_only_whole_table_rules() {
        let keyed = |problems: Vec<schema::Problem>| -> Vec<&'static str> {
            problems.iter().filter_map(|p| p.key).collect()
        };
        assert_eq!(
            keyed(circuit_breaker::Settings::default().problems()),
            [""; 0]
        );
        assert_eq!(keyed(retry::Settings::default().problems()), [""; 0]);
        assert_eq!(keyed(bulkhead::Settings::default().problems()), [""; 0]);
        assert_eq!(keyed(rate_limiter::Settings::default().problems()), [""; 0]);
        assert_eq!(keyed(timeout::Settings::default().problems()), [""; 0]);
        assert_eq!(
            keyed(adaptive_concurrency::Settings::default().problems()),
            [""; 0]
        );
    }
}
