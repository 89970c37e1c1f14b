//! `with = <expr>` in every form the README promises, on every layer: a
//! static `T` (`with = INSTANCE`, `with = &INSTANCE`), a `T` field
//! (`with = self.own`, `with = &self.own`) and an `Arc<T>` field
//! (`with = self.shared`, `with = &self.shared`). Each form compiles, and
//! each call goes through the caller's instance: state changed through one
//! form is seen through the other form of the same instance, and not
//! through another instance.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience::Rejection;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    Down,
    Rejected(Rejection),
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Self {
        Error::Rejected(r)
    }
}

fn is_rejected(out: &Result<u32, Error>, what: fn(&Rejection) -> bool) -> bool {
    matches!(out, Err(Error::Rejected(r)) if what(r))
}

/// A `Client` whose six methods each reach their instance through one
/// form; the body is the caller's (`$arg` is its one argument).
macro_rules! client_with_every_form {
    ($instance:ty; #[$layer:ident($($setting:tt)*)]; ($arg:ident: $arg_ty:ty) $body:block) => {
        pub struct Client {
            pub own: $instance,
            pub shared: Arc<$instance>,
        }

        impl Client {
            #[$layer($($setting)* with = INSTANCE)]
            pub async fn via_static(&self, $arg: $arg_ty) -> Result<u32, Error> $body

            #[$layer($($setting)* with = &INSTANCE)]
            pub async fn via_static_ref(&self, $arg: $arg_ty) -> Result<u32, Error> $body

            #[$layer($($setting)* with = self.own)]
            pub async fn via_field(&self, $arg: $arg_ty) -> Result<u32, Error> $body

            #[$layer($($setting)* with = &self.own)]
            pub async fn via_field_ref(&self, $arg: $arg_ty) -> Result<u32, Error> $body

            #[$layer($($setting)* with = self.shared)]
            pub async fn via_arc(&self, $arg: $arg_ty) -> Result<u32, Error> $body

            #[$layer($($setting)* with = &self.shared)]
            pub async fn via_arc_ref(&self, $arg: $arg_ty) -> Result<u32, Error> $body
        }

        /// A free function through a static, for the common case.
        #[$layer($($setting)* with = &INSTANCE)]
        pub async fn free($arg: $arg_ty) -> Result<u32, Error> $body

        /// Compiled, never run: every form's future is `Send`.
        #[allow(dead_code)]
        fn every_form_keeps_the_future_send(c: &'static Client, a: $arg_ty) {
            fn assert_send<T: Send>(_: T) {}
            assert_send(c.via_static(a));
            assert_send(c.via_static_ref(a));
            assert_send(c.via_field(a));
            assert_send(c.via_field_ref(a));
            assert_send(c.via_arc(a));
            assert_send(c.via_arc_ref(a));
            assert_send(free(a));
        }
    };
}

mod timeout_forms {
    use super::*;
    use resilience::{Timeout, timeout};

    static INSTANCE: Timeout = Timeout::new("with-timeout", Duration::from_millis(10));

    client_with_every_form!(Timeout; #[timeout()]; (hold: Duration) {
        tokio::time::sleep(hold).await;
        Ok(1)
    });

    fn new_client() -> Client {
        Client {
            own: Timeout::new("with-timeout-own", Duration::from_millis(20)),
            shared: Arc::new(Timeout::new("with-timeout-arc", Duration::from_millis(30))),
        }
    }

    /// How long a call that never finishes runs before its timeout fires.
    async fn fires_after<F: Future<Output = Result<u32, Error>>>(call: F) -> Duration {
        let start = Instant::now();
        let out = call.await;
        assert!(
            is_rejected(&out, |r| matches!(r, Rejection::Timeout { .. })),
            "{out:?}"
        );
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn each_form_times_out_after_its_instances_duration() {
        let c = new_client();
        let hang = Duration::from_secs(60);
        assert_eq!(
            fires_after(c.via_static(hang)).await,
            Duration::from_millis(10)
        );
        assert_eq!(
            fires_after(c.via_static_ref(hang)).await,
            Duration::from_millis(10)
        );
        assert_eq!(fires_after(free(hang)).await, Duration::from_millis(10));
        assert_eq!(
            fires_after(c.via_field(hang)).await,
            Duration::from_millis(20)
        );
        assert_eq!(
            fires_after(c.via_field_ref(hang)).await,
            Duration::from_millis(20)
        );
        assert_eq!(
            fires_after(c.via_arc(hang)).await,
            Duration::from_millis(30)
        );
        assert_eq!(
            fires_after(c.via_arc_ref(hang)).await,
            Duration::from_millis(30)
        );
    }
}

