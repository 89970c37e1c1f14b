//! `FleetRateLimiter` (the runtime's feature `redis`): one quota every
//! replica shares through Redis. A configuration file gives it a table of
//! its own, `[fleet_rate_limiter.<name>]`; the builder runs the same rules.

use std::time::Duration;

use crate::{
    Check, Fallback, Kind, Options, Problem, Spec, Value, collect, positive, rate_limiter,
};

/// Cells one lease takes at most, unless set (and at most a quarter of the
/// burst unless set). A prefetched lease hides the round trip only if the
/// current one outlasts it: at ten million calls a second on one thread,
/// 256 cells last 25 µs, less than a loopback round trip (40 µs on a quiet
/// machine, 400 µs on a loaded one); 4,096 last 400 µs. A replica gets
/// leases that large only while it spends them within half their life.
pub const MAX_LEASE: u32 = 4096;
/// The most cells a lease can hold: its count is 24 bits of a word.
pub const MAX_LEASE_LIMIT: u32 = (1 << 24) - 1;
/// How long a leased cell may be spent, unless set.
pub const LEASE_TTL: Duration = Duration::from_millis(100);
/// How long a call waits on Redis at most, unless set.
pub const STORE_TIMEOUT: Duration = Duration::from_millis(50);
/// How many replicas share the limit, unless set.
pub const REPLICAS: u32 = 1;
/// How long a call over the limit waits for a cell, unless set: not at all.
pub const MAX_WAIT: Duration = rate_limiter::MAX_WAIT;
/// The prefix of every key written, unless set.
pub const KEY_PREFIX: &str = "resilience";
/// The words of `on_store_error`.
pub const ON_STORE_ERRORS: &[&str] = &["local", "allow", "deny"];

/// Every option, in the order of the docs.
pub const OPTIONS: &[Spec] = &[
    Spec::new(
        "store",
        Kind::Text,
        Fallback::Unset,
        "The Redis URL every replica shares (required): `redis://host:port`, `rediss://…` for TLS.",
    ),
    Spec::new(
        "rate",
        Kind::Count {
            min: 1,
            max: u32::MAX as u64,
        },
        Fallback::Unset,
        "Calls the whole fleet may make per `per` (required).",
    ),
    Spec::new(
        "per",
        Kind::Duration,
        Fallback::Duration(rate_limiter::PER),
        "The period of `rate`.",
    ),
    Spec::new(
        "burst",
        Kind::Count {
            min: 1,
            max: u32::MAX as u64,
        },
        Fallback::Unset,
        "Calls the fleet may make at once after a quiet spell; unset: `rate`.",
    ),
    Spec::new(
        "max_wait",
        Kind::Duration,
        Fallback::Duration(MAX_WAIT),
        "How long a call over the fleet's limit may wait for a cell (plus one store timeout for the round trip that finds it); zero: refused at once.",
    ),
    Spec::new(
        "max_lease",
        Kind::Count {
            min: 1,
            max: MAX_LEASE_LIMIT as u64,
        },
        Fallback::Count(MAX_LEASE as u64),
        "The most cells one lease takes (and at most a quarter of the burst unless set): larger leases cost a busy replica fewer round trips.",
    ),
    Spec::new(
        "lease_ttl",
        Kind::Duration,
        Fallback::Duration(LEASE_TTL),
        "How long a leased cell may be spent: the fleet admits at most `lease_ttl × rate / per` calls more than the limit over any stretch.",
    ),
    Spec::new(
        "on_store_error",
        Kind::Choice {
            words: ON_STORE_ERRORS,
            bare: None,
        },
        Fallback::Word("local"),
        "While Redis does not answer: `local` (each replica admits `rate / replicas`), `allow` or `deny`.",
    ),
    Spec::new(
        "replicas",
        Kind::Count {
            min: 1,
            max: u32::MAX as u64,
        },
        Fallback::Count(REPLICAS as u64),
        "How many replicas share the limit: the `local` fallback's share is `rate / replicas`.",
    ),
    Spec::new(
        "store_timeout",
        Kind::Duration,
        Fallback::Duration(STORE_TIMEOUT),
        "The longest a call waits on Redis before the fallback applies.",
    ),
    Spec::new(
        "key_prefix",
        Kind::Text,
        Fallback::Word(KEY_PREFIX),
        "The prefix of the Redis key, `<prefix>:rate_limiter:<name>`.",
    ),
];

/// A `[fleet_rate_limiter.<name>]` table as written (`None`: the default).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {
    /// The Redis URL.
    pub store: Option<String>,
    /// Calls per `per` for the fleet.
    pub rate: Option<u32>,
    /// The period of `rate`.
    pub per: Option<Duration>,
    /// The burst.
    pub burst: Option<u32>,
    /// How long a call over the limit waits.
    pub max_wait: Option<Duration>,
    /// The largest lease.
    pub max_lease: Option<u32>,
    /// A lease's lifetime.
    pub lease_ttl: Option<Duration>,
    /// `local`, `allow` or `deny` (as written; the rule checks the word).
    pub on_store_error: Option<String>,
    /// Replicas sharing the limit.
    pub replicas: Option<u32>,
    /// The store timeout.
    pub store_timeout: Option<Duration>,
    /// The key prefix.
    pub key_prefix: Option<String>,
}

impl Options for Settings {
    const OPTIONS: &'static [Spec] = OPTIONS;

