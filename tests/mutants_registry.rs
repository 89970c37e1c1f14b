//! The registry (issue 22, mutation testing): what a dashboard or a health
//! endpoint reads from it. Kinds and settings print as the attributes write
//! them, a private instance is listed once however often it is used, a named
//! one is found by its name and type only, and call counts add up.

use std::sync::Arc;
use std::time::Duration;

use resilience::registry::{
    self, Description, Kind, Policy, PrivateSlot, Registrable, Scope, Snapshot,
};
use resilience::{Hedge, Timeout};

#[test]
fn kinds_print_as_the_attributes_are_named() {
    let all = [
        (Kind::CircuitBreaker, "circuit_breaker"),
        (Kind::Retry, "retry"),
        (Kind::Timeout, "timeout"),
        (Kind::AdaptiveTimeout, "adaptive_timeout"),
        (Kind::Bulkhead, "bulkhead"),
        (Kind::RateLimiter, "rate_limiter"),
        (Kind::Hedge, "hedge"),
        (Kind::Fallback, "fallback"),
        (Kind::StaleCache, "stale_cache"),
        (Kind::Chaos, "chaos"),
        (Kind::AdaptiveConcurrency, "adaptive_concurrency"),
        (Kind::FleetRateLimiter, "fleet_rate_limiter"),
    ];
    for (kind, text) in all {
        assert_eq!(kind.as_str(), text);
        assert_eq!(kind.to_string(), text);
    }
}

#[test]
fn durations_print_as_an_attribute_would_take_them() {
    let text = |d| {
        Policy::new()
            .with_duration("d", d)
            .get("d")
            .map(str::to_owned)
    };
    let ms = Duration::from_millis;
    let s = Duration::from_secs;
    for (d, want) in [
        (Duration::ZERO, "0ms"),
        (Duration::from_micros(1500), "1500us"),
        (Duration::from_nanos(1_000_500), "1000us"),
        (ms(250), "250ms"),
        (ms(1500), "1500ms"),
        (s(1), "1s"),
        (s(59), "59s"),
        (s(60), "1m"),
        (s(90), "1m30s"),
        (s(3600), "1h"),
        (s(3661), "1h1m1s"),
        (s(7322), "2h2m2s"),
    ] {
        assert_eq!(text(d).as_deref(), Some(want), "{d:?}");
    }
}

#[test]
fn a_policy_reads_each_setting_by_its_key_and_prints_them_in_order() {
    let policy = Policy::new()
        .with("max_hedges", 2)
        .with_duration("delay", Duration::from_millis(30))
        .with("mode", "adaptive");
    assert_eq!(policy.get("max_hedges"), Some("2"));
    assert_eq!(policy.get("delay"), Some("30ms"));
    assert_eq!(policy.get("mode"), Some("adaptive"));
    assert_eq!(policy.get("quantile"), None);
    assert_eq!(
        policy.to_string(),
        "max_hedges = 2, delay = 30ms, mode = adaptive"
    );
    assert_eq!(Policy::new().with("one", 1).to_string(), "one = 1");
    assert_eq!(Policy::new().to_string(), "");
}

/// A user's own instance in the registry.
#[derive(Debug)]
struct Pool {
    name: &'static str,
    size: u32,
}

impl Registrable for Pool {
    const KIND: &'static str = "pool";
    fn same_settings(&self, other: &Self) -> bool {
        self.size == other.size
    }
    fn describe(&self) -> Description {
        Description::new(
            Kind::Bulkhead,
            self.name,
            Policy::new().with("size", self.size),
            Snapshot::Chaos,
        )
    }
}

#[test]
fn a_private_instance_is_listed_once_however_often_it_is_used() {
    static POOL: PrivateSlot<Pool> = PrivateSlot::new(Pool {
        name: "mutants-registry-private",
        size: 3,
    });
    let listed = || {
        registry::instances()
            .into_iter()
            .filter(|i| i.name == "mutants-registry-private")
            .collect::<Vec<_>>()
    };
    assert!(listed().is_empty(), "listed once used, not before");
    assert_eq!(POOL.get().size, 3);
    assert_eq!(POOL.get().size, 3);
    let listed = listed();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].scope, Scope::Private);
    assert_eq!(listed[0].kind, Kind::Bulkhead);
    assert_eq!(listed[0].policy.get("size"), Some("3"));
}

#[test]
fn a_named_instance_is_found_by_its_name_and_its_type_only() {
    let name = "mutants-registry-named";
    assert!(registry::get::<Pool>(name).is_none());
    let pool = registry::get_or_register(name, || Pool { name, size: 4 });
    let found = registry::get::<Pool>(name).expect("registered under its name");
    assert!(Arc::ptr_eq(&pool, &found));
    assert!(registry::get::<Pool>("mutants-registry-other").is_none());
    // Another type under the same name is another instance.
    assert!(registry::get::<Timeout>(name).is_none());
    let timeout = registry::get_or_register(name, || Timeout::named(name, Duration::from_secs(1)));
    assert_eq!(timeout.duration(), Duration::from_secs(1));
    assert!(registry::get::<Pool>(name).is_some());
    let listed: Vec<_> = registry::instances()
        .into_iter()
        .filter(|i| i.name == name)
        .map(|i| (i.kind, i.scope, i.conflicts))
        .collect();
    // Sorted by kind (in the order `Kind` lists them), then name.
    assert_eq!(
        listed,
        [
            (Kind::Timeout, Scope::Named, 0),
            (Kind::Bulkhead, Scope::Named, 0)
        ]
    );
    // A conflict is counted on the entry it concerns only.
    registry::get_or_register(name, || Pool { name, size: 5 });
    registry::get_or_register(name, || Pool { name, size: 6 });
    let entries: Vec<_> = registry::entries()
        .into_iter()
        .filter(|e| e.name == name)
        .map(|e| (e.kind, e.conflicts))
        .collect();
    assert_eq!(entries, [("pool", 2), ("timeout", 0)]);
    let conflicts = registry::instances()
        .into_iter()
        .find(|i| i.name == name && i.kind == Kind::Bulkhead)
        .map(|i| i.conflicts);
    assert_eq!(conflicts, Some(2));
}

#[test]
fn a_named_slot_registers_its_instance_once() {
    static SLOT: registry::NamedSlot<Pool> = registry::NamedSlot::new();
    let name = "mutants-registry-slot";
    let first = SLOT.get(name, || Pool { name, size: 8 });
    assert_eq!(first.size, 8);
    let again = SLOT.get(name, || Pool { name, size: 9 });
    assert_eq!(again.size, 8);
    let registered = registry::get::<Pool>(name).expect("registered by name");
    assert_eq!(registered.size, 8);
    // The second `get` never built another: no conflict to count.
    let entry = registry::entries().into_iter().find(|e| e.name == name);
    assert_eq!(entry.map(|e| e.conflicts), Some(0));
}

#[tokio::test(start_paused = true)]
async fn call_counts_add_up() {
    let hedge = Hedge::new("mutants-registry-calls", Duration::from_millis(5), 1);
    for ok in [true, true, false, true, false] {
        let _ = hedge
            .call(|| async move { if ok { Ok(()) } else { Err(()) } })
            .await;
    }
    let calls = hedge.snapshot().calls;
    assert_eq!((calls.succeeded, calls.failed, calls.rejected), (3, 2, 0));
    assert_eq!(calls.total(), 5);
    let mut with_rejected = calls;
    with_rejected.rejected = 7;
    assert_eq!(with_rejected.total(), 12);
}
