//! `Retry` without the macro (issue 22, mutation testing): the policy a
//! user sets is the policy read back and applied, the counters a dashboard
//! shows add up, and two call sites naming one retry are told apart by
//! their settings. Each test drives `Retry::start` and its `Attempts` by
//! hand, as a user's own loop does, or `Retry::call` on tokio's paused clock.

use std::time::Duration;

use resilience::events::{self, Event};
use resilience::registry::{self, Kind};
use resilience::{Backoff, Jitter, Outcome, Retry, RetryBudget, RetryPolicy};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Every combination the policy can hold, as a user writes it.
fn every_policy() -> Vec<RetryPolicy> {
    let mut all = Vec::new();
    for backoff in [
        Backoff::Fixed,
        Backoff::Linear,
        Backoff::Exponential,
        Backoff::Decorrelated,
    ] {
        for jitter in [Jitter::None, Jitter::Full, Jitter::Equal] {
            // Decorrelated backoff is random already: no jitter on it.
            if backoff == Backoff::Decorrelated && jitter != Jitter::None {
                continue;
            }
            for idempotent in [false, true] {
                all.push(
                    RetryPolicy::new()
                        .max_attempts(7)
                        .backoff(backoff)
                        .base(ms(20))
                        .max_delay(ms(900))
                        .jitter(jitter)
                        .max_elapsed(Duration::from_secs(4))
                        .idempotent(idempotent),
                );
            }
        }
    }
    all
}

#[test]
fn the_policy_read_back_is_the_policy_set_at_construction_and_on_reconfigure() {
    let policies = every_policy();
    for p in &policies {
        let retry = Retry::named("mutants-retry-policy", *p);
        assert_eq!(retry.policy(), *p);
        assert_eq!(retry.policy().get_max_attempts(), 7);
    }
    // A live reload replaces every setting, whatever was there before.
    let retry = Retry::named("mutants-retry-reload", policies[0]);
    for p in policies.iter().rev() {
        retry.reconfigure(*p);
        assert_eq!(retry.policy(), *p);
    }
    let fewer = RetryPolicy::new().max_attempts(2).base(ms(5));
    retry.reconfigure(fewer);
    assert_eq!(retry.policy().get_max_attempts(), 2);
    // ... and the next decision follows it: the second attempt is the last.
    let mut attempts = retry.start();
    assert!(attempts.after_failure(Outcome::TRANSIENT).is_some());
    assert_eq!(attempts.after_failure(Outcome::TRANSIENT), None);
}

#[test]
fn name_and_budget_are_those_given() {
    let plain = Retry::new("mutants-retry-plain", RetryPolicy::new());
    assert_eq!(plain.name(), "mutants-retry-plain");
    assert!(plain.budget().is_none());

    let budget = |r: &Retry| r.budget().map(|b| (b.ratio(), b.min_per_sec()));
    let with = Retry::with_budget(
        "mutants-retry-with",
        RetryPolicy::new(),
        RetryBudget::new(0.25, 3),
    );
    assert_eq!(budget(&with), Some((0.25, 3)));
    let later =
        Retry::named("mutants-retry-later", RetryPolicy::new()).budgeted(RetryBudget::new(0.5, 7));
    assert_eq!(later.name(), "mutants-retry-later");
    assert_eq!(budget(&later), Some((0.5, 7)));
}

#[test]
fn the_counters_tell_first_time_answers_from_answers_after_retries() {
    let retry = Retry::named(
        "mutants-retry-counts",
        RetryPolicy::new().max_attempts(3).base(ms(1)),
    );
    // Two calls answer at once.
    for _ in 0..2 {
        let attempts = retry.start();
        assert_eq!(attempts.failed(), 0);
        attempts.succeeded();
    }
    // Three answer after one retry each.
    for _ in 0..3 {
        let mut attempts = retry.start();
        assert!(attempts.after_failure(Outcome::TRANSIENT).is_some());
        assert_eq!(attempts.failed(), 1);
        attempts.succeeded();
    }
    // Five fail at once (a permanent error is not retried).
    for _ in 0..5 {
        let mut attempts = retry.start();
        assert_eq!(attempts.after_failure(Outcome::Permanent), None);
        assert_eq!(attempts.failed(), 1);
    }
    // Seven fail after using every attempt (two retries each).
    for _ in 0..7 {
        let mut attempts = retry.start();
        assert!(attempts.after_failure(Outcome::TRANSIENT).is_some());
        assert!(attempts.after_failure(Outcome::TRANSIENT).is_some());
        assert_eq!(attempts.after_failure(Outcome::TRANSIENT), None);
        assert_eq!(attempts.failed(), 3);
    }
    let s = retry.snapshot();
    assert_eq!(s.successful_without_retry, 2);
    assert_eq!(s.successful_with_retry, 3);
    assert_eq!(s.failed_without_retry, 5);
    assert_eq!(s.failed_with_retry, 7);
    assert_eq!(s.retries, 3 + 7 * 2);
    assert_eq!(s.calls.succeeded, 5);
    assert_eq!(s.calls.failed, 12);
    assert_eq!(s.calls.rejected, 0);
}

