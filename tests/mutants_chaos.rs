//! `Chaos` and injected faults without the macro (issue 22, mutation
//! testing): a fault limited in calls or time applies exactly that long and
//! to its target only, limiting one injection leaves the others alone, the
//! configured rates fail or delay every call or none, and the registry
//! tells two chaos sites of one name apart. Time runs on tokio's paused
//! clock.

use std::sync::Arc;
use std::time::Duration;

use resilience::Rejection;
use resilience::chaos::{self, Chaos, Fault, NotInScope, Scope};
use resilience::registry::{self, Kind};
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn call(chaos: &Chaos) -> Result<u32, Rejection> {
    chaos.call(async { Ok(7) }).await
}

fn injected(out: &Result<u32, Rejection>) -> bool {
    matches!(out, Err(Rejection::Injected { .. }))
}

#[tokio::test(start_paused = true)]
async fn a_fault_for_a_duration_applies_until_just_before_its_end() {
    let chaos = Chaos::named("mutants-chaos-duration");
    let scope = Scope::new();
    let _fault = scope
        .inject("mutants-chaos-duration", Fault::error())
        .for_duration(ms(1000));
    scope
        .enter(async {
            assert!(injected(&call(&chaos).await));
            tokio::time::advance(ms(999)).await;
            assert!(injected(&call(&chaos).await));
            tokio::time::advance(ms(1)).await;
            assert_eq!(call(&chaos).await, Ok(7));
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn limiting_one_injection_leaves_the_others_as_they_were() {
    let a = Chaos::named("mutants-chaos-a");
    let b = Chaos::named("mutants-chaos-b");
    chaos::scope(async {
        let _on_a = chaos::inject("mutants-chaos-a", Fault::error()).unwrap();
        let _on_b = chaos::inject("mutants-chaos-b", Fault::error())
            .unwrap()
            .for_calls(1);
        assert!(injected(&call(&b).await));
        assert_eq!(call(&b).await, Ok(7));
        // The fault on `a` has no limit: every call still fails.
        for _ in 0..3 {
            assert!(injected(&call(&a).await));
        }
        let _later = chaos::inject("mutants-chaos-a", Fault::latency(ms(10)))
            .unwrap()
            .for_duration(ms(50));
        let t0 = Instant::now();
        assert_eq!(call(&a).await, Ok(7));
        assert_eq!(t0.elapsed(), ms(10));
        tokio::time::advance(ms(50)).await;
        // The latency expired; the error under it is back, and unlimited.
        assert!(injected(&call(&a).await));
        assert!(injected(&call(&a).await));
    })
    .await;
}

#[test]
fn injecting_outside_a_scope_says_where_it_can_be_done() {
    let refused = chaos::inject("anywhere", Fault::error()).unwrap_err();
    assert_eq!(refused, NotInScope);
    let text = refused.to_string();
    assert!(text.contains("chaos::scope"), "{text}");
    assert!(text.contains("Scope::enter"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn the_rates_fail_or_delay_every_call_or_none() {
    let never = Chaos::named("mutants-chaos-never");
    assert_eq!(never.name(), "mutants-chaos-never");
    let t0 = Instant::now();
    for _ in 0..50 {
        assert_eq!(call(&never).await, Ok(7));
    }
    assert_eq!(t0.elapsed(), Duration::ZERO);

    let failing = Chaos::named("mutants-chaos-failing").error_rate(1.0);
    for _ in 0..10 {
        assert!(injected(&call(&failing).await));
    }
    // A latency set with rate 0 never delays; with rate 1 always.
    let idle = Chaos::named("mutants-chaos-idle").latency(ms(40), 0.0);
    let slow = Chaos::named("mutants-chaos-slow").latency(ms(40), 1.0);
    let t0 = Instant::now();
    assert_eq!(call(&idle).await, Ok(7));
    assert_eq!(t0.elapsed(), Duration::ZERO);
    for n in 1..=3 {
        assert_eq!(call(&slow).await, Ok(7));
        assert_eq!(t0.elapsed(), ms(40) * n);
    }
}

fn conflicts(name: &str) -> Option<usize> {
    registry::entries()
        .into_iter()
        .find(|e| e.kind == "chaos" && e.name == name)
        .map(|e| e.conflicts)
}

#[test]
fn the_registry_counts_a_second_site_with_other_rates_as_a_conflict() {
    let name = "mutants-chaos-registry";
    let make = |error, latency, rate| {
        move || {
            Chaos::named(name)
                .error_rate(error)
                .latency(ms(latency), rate)
        }
    };
    let first = registry::get_or_register(name, make(0.1, 20, 0.5));
    let same = registry::get_or_register(name, make(0.1, 20, 0.5));
    assert!(Arc::ptr_eq(&first, &same));
    assert_eq!(conflicts(name), Some(0));
    registry::get_or_register(name, make(0.2, 20, 0.5));
    assert_eq!(conflicts(name), Some(1));
    registry::get_or_register(name, make(0.1, 21, 0.5));
    assert_eq!(conflicts(name), Some(2));
    registry::get_or_register(name, make(0.1, 20, 0.6));
    assert_eq!(conflicts(name), Some(3));

    let me = registry::instances()
        .into_iter()
        .find(|i| i.kind == Kind::Chaos && i.name == name)
        .expect("a named chaos site is listed");
    assert_eq!(me.policy.get("error_rate"), Some("0.1"));
    assert_eq!(me.policy.get("latency"), Some("20ms"));
    assert_eq!(me.policy.get("latency_rate"), Some("0.5"));
}

#[tokio::test(start_paused = true)]
async fn an_injected_fault_is_an_event_naming_the_site_and_the_fault() {
    let name = "mutants-chaos-event";
    let mut sub = resilience::events::subscribe();
    let chaos = Chaos::named(name);
    chaos::scope(async {
        let _fault = chaos::inject(name, Fault::error()).unwrap();
        assert!(injected(&call(&chaos).await));
    })
    .await;
    let faults: Vec<String> = sub
        .drain()
        .into_iter()
        .filter_map(|e| match e {
            resilience::events::Event::FaultInjected { name: n, fault } if n == name => Some(fault),
            _ => None,
        })
        .collect();
    assert_eq!(faults, ["error"]);
}
