//! The `tracing` events (#15): the error that caused a retry or a fallback
//! is in the event, by `Display`; field names are the same in every layer;
//! Open → HalfOpen is logged when `open_for` ends.

#[path = "support/tracing_capture.rs"]
mod tracing_capture;

use std::fmt;
use std::time::Duration;

use resilience::{Rejection, circuit_breaker, fallback, retry};
use tracing_capture::{Capture, Fields};

#[derive(Debug)]
struct Refused(u32);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connection refused by replica {}", self.0)
    }
}

impl From<Rejection> for Refused {
    fn from(_: Rejection) -> Self {
        Refused(0)
    }
}

#[retry(
    name = "trace-retry",
    max_attempts = 2,
    backoff = "fixed",
    base = "50ms",
    jitter = "none"
)]
async fn refused() -> Result<(), Refused> {
    Err(Refused(3))
}

#[fallback(Ok(0))]
async fn falls_back() -> Result<u32, Refused> {
    Err(Refused(4))
}

#[circuit_breaker(name = "trace-breaker", failure_threshold = 1, open_for = "3s")]
async fn breaks() -> Result<(), Refused> {
    Err(Refused(5))
}

fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(future)
}

fn field<'a>(fields: &'a Fields, key: &str) -> Option<&'a str> {
    fields.get(key).map(String::as_str)
}

#[test]
fn retry_and_fallback_events_carry_the_error_and_uniform_fields() {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        run(async {
            assert!(refused().await.is_err());
            assert_eq!(falls_back().await.unwrap(), 0);
        })
    });
    let retry = capture.take("trace-retry");
    let retrying = &retry[0];
    assert_eq!(field(retrying, "layer"), Some("retry"));
    assert_eq!(field(retrying, "attempt"), Some("2"));
    assert_eq!(field(retrying, "delay"), Some("50ms"));
    assert_eq!(
        field(retrying, "error"),
        Some("connection refused by replica 3")
    );
    let gave_up = &retry[1];
    assert_eq!(field(gave_up, "attempt"), Some("2"));
    assert_eq!(
        field(gave_up, "error"),
        Some("connection refused by replica 3")
    );

    let fallback = capture.take(concat!(module_path!(), "::falls_back"));
    assert_eq!(fallback.len(), 1);
    assert_eq!(field(&fallback[0], "layer"), Some("fallback"));
    assert_eq!(field(&fallback[0], "level"), Some("1"));
    assert_eq!(
        field(&fallback[0], "error"),
        Some("connection refused by replica 4")
    );
}

#[test]
fn half_open_is_logged_when_open_for_ends_not_at_the_next_call() {
    let capture = Capture::default();
    tracing::subscriber::with_default(capture.clone(), || {
        run(async {
            assert!(breaks().await.is_err());
            let opened = capture.take("trace-breaker");
            assert_eq!(field(&opened[0], "layer"), Some("circuit_breaker"));
            assert_eq!(
                (field(&opened[0], "from"), field(&opened[0], "to")),
                (Some("closed"), Some("open"))
            );

            assert!(breaks().await.is_err());
            let rejected = capture.take("trace-breaker");
            assert_eq!(field(&rejected[0], "retry_after"), Some("Some(3s)"));

            tokio::time::sleep(Duration::from_secs(3)).await;
            tokio::task::yield_now().await;
            let due = capture.take("trace-breaker");
            assert_eq!(due.len(), 1, "{due:?}");
            assert_eq!(
                (field(&due[0], "from"), field(&due[0], "to")),
                (Some("open"), Some("half-open"))
            );
        })
    });
}