#[test]
fn events_number_the_attempt_coming_and_the_attempts_made() {
    let name = "mutants-retry-events";
    let mut sub = events::subscribe();
    let retry = Retry::named(
        name,
        RetryPolicy::new()
            .max_attempts(3)
            .backoff(Backoff::Fixed)
            .base(ms(10))
            .jitter(Jitter::None),
    );
    let mut attempts = retry.start();
    assert_eq!(attempts.after_failure(Outcome::TRANSIENT), Some(ms(10)));
    assert_eq!(attempts.after_failure(Outcome::TRANSIENT), Some(ms(10)));
    assert_eq!(attempts.after_failure(Outcome::TRANSIENT), None);
    let mine: Vec<Event> = sub
        .drain()
        .into_iter()
        .filter(|e| match e {
            Event::Retry { name: n, .. } | Event::RetriesExhausted { name: n, .. } => n == name,
            _ => false,
        })
        .collect();
    let retries: Vec<u32> = mine
        .iter()
        .filter_map(|e| match e {
            Event::Retry { attempt, delay, .. } => {
                assert_eq!(*delay, ms(10));
                Some(*attempt)
            }
            _ => None,
        })
        .collect();
    // "Retrying: attempt 2 coming", then 3.
    assert_eq!(retries, [2, 3]);
    let exhausted: Vec<(u32, &str)> = mine
        .iter()
        .filter_map(|e| match e {
            Event::RetriesExhausted {
                attempts, reason, ..
            } => Some((*attempts, *reason)),
            _ => None,
        })
        .collect();
    assert_eq!(exhausted, [(3, "retries exhausted")]);
}

#[tokio::test(start_paused = true)]
async fn an_ok_rejected_by_retry_on_ok_is_retried_and_an_accepted_one_returned() {
    let retry = Retry::named(
        "mutants-retry-on-ok",
        RetryPolicy::new().max_attempts(5).base(ms(1)),
    );
    let mut calls = 0;
    let out: Result<u32, std::io::Error> = retry
        .call_with_retry_on_ok(
            || {
                calls += 1;
                let answer = calls;
                async move { Ok(answer) }
            },
            |n| *n < 3,
        )
        .await;
    // 1 and 2 are rejected, 3 is accepted.
    assert_eq!(out.unwrap(), 3);
    assert_eq!(calls, 3);
    // An `Ok` accepted at once counts as an answer without retry; one
    // rejected on every attempt is returned, counted as a failure.
    let first: Result<u32, std::io::Error> = retry
        .call_with_retry_on_ok(|| async { Ok(9) }, |n| *n < 3)
        .await;
    assert_eq!(first.unwrap(), 9);
    let used_up: Result<u32, std::io::Error> = retry
        .call_with_retry_on_ok(|| async { Ok(0) }, |n| *n < 3)
        .await;
    assert_eq!(used_up.unwrap(), 0);
    let s = retry.snapshot();
    assert_eq!(
        (s.successful_without_retry, s.successful_with_retry),
        (1, 1)
    );
    assert_eq!((s.failed_without_retry, s.failed_with_retry), (0, 1));
    assert_eq!(s.retries, 2 + 4);
}

fn conflicts(name: &str) -> Option<usize> {
    registry::entries()
        .into_iter()
        .find(|e| e.kind == "retry" && e.name == name)
        .map(|e| e.conflicts)
}

