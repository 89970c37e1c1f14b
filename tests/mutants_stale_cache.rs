//! `StaleCache` and the fallback counters without the macro's ladder
//! (issue 22, mutation testing): a result is served up to its `ttl` and not
//! after, hits and misses are counted, the registry tells two caches of one
//! name apart by their settings, and `#[fallback]` counts each level used.
//! Time runs on tokio's paused clock.

use std::sync::Arc;
use std::time::Duration;

use resilience::fallback::StaleCache;
use resilience::registry::{self, Kind};
use resilience::{FallbackSnapshot, fallback};

#[tokio::test(start_paused = true)]
async fn a_result_is_served_until_its_ttl_and_not_a_moment_after() {
    let cache: StaleCache<u32, String> =
        StaleCache::new("mutants-stale-ttl", Duration::from_secs(60), 10);
    assert_eq!(cache.name(), "mutants-stale-ttl");
    assert_eq!(cache.ttl(), Duration::from_secs(60));
    assert_eq!(cache.fresh(&1), None);
    cache.store(1, &"one".to_owned());
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(cache.fresh(&1).as_deref(), Some("one"));
    assert_eq!(cache.fresh(&2), None);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(cache.fresh(&1), None);
    // Storing again starts the result's age again.
    cache.store(1, &"uno".to_owned());
    assert_eq!(cache.fresh(&1).as_deref(), Some("uno"));
    let s = cache.snapshot();
    assert_eq!((s.served_stale, s.misses), (2, 3));
}

fn conflicts(name: &str) -> Option<usize> {
    registry::entries()
        .into_iter()
        .find(|e| e.kind == "stale_cache" && e.name == name)
        .map(|e| e.conflicts)
}

#[test]
fn the_registry_counts_a_second_cache_with_another_ttl_or_capacity_as_a_conflict() {
    let name = "mutants-stale-registry";
    let ttl = Duration::from_secs(30);
    let make = |ttl, capacity| move || StaleCache::<u32, u32>::new(name, ttl, capacity);
    let first = registry::get_or_register(name, make(ttl, 50));
    let same = registry::get_or_register(name, make(ttl, 50));
    assert!(Arc::ptr_eq(&first, &same));
    assert_eq!(conflicts(name), Some(0));
    registry::get_or_register(name, make(Duration::from_secs(31), 50));
    assert_eq!(conflicts(name), Some(1));
    registry::get_or_register(name, make(ttl, 51));
    assert_eq!(conflicts(name), Some(2));
}

#[tokio::test(start_paused = true)]
async fn the_registry_describes_a_named_cache_with_its_ttl_capacity_and_counts() {
    let name = "mutants-stale-described";
    let cache = registry::get_or_register(name, || {
        StaleCache::<u32, u32>::new(name, Duration::from_secs(90), 25)
    });
    cache.store(7, &70);
    assert_eq!(cache.fresh(&7), Some(70));
    let me = registry::instances()
        .into_iter()
        .find(|i| i.kind == Kind::StaleCache && i.name == name)
        .expect("a named cache is listed");
    assert_eq!(me.policy.get("ttl"), Some("1m30s"));
    assert_eq!(me.policy.get("capacity"), Some("25"));
    match me.snapshot {
        registry::Snapshot::StaleCache(s) => assert_eq!((s.served_stale, s.misses), (1, 0)),
        other => panic!("a stale cache's snapshot, not {other:?}"),
    }
}

#[derive(Debug)]
struct Down(&'static str);

impl std::fmt::Display for Down {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is down", self.0)
    }
}

#[fallback(Err(Down("the second level")), Ok(2))]
async fn ladder(fail: bool) -> Result<u32, Down> {
    if fail { Err(Down("the body")) } else { Ok(0) }
}

fn ladder_snapshot() -> FallbackSnapshot {
    registry::instances()
        .into_iter()
        .filter(|i| i.kind == Kind::Fallback && i.name.ends_with("ladder"))
        .find_map(|i| match i.snapshot {
            registry::Snapshot::Fallback(s) => Some(s),
            _ => None,
        })
        .expect("a fallback that was used is listed")
}

#[tokio::test]
async fn each_level_used_is_counted_and_the_first_counts_every_fallback() {
    assert_eq!(ladder(false).await.unwrap(), 0);
    for _ in 0..3 {
        assert_eq!(ladder(true).await.unwrap(), 2);
    }
    let snapshot = ladder_snapshot();
    // Three calls entered the first level and, failing there, the second.
    assert_eq!(snapshot.levels_used, [3, 3]);
    assert_eq!(snapshot.fell_back(), 3);
    assert_eq!(snapshot.calls().failed, 3);
    assert_eq!(snapshot.calls().total(), 3);
}