    fn set(&mut self, key: &str, value: &Value) -> bool {
        fn get<T: crate::FromValue>(value: &Value) -> Option<T> {
            T::from_value(value)
        }
        let text = || match value {
            Value::Word(w) => Some(w.clone()),
            _ => None,
        };
        match key {
            "store" => {
                self.store = text();
                self.store.is_some()
            }
            "rate" => {
                self.rate = get(value);
                self.rate.is_some()
            }
            "per" => {
                self.per = get(value);
                self.per.is_some()
            }
            "burst" => {
                self.burst = get(value);
                self.burst.is_some()
            }
            "max_wait" => {
                self.max_wait = get(value);
                self.max_wait.is_some()
            }
            "max_lease" => {
                self.max_lease = get(value);
                self.max_lease.is_some()
            }
            "lease_ttl" => {
                self.lease_ttl = get(value);
                self.lease_ttl.is_some()
            }
            "on_store_error" => {
                self.on_store_error = text();
                self.on_store_error.is_some()
            }
            "replicas" => {
                self.replicas = get(value);
                self.replicas.is_some()
            }
            "store_timeout" => {
                self.store_timeout = get(value);
                self.store_timeout.is_some()
            }
            "key_prefix" => {
                self.key_prefix = text();
                self.key_prefix.is_some()
            }
            _ => false,
        }
    }

    fn problems(&self) -> Vec<Problem> {
        Settings::problems(self)
    }
}

impl Settings {
    /// Every rule the settings break (the required `store` and `rate`
    /// included: a file is a fleet limiter's only source).
    pub fn problems(&self) -> Vec<Problem> {
        let mut found = Vec::new();
        if self.store.is_none() {
            found.push(Problem::whole(
                "a fleet rate limiter needs `store`, the Redis URL every replica shares, e.g. `store = \"redis://127.0.0.1:6379\"`",
            ));
        }
        let Some(rate) = self.rate else {
            found.push(Problem::whole(
                "a fleet rate limiter needs `rate`, the calls the whole fleet may make per period, e.g. `rate = 1000`",
            ));
            return found;
        };
        let per = self.per.unwrap_or(rate_limiter::PER);
        let rate_ok = rate_limiter::check_rate(rate);
        let per_ok = match (rate_limiter::check_period(per), rate_ok) {
            (Ok(()), Ok(())) => check_per(rate, per),
            (period, _) => period,
        };
        let burst = match self.burst {
            Some(burst) if rate_ok.is_ok() && per_ok.is_ok() => {
                rate_limiter::check_burst(rate, per, burst)
            }
            Some(0) => rate_limiter::check_burst(1, rate_limiter::PER, 0),
            _ => Ok(()),
        };
        found.extend(collect([
            rate_ok,
            per_ok,
            burst,
            self.max_lease.map_or(Ok(()), check_max_lease),
            self.lease_ttl.map_or(Ok(()), check_lease_ttl),
            self.replicas.map_or(Ok(()), check_replicas),
            self.store_timeout.map_or(Ok(()), check_store_timeout),
            self.on_store_error
                .as_deref()
                .map_or(Ok(()), check_on_store_error),
        ]));
        found
    }
}

/// The in-process limiter's rule for `per`, and at most one call per
/// microsecond, the unit of Redis's clock (`rate` checked).
pub const fn check_per(rate: u32, per: Duration) -> Check {
    if let Err(problem) = rate_limiter::check_per(rate, per) {
        return Err(problem);
    }
    if per.as_micros() < rate as u128 {
        return Err(Problem::at(
            "per",
            "a fleet rate limiter admits at most one call per microsecond (the unit of Redis's clock): make `per` at least `rate` microseconds, or lower `rate`",
        ));
    }
    Ok(())
}

/// From 1 to [`MAX_LEASE_LIMIT`] cells.
pub const fn check_max_lease(cells: u32) -> Check {
    crate::count_in(
        "max_lease",
        cells as u64,
        MAX_LEASE_LIMIT as u64,
        "`max_lease = 0` would lease nothing: a lease holds at least 1 cell (1: one round trip to Redis per call)",
        "`max_lease` is at most 16777215 cells (a lease's count is 24 bits)",
    )
}

/// The sentence for an `on_store_error` that is none of its words.
pub const ON_STORE_ERROR_WORDS: &str = "`on_store_error` is \"local\" (each replica admits its share, `rate / replicas`), \"allow\" (every call) or \"deny\" (none)";

/// One of [`ON_STORE_ERRORS`].
pub fn check_on_store_error(word: &str) -> Check {
    if ON_STORE_ERRORS.contains(&word) {
        Ok(())
    } else {
        Err(Problem::at("on_store_error", ON_STORE_ERROR_WORDS))
    }
}

/// At least a millisecond, the unit leases are timed in.
pub const fn check_lease_ttl(ttl: Duration) -> Check {
    if ttl.as_millis() == 0 {
        return Err(Problem::at(
            "lease_ttl",
            "leases are timed in milliseconds: make `lease_ttl` at least \"1ms\" (the default is \"100ms\")",
        ));
    }
    Ok(())
}

/// At least one replica.
pub const fn check_replicas(replicas: u32) -> Check {
    crate::nonzero(
        "replicas",
        replicas as u64,
        "`replicas = 0` leaves no one to share the limit: count the replicas that run, at least 1",
    )
}

/// A positive store timeout.
pub const fn check_store_timeout(timeout: Duration) -> Check {
    positive(
        "store_timeout",
        timeout,
        "a `store_timeout` of zero would give up on Redis before asking: use a positive duration such as \"50ms\"",
    )
}