mod adaptive_timeout_forms {
    use super::*;
    use resilience::{AdaptiveTimeout, timeout};

    const fn adaptive(name: &'static str, max_ms: u64) -> AdaptiveTimeout {
        AdaptiveTimeout::new(
            name,
            0.99,
            2.0,
            Duration::from_millis(1),
            Duration::from_millis(max_ms),
        )
    }

    static INSTANCE: AdaptiveTimeout = adaptive("with-adaptive", 10);

    client_with_every_form!(AdaptiveTimeout; #[timeout(adaptive,)]; (hold: Duration) {
        tokio::time::sleep(hold).await;
        Ok(1)
    });

    fn new_client() -> Client {
        Client {
            own: adaptive("with-adaptive-own", 20),
            shared: Arc::new(adaptive("with-adaptive-arc", 30)),
        }
    }

    async fn fires_after<F: Future<Output = Result<u32, Error>>>(call: F) -> Duration {
        let start = Instant::now();
        let out = call.await;
        assert!(
            is_rejected(&out, |r| matches!(r, Rejection::Timeout { .. })),
            "{out:?}"
        );
        start.elapsed()
    }

    /// With no samples yet, an adaptive timeout is its `max`.
    #[tokio::test(start_paused = true)]
    async fn each_form_times_out_after_its_instances_max() {
        let c = new_client();
        let hang = Duration::from_secs(60);
        assert_eq!(
            fires_after(c.via_static(hang)).await,
            Duration::from_millis(10)
        );
        assert_eq!(
            fires_after(c.via_static_ref(hang)).await,
            Duration::from_millis(10)
        );
        assert_eq!(fires_after(free(hang)).await, Duration::from_millis(10));
        assert_eq!(
            fires_after(c.via_field(hang)).await,
            Duration::from_millis(20)
        );
        assert_eq!(
            fires_after(c.via_field_ref(hang)).await,
            Duration::from_millis(20)
        );
        assert_eq!(
            fires_after(c.via_arc(hang)).await,
            Duration::from_millis(30)
        );
        assert_eq!(
            fires_after(c.via_arc_ref(hang)).await,
            Duration::from_millis(30)
        );
    }
}

mod retry_forms {
    use super::*;
    use resilience::{Backoff, Retry, RetryPolicy, retry};

    const fn retrying(name: &'static str, attempts: u32) -> Retry {
        Retry::new(
            name,
            RetryPolicy::new()
                .max_attempts(attempts)
                .backoff(Backoff::Fixed)
                .base(Duration::from_millis(1)),
        )
    }

    static INSTANCE: Retry = retrying("with-retry", 2);

    client_with_every_form!(Retry; #[retry()]; (calls: &AtomicU32) {
        calls.fetch_add(1, Ordering::SeqCst);
        Err(Error::Down)
    });

    fn new_client() -> Client {
        Client {
            own: retrying("with-retry-own", 3),
            shared: Arc::new(retrying("with-retry-arc", 4)),
        }
    }

    async fn attempts<'a, F: Future<Output = Result<u32, Error>> + 'a>(
        calls: &'a AtomicU32,
        call: impl FnOnce(&'a AtomicU32) -> F,
    ) -> u32 {
        calls.store(0, Ordering::SeqCst);
        assert_eq!(call(calls).await, Err(Error::Down));
        calls.load(Ordering::SeqCst)
    }

    #[tokio::test(start_paused = true)]
    async fn each_form_makes_its_instances_attempts() {
        let c = new_client();
        let n = AtomicU32::new(0);
        assert_eq!(attempts(&n, |n| c.via_static(n)).await, 2);
        assert_eq!(attempts(&n, |n| c.via_static_ref(n)).await, 2);
        assert_eq!(attempts(&n, free).await, 2);
        assert_eq!(attempts(&n, |n| c.via_field(n)).await, 3);
        assert_eq!(attempts(&n, |n| c.via_field_ref(n)).await, 3);
        assert_eq!(attempts(&n, |n| c.via_arc(n)).await, 4);
        assert_eq!(attempts(&n, |n| c.via_arc_ref(n)).await, 4);
    }
}

mod circuit_breaker_forms {
    use super::*;
    use resilience::breaker::State;
    use resilience::{BreakerPolicy, CircuitBreaker, circuit_breaker};

