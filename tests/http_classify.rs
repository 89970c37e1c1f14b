//! `Classify` for real `reqwest` errors and responses from a local server:
//! 429 with both `Retry-After` forms, 503, 500, 404, a refused connection and
//! a client timeout.

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
