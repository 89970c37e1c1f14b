//! Replicas of one circuit breaker, each with its fleet view, for the
//! fleet breaker tests (`#[path]`-included beside `test_server.rs`).

use std::sync::Arc;

use resilience::breaker::{BreakerPolicy, CircuitBreaker};
use resilience::redis::{FleetBreaker, RedisStore};

/// A replica's breaker named `name`, open after one failure.
pub fn replica_breaker(name: &'static str) -> Arc<CircuitBreaker> {
    Arc::new(CircuitBreaker::named(
        name,
        BreakerPolicy::new().failure_threshold(1),
    ))
}

/// `n` replicas (`web-0`, `web-1`, …) of breaker `name`, each opening
/// when `k` report it open.
pub struct Replicas {
    pub breakers: Vec<Arc<CircuitBreaker>>,
    pub fleet: Vec<FleetBreaker<Arc<CircuitBreaker>>>,
}

impl Replicas {
    pub fn new(store: &RedisStore, name: &'static str, n: usize, k: usize) -> Replicas {
        let breakers: Vec<_> = (0..n).map(|_| replica_breaker(name)).collect();
        let fleet = breakers
            .iter()
            .enumerate()
            .map(|(i, b)| FleetBreaker::new(store, b.clone(), format!("web-{i}"), k))
            .collect();
        Replicas { breakers, fleet }
    }

    /// One round of every replica, in order.
    pub async fn tick_all(&self) {
        for f in &self.fleet {
            f.tick().await.unwrap();
        }
    }
}
