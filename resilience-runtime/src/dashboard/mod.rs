//! A live page of every instance, as an axum [`Router`] to mount in your
//! service (feature `dashboard`).
//!
//! [`router()`] serves, relative to wherever you mount it:
//!
//! | path | what |
//! |---|---|
//! | `.` | the page: one card per instance (state in colour and words, calls per second with a sparkline, failure and slow-call rates against their thresholds, bulkhead and rate-limiter room, retry kinds, the timeout in force, the last events), trouble first, with a filter box. Everything is embedded in the crate; the page loads nothing from elsewhere (its `Content-Security-Policy` says so). |
//! | `./stream` | server-sent events: every instance's snapshot as JSON, about twice a second ([`INTERVAL`]) |
//! | `./snapshot.json` | the same JSON, once |
//! | `./health` | [`health()`](crate::health()) as JSON: `200 OK` when every instance is Up, `503` otherwise |
//!
//! The page's URLs are relative, so it works under any prefix
//! (`Router::nest("/ops/resilience", …)` serves it at `/ops/resilience`),
//! behind a proxy that adds its own.
//!
//! # Cost to the service
//!
//! Nothing while nobody watches. While a page is open, one task per
//! router takes one snapshot of the registry per [`INTERVAL`], serializes
//! it once, and hands it to every connection through a
//! [`tokio::sync::watch`] slot: a connection holds the latest frame only,
//! so a slow or stalled browser skips frames and never holds back the
//! snapshot, another browser, or a call. The task stops when the last page
//! closes. The last few events of each instance come from one
//! [`events::subscribe`](crate::events::subscribe) queue, drained each
//! frame.
//!
//! # Example
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let app = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "my service" }))
//!     .nest("/ops/resilience", resilience::dashboard::router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! // Open http://127.0.0.1:8080/ops/resilience/ in a browser.
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

mod frame;
mod hub;
#[cfg(test)]
mod tests;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::WatchStream;

use crate::health::Status;
use hub::Hub;

/// How often the stream sends every instance's snapshot.
///
/// ```
/// assert_eq!(resilience::dashboard::INTERVAL.as_millis(), 500);
/// ```
pub const INTERVAL: Duration = Duration::from_millis(500);

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("dashboard.js");
const STYLE: &str = include_str!("dashboard.css");

/// Nothing but this origin: the page is self-contained, and a browser
/// refuses anything else it might be tricked into loading.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'self'; form-action 'none'; frame-ancestors 'self'";

/// The dashboard's routes, to mount under any path of your axum app (see
/// the [module documentation](self) for what each serves).
///
/// Each call makes a router with its own snapshot task (started by the
/// first open page, stopped when the last one closes); mount it once.
///
/// ```
/// let app: axum::Router = axum::Router::new().nest("/ops/resilience", resilience::dashboard::router());
/// ```
pub fn router() -> Router {
    let hub = Arc::new(Hub::new(INTERVAL));
    Router::new()
        .route("/", get(page))
        .route("/dashboard.js", get(script))
        .route("/dashboard.css", get(style))
        .route("/stream", get(stream))
        .route("/snapshot.json", get(snapshot))
        .route("/health", get(health))
        .with_state(hub)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

async fn page(OriginalUri(uri): OriginalUri) -> Response {
    let mut response = asset("text/html; charset=utf-8", "");
    *response.body_mut() = axum::body::Body::from(with_base(PAGE, uri.path()));
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

/// The page with its relative URLs anchored inside the mount point.
/// Nested at `/ops/resilience`, axum serves the page at that path, without
/// a trailing slash, where `dashboard.js` would resolve to
/// `/ops/dashboard.js`: a relative `<base href="resilience/">` puts them
/// back under the prefix, behind any proxy prefix too.
fn with_base(page: &str, path: &str) -> String {
    let base = if path.ends_with('/') {
        String::new()
    } else {
        let last = path.rsplit('/').next().unwrap_or_default();
        let escaped = last
            .replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('<', "&lt;");
        format!("<base href=\"{escaped}/\">")
    };
    page.replacen("<!--base-->", &base, 1)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

async fn snapshot(State(hub): State<Arc<Hub>>) -> Response {
    json(StatusCode::OK, hub.frame_now().to_string())
}

async fn health() -> Response {
    let health = crate::health();
    let status = if health.status == Status::Up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    match serde_json::to_string(&health) {
        Ok(body) => json(status, body),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn stream(
    State(hub): State<Arc<Hub>>,
) -> Sse<impl tokio_stream::Stream<Item = Result<SseEvent, Infallible>>> {
    let frames = WatchStream::new(hub.watch())
        .filter_map(|frame| frame.map(|json| Ok(SseEvent::default().data(&*json))));
    // No keep-alive needed: a frame goes out every INTERVAL.
    Sse::new(frames)
}