#[test]
fn the_registry_counts_a_second_site_with_other_settings_as_a_conflict() {
    let name = "mutants-retry-registry";
    let p = RetryPolicy::new().max_attempts(4);
    let first = registry::get_or_register(name, || {
        Retry::with_budget(name, p, RetryBudget::new(0.2, 5))
    });
    let same = registry::get_or_register(name, || {
        Retry::with_budget(name, p, RetryBudget::new(0.2, 5))
    });
    assert!(std::sync::Arc::ptr_eq(&first, &same));
    assert_eq!(conflicts(name), Some(0));
    // Other attempts, same budget.
    registry::get_or_register(name, || {
        Retry::with_budget(name, p.max_attempts(5), RetryBudget::new(0.2, 5))
    });
    assert_eq!(conflicts(name), Some(1));
    // Same attempts, another budget ratio, another floor, or none.
    for other in [
        Some(RetryBudget::new(0.3, 5)),
        Some(RetryBudget::new(0.2, 6)),
        None,
    ] {
        registry::get_or_register(name, || {
            let retry = Retry::named(name, p);
            match other {
                Some(budget) => retry.budgeted(budget),
                None => retry,
            }
        });
    }
    assert_eq!(conflicts(name), Some(4));
    assert_eq!(first.policy().get_max_attempts(), 4);
}

#[test]
fn the_registry_describes_a_named_retry_with_its_settings_and_counts() {
    let name = "mutants-retry-described";
    let retry = registry::get_or_register(name, || {
        Retry::with_budget(
            name,
            RetryPolicy::new()
                .max_attempts(4)
                .backoff(Backoff::Linear)
                .base(ms(50))
                .max_delay(ms(400))
                .jitter(Jitter::Equal)
                .max_elapsed(Duration::from_secs(3))
                .idempotent(true),
            RetryBudget::new(0.1, 10),
        )
    });
    retry.start().succeeded();
    let me = registry::instances()
        .into_iter()
        .find(|i| i.kind == Kind::Retry && i.name == name)
        .expect("a named retry is listed");
    let setting = |key| me.policy.get(key).map(str::to_owned);
    assert_eq!(setting("max_attempts").as_deref(), Some("4"));
    assert_eq!(setting("backoff").as_deref(), Some("linear"));
    assert_eq!(setting("jitter").as_deref(), Some("equal"));
    assert_eq!(setting("idempotent").as_deref(), Some("true"));
    assert_eq!(setting("budget").as_deref(), Some("0.1"));
    assert!(setting("base").is_some());
    assert!(setting("max_delay").is_some());
    assert!(setting("max_elapsed").is_some());
    match me.snapshot {
        registry::Snapshot::Retry(s) => assert_eq!(s.successful_without_retry, 1),
        other => panic!("a retry's snapshot, not {other:?}"),
    }
}

#[test]
fn a_retry_after_hint_of_exactly_max_delay_is_honoured_and_a_longer_one_ends_the_retries() {
    let retry = Retry::named(
        "mutants-retry-hint",
        RetryPolicy::new()
            .max_attempts(5)
            .backoff(Backoff::Fixed)
            .base(ms(10))
            .max_delay(ms(200))
            .jitter(Jitter::None),
    );
    let hint = |after| Outcome::Transient {
        retry_after: Some(after),
    };
    let mut attempts = retry.start();
    assert_eq!(attempts.after_failure(hint(ms(200))), Some(ms(200)));
    assert_eq!(attempts.after_failure(hint(ms(201))), None);
}

#[tokio::test(start_paused = true)]
async fn an_attempt_may_start_exactly_at_max_elapsed_but_not_after() {
    let retry = Retry::named(
        "mutants-retry-elapsed",
        RetryPolicy::new()
            .max_attempts(10)
            .backoff(Backoff::Fixed)
            .base(ms(100))
            .jitter(Jitter::None)
            .max_elapsed(ms(300)),
    );
    let mut attempts = retry.start();
    let mut starts = vec![Duration::ZERO];
    let t0 = tokio::time::Instant::now();
    while let Some(delay) = attempts.after_failure(Outcome::TRANSIENT) {
        tokio::time::advance(delay).await;
        starts.push(t0.elapsed());
    }
    // At 0, 100, 200 and 300 ms; the next would start at 400 ms.
    assert_eq!(starts, [ms(0), ms(100), ms(200), ms(300)]);
}
