//! What the attributes' expansions rely on in `resilience::__private`
//! (issue 22, mutation testing): the error a fallback event shows, by
//! `Display`, by `Debug` or by its type's name; the log line of an error
//! `fallback_if` leaves alone; and `priority = …` read through each way an
//! argument is borrowed. Time runs on tokio's paused clock.

#[path = "support/tracing_capture.rs"]
mod tracing_capture;

use std::fmt;
use std::time::Duration;

use resilience::events::{self, Event};
use resilience::{AdaptiveConcurrency, LimitAlgorithm, Rejection, adaptive_concurrency, fallback};
use tracing_capture::Capture;

/// Shown by `Display`, though it has `Debug` too.
#[derive(Debug)]
struct Shown;

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the service is down")
    }
}

/// Only `Debug`.
#[derive(Debug)]
struct OnlyDebug;

/// Neither `Display` nor `Debug`.
struct Opaque;

#[fallback(Ok(1))]
async fn falls_back_from_shown() -> Result<u32, Shown> {
    Err(Shown)
}

#[fallback(Ok(1))]
async fn falls_back_from_only_debug() -> Result<u32, OnlyDebug> {
    Err(OnlyDebug)
}

#[fallback(Ok(1))]
async fn falls_back_from_opaque() -> Result<u32, Opaque> {
    Err(Opaque)
}

/// The error text of each `FallbackUsed` event of `function`.
fn fallback_errors(events: &[Event], function: &str) -> Vec<String> {
    let name = format!("{}::{function}", module_path!());
    events
        .iter()
        .filter_map(|e| match e {
            Event::FallbackUsed { name: n, error, .. } if *n == name => Some(error.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_fallback_event_shows_the_error_by_display_else_debug_else_its_type() {
    let mut sub = events::subscribe();
    assert_eq!(falls_back_from_shown().await.ok(), Some(1));
    assert_eq!(falls_back_from_only_debug().await.ok(), Some(1));
    assert_eq!(falls_back_from_opaque().await.ok(), Some(1));
    let events = sub.drain();
    assert_eq!(
        fallback_errors(&events, "falls_back_from_shown"),
        ["the service is down"]
    );
    assert_eq!(
        fallback_errors(&events, "falls_back_from_only_debug"),
        ["OnlyDebug"]
    );
    assert_eq!(
        fallback_errors(&events, "falls_back_from_opaque"),
        ["an error of type mutants_macro_support::Opaque"]
    );
}

#[derive(Debug, PartialEq)]
struct Down;

fn never(_: &Down) -> bool {
    false
}

#[fallback(fallback_if = never, Ok(1))]
async fn falls_back_never() -> Result<u32, Down> {
    Err(Down)
}

#[tokio::test]
async fn an_error_fallback_if_leaves_alone_is_returned_and_logged_under_the_name() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    assert_eq!(falls_back_never().await, Err(Down));
    let name = concat!(module_path!(), "::falls_back_never");
    let logged = capture.take(name);
    assert!(
        logged.iter().any(|f| f.get("message").map(String::as_str)
            == Some("resilience: call failed, and fallback_if leaves this error alone")),
        "{logged:?}"
    );
}

// One call at a time and no queue: a second call is refused, and counted
// under its own priority.
static BY_VALUE: AdaptiveConcurrency =
    AdaptiveConcurrency::new("mms-priority-value", LimitAlgorithm::Aimd)
        .min(1)
        .initial(1)
        .max(1);
static BY_REF: AdaptiveConcurrency =
    AdaptiveConcurrency::new("mms-priority-ref", LimitAlgorithm::Aimd)
        .min(1)
        .initial(1)
        .max(1);
static BY_REF_REF: AdaptiveConcurrency =
    AdaptiveConcurrency::new("mms-priority-ref-ref", LimitAlgorithm::Aimd)
        .min(1)
        .initial(1)
        .max(1);

/// `*level`: a `u8`.
#[adaptive_concurrency(with = BY_VALUE, priority = *level)]
async fn priority_by_value(level: u8) -> Result<(), Rejection> {
    let _ = level;
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}

/// `level`, a `u8` argument seen borrowed: a `&u8`.
#[adaptive_concurrency(with = BY_REF, priority = level)]
async fn priority_by_ref(level: u8) -> Result<(), Rejection> {
    let _ = level;
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}

/// `level`, a `&u8` argument seen borrowed: a `&&u8`.
#[adaptive_concurrency(with = BY_REF_REF, priority = level)]
async fn priority_by_ref_ref(level: &u8) -> Result<(), Rejection> {
    let _ = level;
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_is_counted_under_the_priority_its_expression_gives() {
    let (a, b) = tokio::join!(priority_by_value(5), priority_by_value(5));
    assert!(a.is_ok() && matches!(b, Err(Rejection::ConcurrencyLimited { .. })));
    assert_eq!(BY_VALUE.snapshot().shed_by_priority, [(5, 1)]);

    let (a, b) = tokio::join!(priority_by_ref(6), priority_by_ref(6));
    assert!(a.is_ok() && matches!(b, Err(Rejection::ConcurrencyLimited { .. })));
    assert_eq!(BY_REF.snapshot().shed_by_priority, [(6, 1)]);

    let (a, b) = tokio::join!(priority_by_ref_ref(&7), priority_by_ref_ref(&7));
    assert!(a.is_ok() && matches!(b, Err(Rejection::ConcurrencyLimited { .. })));
    assert_eq!(BY_REF_REF.snapshot().shed_by_priority, [(7, 1)]);
}