    const fn breaker(name: &'static str) -> CircuitBreaker {
        CircuitBreaker::new(name, BreakerPolicy::new().failure_threshold(1))
    }

    static INSTANCE: CircuitBreaker = breaker("with-breaker");

    client_with_every_form!(CircuitBreaker; #[circuit_breaker()]; (fail: bool) {
        if fail { Err(Error::Down) } else { Ok(1) }
    });

    fn new_client() -> Client {
        Client {
            own: breaker("with-breaker-own"),
            shared: Arc::new(breaker("with-breaker-arc")),
        }
    }

    fn open(out: &Result<u32, Error>) -> bool {
        is_rejected(out, |r| matches!(r, Rejection::CircuitOpen { .. }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_breaker_opened_through_one_form_rejects_through_the_other() {
        let c = new_client();
        assert_eq!(c.via_field(true).await, Err(Error::Down));
        assert_eq!(c.own.state(), State::Open);
        assert!(open(&c.via_field_ref(false).await));
        assert_eq!(
            c.via_arc(false).await,
            Ok(1),
            "another instance: still closed"
        );

        assert_eq!(c.via_arc_ref(true).await, Err(Error::Down));
        assert_eq!(c.shared.state(), State::Open);
        assert!(open(&c.via_arc(false).await));

        assert_eq!(c.via_static(false).await, Ok(1));
        assert_eq!(c.via_static_ref(true).await, Err(Error::Down));
        assert_eq!(INSTANCE.state(), State::Open);
        assert!(open(&c.via_static(false).await));
        assert!(open(&free(false).await));
    }
}

mod bulkhead_forms {
    use super::*;
    use resilience::{Bulkhead, bulkhead};

    static INSTANCE: Bulkhead = Bulkhead::new("with-bulkhead", 1);

    client_with_every_form!(Bulkhead; #[bulkhead()]; (hold: Duration) {
        tokio::time::sleep(hold).await;
        Ok(1)
    });

    fn new_client() -> Client {
        Client {
            own: Bulkhead::new("with-bulkhead-own", 1),
            shared: Arc::new(Bulkhead::new("with-bulkhead-arc", 1)),
        }
    }

    /// Whether `second` is refused while `first` holds the permit.
    async fn refused_while_held(
        first: impl Future<Output = Result<u32, Error>>,
        second: impl Future<Output = Result<u32, Error>>,
    ) -> bool {
        let (first, second) = tokio::join!(first, async {
            tokio::task::yield_now().await;
            second.await
        });
        assert_eq!(first, Ok(1));
        match second {
            Ok(_) => false,
            out => {
                assert!(
                    is_rejected(&out, |r| matches!(r, Rejection::BulkheadFull { .. })),
                    "{out:?}"
                );
                true
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_permit_held_through_one_form_is_missing_through_the_other() {
        let c = new_client();
        let (long, none) = (Duration::from_secs(1), Duration::ZERO);
        assert!(refused_while_held(c.via_static(long), c.via_static_ref(none)).await);
        assert!(refused_while_held(c.via_static_ref(long), free(none)).await);
        assert!(refused_while_held(c.via_field(long), c.via_field_ref(none)).await);
        assert!(refused_while_held(c.via_arc_ref(long), c.via_arc(none)).await);
        assert!(
            !refused_while_held(c.via_field(long), c.via_arc(none)).await,
            "another instance has its own permit"
        );
        assert_eq!(c.own.snapshot().rejected, 1);
        assert_eq!(c.shared.snapshot().rejected, 1);
        assert_eq!(INSTANCE.snapshot().rejected, 2);
    }
}

mod rate_limiter_forms {
    use super::*;
    use resilience::{RateLimiter, rate_limiter};

    const fn limiter(name: &'static str) -> RateLimiter {
        RateLimiter::new(name, 1, Duration::from_secs(60)).burst(1)
    }

    static INSTANCE: RateLimiter = limiter("with-limiter");

    client_with_every_form!(RateLimiter; #[rate_limiter()]; (n: u32) {
        let answer = n;
        Ok(answer)
    });

    fn new_client() -> Client {
        Client {
            own: limiter("with-limiter-own"),
            shared: Arc::new(limiter("with-limiter-arc")),
        }
    }

    fn limited(out: &Result<u32, Error>) -> bool {
        is_rejected(out, |r| matches!(r, Rejection::RateLimited { .. }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_admitted_through_one_form_uses_up_the_other() {
        let c = new_client();
        assert_eq!(c.via_static(1).await, Ok(1));
        assert!(limited(&c.via_static_ref(2).await));
        assert!(limited(&free(3).await));
        assert_eq!(c.via_field_ref(4).await, Ok(4));
        assert!(limited(&c.via_field(5).await));
        assert_eq!(c.via_arc(6).await, Ok(6), "another instance");
        assert!(limited(&c.via_arc_ref(7).await));
        assert_eq!(c.own.snapshot().rejected, 1);
        assert_eq!(c.shared.snapshot().rejected, 1);
        assert_eq!(INSTANCE.snapshot().rejected, 2);
    }
}

mod hedge_forms {
    use super::*;
    use resilience::{Hedge, hedge};

    static INSTANCE: Hedge = Hedge::new("with-hedge", Duration::from_millis(10), 1);

    // The first attempt hangs; the hedge answers.
    client_with_every_form!(Hedge; #[hedge()]; (attempts: &AtomicU32) {
        if attempts.fetch_add(1, Ordering::SeqCst) == 0 {
            std::future::pending::<()>().await;
        }
        Ok(1)
    });

    fn new_client() -> Client {
        Client {
            own: Hedge::new("with-hedge-own", Duration::from_millis(20), 1),
            shared: Arc::new(Hedge::new("with-hedge-arc", Duration::from_millis(30), 1)),
        }
    }

    /// When the hedge answered.
    async fn hedged_after<'a, F: Future<Output = Result<u32, Error>> + 'a>(
        attempts: &'a AtomicU32,
        call: impl FnOnce(&'a AtomicU32) -> F,
    ) -> Duration {
        attempts.store(0, Ordering::SeqCst);
        let start = Instant::now();
        assert_eq!(call(attempts).await, Ok(1));
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn each_form_hedges_after_its_instances_delay() {
        let c = new_client();
        let n = AtomicU32::new(0);
        let ms = Duration::from_millis;
        assert_eq!(hedged_after(&n, |n| c.via_static(n)).await, ms(10));
        assert_eq!(hedged_after(&n, |n| c.via_static_ref(n)).await, ms(10));
        assert_eq!(hedged_after(&n, free).await, ms(10));
        assert_eq!(hedged_after(&n, |n| c.via_field(n)).await, ms(20));
        assert_eq!(hedged_after(&n, |n| c.via_field_ref(n)).await, ms(20));
        assert_eq!(hedged_after(&n, |n| c.via_arc(n)).await, ms(30));
        assert_eq!(hedged_after(&n, |n| c.via_arc_ref(n)).await, ms(30));
    }
}

#[cfg(feature = "chaos")]
mod chaos_forms {
    use super::*;
    use resilience::chaos;
    use resilience::chaos::Chaos;

    static INSTANCE: Chaos = Chaos::new("with-chaos").error_rate(1.0);

    client_with_every_form!(Chaos; #[chaos()]; (body_runs: &AtomicU32) {
        body_runs.fetch_add(1, Ordering::SeqCst);
        Ok(1)
    });

    fn new_client() -> Client {
        Client {
            // Only the static fails every call: the fields' instances are quiet.
            own: Chaos::new("with-chaos-own"),
            shared: Arc::new(Chaos::new("with-chaos-arc")),
        }
    }

    fn injected(out: &Result<u32, Error>) -> bool {
        is_rejected(out, |r| matches!(r, Rejection::Injected { .. }))
    }

    #[tokio::test(start_paused = true)]
    async fn each_form_injects_its_instances_faults() {
        let c = new_client();
        let n = AtomicU32::new(0);
        assert!(injected(&c.via_static(&n).await));
        assert!(injected(&c.via_static_ref(&n).await));
        assert!(injected(&free(&n).await));
        assert_eq!(
            n.load(Ordering::SeqCst),
            0,
            "an injected error skips the body"
        );
        assert_eq!(c.via_field(&n).await, Ok(1));
        assert_eq!(c.via_field_ref(&n).await, Ok(1));
        assert_eq!(c.via_arc(&n).await, Ok(1));
        assert_eq!(c.via_arc_ref(&n).await, Ok(1));
        assert_eq!(n.load(Ordering::SeqCst), 4);
    }
}

#[cfg(feature = "stale-cache")]
mod stale_cache_forms {
    use super::*;
    use resilience::fallback;
    use resilience::fallback::StaleCache;
    use std::sync::LazyLock;
    use std::sync::atomic::AtomicBool;

    /// The key of a method `(&self, id: u32)`: its arguments but `self`.
    type Cache = StaleCache<(u32,), u32>;

    fn cache(name: &'static str) -> Cache {
        StaleCache::new(name, Duration::from_secs(60), 100)
    }

    static INSTANCE: LazyLock<Cache> = LazyLock::new(|| cache("with-stale"));
    static UP: AtomicBool = AtomicBool::new(true);

    pub struct Client {
        pub own: Cache,
        pub shared: Arc<Cache>,
    }

    impl Client {
        #[fallback(stale_cache(with = INSTANCE), Err(err))]
        pub async fn via_static(&self, id: u32) -> Result<u32, Error> {
            answer(id)
        }

        #[fallback(stale_cache(with = &INSTANCE), Err(err))]
        pub async fn via_static_ref(&self, id: u32) -> Result<u32, Error> {
            answer(id)
        }

        #[fallback(stale_cache(with = *INSTANCE), Err(err))]
        pub async fn via_static_deref(&self, id: u32) -> Result<u32, Error> {
            answer(id)
        }

        #[fallback(stale_cache(with = &*INSTANCE), Err(err))]
        pub async fn via_static_reborrow(&self, id: u32) -> Result<u32, Error> {
            answer(id)
        }

        #[fallback(stale_cache(with = self.own), Err(err))]
        pub async fn via_field(&self, id: u32) -> Result<u32, Error> {
            answer(id)
        }

        #[fallback(stale_cache(with = &self.own), Err(err))]
        pub async fn via_field_ref(&self, id: u32) -> Result<u32, Error> {
            answer(id)
        }

        #[fallback(stale_cache(with = self.shared), Err(err))]
        pub async fn via_arc(&self, id: u32) -> Result<u32, Error> {
            answer(id)
        }

        #[fallback(stale_cache(with = &self.shared), Err(err))]
        pub async fn via_arc_ref(&self, id: u32) -> Result<u32, Error> {
            answer(id)
        }
    }

    fn answer(id: u32) -> Result<u32, Error> {
        if UP.load(Ordering::SeqCst) {
            Ok(id * 10)
        } else {
            Err(Error::Down)
        }
    }

    #[fallback(stale_cache(with = &*INSTANCE), Err(err))]
    pub async fn free(id: u32) -> Result<u32, Error> {
        answer(id)
    }

    #[allow(dead_code)]
    fn every_form_keeps_the_future_send(c: &'static Client) {
        fn assert_send<T: Send>(_: T) {}
        assert_send(c.via_static(0));
        assert_send(c.via_static_reborrow(0));
        assert_send(c.via_field_ref(0));
        assert_send(c.via_arc_ref(0));
        assert_send(free(0));
    }

    /// Stores through `store` while up, then serves through `serve` while down.
    async fn served<F, G>(
        id: u32,
        store: impl FnOnce(u32) -> F,
        serve: impl FnOnce(u32) -> G,
    ) -> Result<u32, Error>
    where
        F: Future<Output = Result<u32, Error>>,
        G: Future<Output = Result<u32, Error>>,
    {
        UP.store(true, Ordering::SeqCst);
        assert_eq!(store(id).await, Ok(id * 10));
        UP.store(false, Ordering::SeqCst);
        serve(id).await
    }

    #[tokio::test(start_paused = true)]
    async fn a_result_stored_through_one_form_is_served_through_the_other() {
        let c = Client {
            own: cache("with-stale-own"),
            shared: Arc::new(cache("with-stale-arc")),
        };
        assert_eq!(
            served(1, |i| c.via_static(i), |i| c.via_static_ref(i)).await,
            Ok(10)
        );
        assert_eq!(
            served(2, |i| c.via_static_deref(i), |i| c.via_static_reborrow(i)).await,
            Ok(20)
        );
        assert_eq!(served(3, free, |i| c.via_static(i)).await, Ok(30));
        assert_eq!(INSTANCE.snapshot().served_stale, 3);

        assert_eq!(
            served(4, |i| c.via_field(i), |i| c.via_field_ref(i)).await,
            Ok(40)
        );
        assert_eq!(c.own.snapshot().served_stale, 1);
        assert_eq!(
            served(5, |i| c.via_arc_ref(i), |i| c.via_arc(i)).await,
            Ok(50)
        );
        assert_eq!(c.shared.snapshot().served_stale, 1);
        assert_eq!(
            served(6, |i| c.via_field(i), |i| c.via_arc(i)).await,
            Err(Error::Down),
            "another instance's cache has nothing for 6"
        );
    }
}
