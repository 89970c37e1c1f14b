//! The Lua script against the in-process limiter: the same requests at the
//! same times get the same admissions and the same `retry_after`. The
//! script's clock is driven through its test-only `now` argument; the
//! in-process [`RateLimiter`] runs on a paused tokio clock advanced by the
//! same steps. Needs `redis-server` (see `test_server.rs`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::test_server::RedisServer;
use super::{FleetRateLimiter, RedisStore};
use crate::RateLimiter;

#[derive(Debug, Clone)]
enum Op {
    /// Ask for this many cells at once (a lease; 1 is a single call).
    Take(u32),
    /// Let this many milliseconds pass.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1u32..6).prop_map(Op::Take),
        2 => (0u64..120).prop_map(Op::Advance),
    ]
}

#[test]
fn the_script_admits_what_the_in_process_limiter_admits() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let real = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = real.block_on(async {
        RedisStore::open(&server.url())
            .unwrap()
            .store_timeout(Duration::from_secs(2))
    });
    static CASE: AtomicU32 = AtomicU32::new(0);
    let mut runner = TestRunner::new(Config::with_cases(150));
    let strategy = (1u64..40, 1u32..6, proptest::collection::vec(op(), 1..40));
    runner
        .run(&strategy, |(interval_ms, burst, ops)| {
            let paused = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            let per = Duration::from_millis(interval_ms);
            let reference = RateLimiter::named("reference", 1, per).burst(burst);
            let name = format!("model-{}", CASE.fetch_add(1, Ordering::Relaxed));
            let fleet = real.block_on(async {
                FleetRateLimiter::new(&store, name, 1, per)
                    .burst(burst)
                    .max_lease(burst)
            });
            // Any start on the server's clock: microseconds since 2026.
            let mut now_us = 1_767_225_600_000_000u64;
            for (step, op) in ops.iter().enumerate() {
                match *op {
                    Op::Advance(ms) => {
                        now_us += ms * 1_000;
                        paused.block_on(tokio::time::advance(Duration::from_millis(ms)));
                    }
                    Op::Take(want) => {
                        let (granted, retry_us) =
                            real.block_on(fleet.__take_at(want, now_us)).unwrap();
                        let (mut admitted, mut retry_after) = (0, None);
                        paused.block_on(async {
                            while admitted < want {
                                match reference.check() {
                                    Ok(()) => admitted += 1,
                                    Err(refused) => {
                                        retry_after = refused.retry_after();
                                        break;
                                    }
                                }
                            }
                        });
                        prop_assert_eq!(granted, admitted, "step {}: {:?}", step, ops);
                        if granted == 0 {
                            prop_assert_eq!(
                                Some(Duration::from_micros(retry_us)),
                                retry_after,
                                "step {}: {:?}",
                                step,
                                ops
                            );
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}
