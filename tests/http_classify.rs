//! `Classify` for real `reqwest` errors and responses from a local server:
//! 429 with both `Retry-After` forms, 503, 500, 404, a refused connection, a
//! client timeout, and a body that stalls after its headers.

#![cfg(feature = "reqwest")]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header::RETRY_AFTER};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use resilience::http::{self, HttpError, RequestError};
use resilience::{Classify, Outcome, retry};

fn status(code: StatusCode, retry_after: Option<String>) -> Response {
    let mut response = code.into_response();
    if let Some(value) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_str(&value).unwrap());
    }
    response
}

/// Serves the statuses under test on 127.0.0.1 (ephemeral port) until the
/// test's runtime shuts down.
async fn serve() -> SocketAddr {
    let app = Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route(
            "/throttled-seconds",
            get(|| async { status(StatusCode::TOO_MANY_REQUESTS, Some("3".into())) }),
        )
        .route(
            "/throttled-date",
            get(|| async {
                let when = SystemTime::now() + Duration::from_secs(120);
                status(
                    StatusCode::TOO_MANY_REQUESTS,
                    Some(httpdate::fmt_http_date(when)),
                )
            }),
        )
        .route(
            "/unavailable",
            get(|| async { status(StatusCode::SERVICE_UNAVAILABLE, Some("7".into())) }),
        )
        .route(
            "/unavailable-bare",
            get(|| async { status(StatusCode::SERVICE_UNAVAILABLE, None) }),
        )
        .route(
            "/bad-gateway",
            get(|| async { status(StatusCode::BAD_GATEWAY, None) }),
        )
        .route(
            "/broken",
            get(|| async { status(StatusCode::INTERNAL_SERVER_ERROR, None) }),
        )
        .route(
            "/missing",
            get(|| async { status(StatusCode::NOT_FOUND, None) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "too late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A client that talks to 127.0.0.1 directly, whatever proxy the
/// environment names.
fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn send(url: String) -> Result<reqwest::Response, reqwest::Error> {
    client().get(url).send().await
}

async fn get_checked(addr: SocketAddr, path: &str) -> Result<reqwest::Response, HttpError> {
    let response = send(format!("http://{addr}{path}"))
        .await
        .expect("the server answers");
    http::check(response)
}

#[tokio::test]
async fn throttled_with_retry_after_in_seconds() {
    let addr = serve().await;
    let err = get_checked(addr, "/throttled-seconds").await.unwrap_err();
    assert_eq!(err.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
    assert_eq!(err.url().map(|u| u.path()), Some("/throttled-seconds"));
    assert_eq!(
        err.classify(),
        Outcome::Transient {
            retry_after: Some(Duration::from_secs(3))
        }
    );
    assert!(err.to_string().contains("429"), "{err}");
}

#[tokio::test]
async fn throttled_with_retry_after_as_http_date() {
    let addr = serve().await;
    let err = get_checked(addr, "/throttled-date").await.unwrap_err();
    let after = err
        .classify()
        .retry_after()
        .expect("a retry_after from the date");
    // An HTTP-date has whole seconds, and a second may tick between the
    // server writing it and the client reading it.
    assert!(
        after > Duration::from_secs(115) && after <= Duration::from_secs(120),
        "{after:?}"
    );
}

#[tokio::test]
async fn unavailable_is_transient_with_its_retry_after() {
    let addr = serve().await;
    let err = get_checked(addr, "/unavailable").await.unwrap_err();
    assert_eq!(
        err.classify(),
        Outcome::Transient {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    let err = get_checked(addr, "/unavailable-bare").await.unwrap_err();
    assert_eq!(err.classify(), Outcome::TRANSIENT);
    let err = get_checked(addr, "/bad-gateway").await.unwrap_err();
    assert_eq!(err.classify(), Outcome::TRANSIENT);
}

#[tokio::test]
async fn internal_server_error_is_a_fault() {
    let addr = serve().await;
    let err = get_checked(addr, "/broken").await.unwrap_err();
    assert_eq!(err.classify(), Outcome::Fault);
    assert!(err.classify().counts_as_failure());
    assert!(!err.classify().is_retryable(false));
    assert!(err.classify().is_retryable(true));
}

#[tokio::test]
async fn not_found_is_permanent_and_not_held_against_the_service() {
    let addr = serve().await;
    let err = get_checked(addr, "/missing").await.unwrap_err();
    assert_eq!(err.classify(), Outcome::Permanent);
    assert!(!err.classify().counts_as_failure());
}

#[tokio::test]
async fn success_passes_through_check() {
    let addr = serve().await;
    let response = get_checked(addr, "/ok").await.unwrap();
    assert_eq!(response.text().await.unwrap(), "fine");
}

#[tokio::test]
async fn error_for_status_classifies_by_status_without_retry_after() {
    let addr = serve().await;
    for (path, expected) in [
        ("/throttled-seconds", Outcome::TRANSIENT),
        ("/unavailable", Outcome::TRANSIENT),
        ("/broken", Outcome::Fault),
        ("/missing", Outcome::Permanent),
    ] {
        let response = send(format!("http://{addr}{path}")).await.unwrap();
        let err = response.error_for_status().unwrap_err();
        assert_eq!(err.classify(), expected, "{path}");
    }
}

#[tokio::test]
async fn a_request_error_shows_and_chains_the_error_it_wraps() {
    use std::error::Error as _;
    let addr = serve().await;
    let status = get_checked(addr, "/throttled-seconds").await.unwrap_err();
    let text = status.to_string();
    let err = RequestError::from(status);
    assert_eq!(err.to_string(), text);
    let source = err.source().expect("the HttpError it wraps");
    let inner = source.downcast_ref::<HttpError>().expect("an HttpError");
    assert_eq!(inner.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn connection_refused_is_transient() {
    // Bind, note the port, close: nothing listens there now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = send(format!("http://{addr}/")).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(err.classify(), Outcome::TRANSIENT);
    assert_eq!(RequestError::from(err).classify(), Outcome::TRANSIENT);
}

#[tokio::test]
async fn client_timeout_is_transient() {
    let addr = serve().await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = client
        .get(format!("http://{addr}/slow"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.classify(), Outcome::TRANSIENT);
}

/// Serves on 127.0.0.1 a 200 whose headers promise 64 bytes of body, sends
/// 5 of them and stalls, holding every connection open until the test's
/// runtime shuts down: only the client's timeout can end the body read.
async fn serve_stalled_body() -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 64\r\n\r\nhello")
                    .await
                    .unwrap();
                let _held_open = stream;
                std::future::pending::<()>().await;
            });
        }
    });
    addr
}

/// The client's whole-request timeout of the stalled-body tests.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends a GET to the stalled-body server and reads the body.
///
/// The request and its headers go on the real clock, the body read on the
/// paused one. reqwest's timeouts are tokio timers, armed when the request
/// is sent; on a paused clock tokio auto-advances to the next timer as soon
/// as the runtime has nothing to run, even while loopback I/O is in
/// flight, so the timeout could fire before the headers arrive (a
/// different error). Once the headers are in, the server sends nothing
/// more, and the paused clock jumps straight to the deadline: no real
/// waiting, and only the timeout can end the read.
async fn read_stalled_body(client: &reqwest::Client, addr: SocketAddr) -> reqwest::Result<String> {
    let response = client.get(format!("http://{addr}/")).send().await?;
    assert_eq!(response.status(), StatusCode::OK, "the headers arrived");
    tokio::time::pause();
    response.text().await
}

fn client_with_timeout() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(BODY_TIMEOUT)
        .build()
        .unwrap()
}

/// A body read that times out after the headers arrived: reqwest reports
/// it as a decode error that is also a timeout, and not a connect error.
/// It is transient (another attempt may get the whole body), not a fault
/// of the service that only an idempotent call may retry.
#[tokio::test]
async fn a_body_read_that_times_out_is_transient() {
    let addr = serve_stalled_body().await;
    let started = tokio::time::Instant::now();
    let err = read_stalled_body(&client_with_timeout(), addr)
        .await
        .unwrap_err();
    assert!(started.elapsed() >= BODY_TIMEOUT, "ended by the timeout");
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.is_decode() && !err.is_connect(), "{err:?}");
    assert_eq!(err.classify(), Outcome::TRANSIENT);
    assert!(err.classify().is_retryable(false));
    assert_eq!(RequestError::from(err).classify(), Outcome::TRANSIENT);
}

/// `Retry` tries a body that never finishes again, as often as it may, on a
/// call that is not marked idempotent.
#[tokio::test]
async fn a_body_read_that_times_out_is_retried() {
    use resilience::{Backoff, Retry, RetryPolicy};
    use std::sync::atomic::{AtomicU32, Ordering};

    let addr = serve_stalled_body().await;
    let client = client_with_timeout();
    let retry = Retry::new(
        "stalled-body",
        RetryPolicy::new()
            .max_attempts(3)
            .backoff(Backoff::Fixed)
            .base(Duration::from_millis(1)),
    );
    let attempts = AtomicU32::new(0);
    let err = retry
        .call(|| {
            // Each attempt sends on the real clock (see `read_stalled_body`);
            // the one before it left the clock paused.
            if attempts.fetch_add(1, Ordering::SeqCst) > 0 {
                tokio::time::resume();
            }
            read_stalled_body(&client, addr)
        })
        .await
        .unwrap_err();
    assert_eq!(attempts.load(Ordering::SeqCst), 3);
    assert!(err.is_timeout() && err.is_decode(), "{err:?}");
}

#[tokio::test]
async fn invalid_url_is_permanent() {
    let err = client().get("http://[::1").send().await.unwrap_err();
    assert!(err.is_builder(), "{err:?}");
    assert_eq!(err.classify(), Outcome::Permanent);
}

mod annotated {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    static CALLS: AtomicU32 = AtomicU32::new(0);

    /// `#[retry]` reads the classification through `RequestError`: a 404
    /// is not retried, a 502 is.
    #[retry(max_attempts = 3, backoff = "fixed", base = "1ms", jitter = "none")]
    async fn fetch(addr: SocketAddr, path: &'static str) -> Result<String, RequestError> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        let response = send(format!("http://{addr}{path}")).await?;
        Ok(http::check(response)?.text().await?)
    }

    #[tokio::test]
    async fn retry_follows_the_classification() {
        let addr = serve().await;
        let before = CALLS.load(Ordering::SeqCst);
        let err = fetch(addr, "/missing").await.unwrap_err();
        assert!(matches!(&err, RequestError::Status(e) if e.status() == StatusCode::NOT_FOUND));
        assert_eq!(
            CALLS.load(Ordering::SeqCst) - before,
            1,
            "a 404 is not retried"
        );

        let before = CALLS.load(Ordering::SeqCst);
        fetch(addr, "/bad-gateway").await.unwrap_err();
        assert_eq!(CALLS.load(Ordering::SeqCst) - before, 3, "a 502 is retried");
    }
}
