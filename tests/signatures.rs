//! Every kind of signature keeps working under the attributes.

use std::io;
use std::num::ParseIntError;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use resilience::{Rejection, retry, timeout};

#[derive(Debug, PartialEq)]
enum AppError {
    Busy,
    Parse(ParseIntError),
    Rejected(Rejection),
}

impl From<Rejection> for AppError {
    fn from(r: Rejection) -> Self {
        AppError::Rejected(r)
    }
}

impl From<ParseIntError> for AppError {
    fn from(e: ParseIntError) -> Self {
        AppError::Parse(e)
    }
}

#[retry(max_attempts = 2, base = "1ms")]
#[timeout("1s")]
async fn free(x: u32) -> Result<u32, AppError> {
    Ok(x + 1)
}

#[tokio::test(start_paused = true)]
async fn free_function() {
    assert_eq!(free(1).await, Ok(2));
}

struct Service {
    hits: AtomicU32,
    total: u32,
}

impl Service {
    fn new() -> Self {
        Service {
            hits: AtomicU32::new(0),
            total: 0,
        }
    }

    #[retry(max_attempts = 3, backoff = "fixed", base = "1ms")]
    async fn by_ref(&self) -> Result<u32, AppError> {
        let n = self.hits.fetch_add(1, Ordering::SeqCst) + 1;
        if n < 3 { Err(AppError::Busy) } else { Ok(n) }
    }

    /// Each attempt borrows `self` mutably anew.
    #[retry(max_attempts = 3, backoff = "fixed", base = "1ms")]
    #[timeout("1s")]
    async fn by_mut(&mut self, step: u32) -> Result<u32, AppError> {
        self.total += step;
        if self.total < 3 * step {
            Err(AppError::Busy)
        } else {
            Ok(self.total)
        }
    }

    #[timeout("1s")]
    #[retry(max_attempts = 2, base = "1ms")]
    async fn by_arc(self: Arc<Self>) -> Result<u32, AppError> {
        Ok(self.hits.load(Ordering::SeqCst))
    }
}

#[tokio::test(start_paused = true)]
async fn receivers() {
    let service = Service::new();
    assert_eq!(service.by_ref().await, Ok(3));

    let mut service = Service::new();
    assert_eq!(service.by_mut(2).await, Ok(6));
    assert_eq!(service.total, 6);

    let service = Arc::new(Service::new());
    service.hits.store(9, Ordering::SeqCst);
    assert_eq!(service.clone().by_arc().await, Ok(9));
}

trait Store {
    async fn get(&self, key: u32) -> Result<u32, AppError>;
}

impl Store for Service {
    #[retry(max_attempts = 2, base = "1ms")]
    async fn get(&self, key: u32) -> Result<u32, AppError> {
        Ok(key * 10)
    }
}

#[tokio::test(start_paused = true)]
async fn trait_impl_method() {
    assert_eq!(Service::new().get(4).await, Ok(40));
}

#[retry(max_attempts = 2, base = "1ms")]
#[timeout("1s")]
async fn generic<T, U>(value: T, extra: U) -> Result<(T, usize), AppError>
where
    T: Clone + Send,
    U: AsRef<[u8]> + Clone,
{
    Ok((value, extra.as_ref().len()))
}

#[retry(max_attempts = 2, base = "1ms")]
async fn impl_trait_arg(value: impl std::fmt::Display + Clone) -> Result<String, AppError> {
    Ok(format!("<{value}>"))
}

#[retry(max_attempts = 2, base = "1ms")]
#[timeout("1s")]
async fn first_word<'a>(text: &'a str) -> Result<&'a str, AppError> {
    Ok(text.split(' ').next().unwrap_or(text))
}

#[retry(max_attempts = 2, base = "1ms")]
async fn elided(text: &str) -> Result<&str, AppError> {
    Ok(text.trim())
}

#[tokio::test(start_paused = true)]
async fn generics_impl_trait_and_lifetimes() {
    assert_eq!(generic("a", vec![1u8, 2]).await, Ok(("a", 2)));
    assert_eq!(impl_trait_arg(5).await, Ok("<5>".to_owned()));
    let owned = String::from("hello world");
    assert_eq!(first_word(&owned).await, Ok("hello"));
    assert_eq!(elided("  x ").await, Ok("x"));
}

#[retry(max_attempts = 3, backoff = "fixed", base = "1ms")]
#[timeout("1s")]
async fn parse(text: &str) -> Result<u32, AppError> {
    if text.is_empty() {
        return Err(AppError::Busy);
    }
    let n: u32 = text.parse()?;
    Ok(n * 2)
}

#[tokio::test(start_paused = true)]
async fn return_and_question_mark() {
    assert_eq!(parse("21").await, Ok(42));
    assert!(matches!(parse("x").await, Err(AppError::Parse(_))));
    assert_eq!(parse("").await, Err(AppError::Busy));
}

#[retry(max_attempts = 2, base = "1ms")]
#[timeout("1s")]
async fn io_alias(fail: bool) -> io::Result<u8> {
    if fail {
        Err(io::Error::new(io::ErrorKind::InvalidInput, "bad"))
    } else {
        Ok(7)
    }
}

#[timeout("10ms")]
async fn anyhow_alias(hang: bool) -> anyhow::Result<u8> {
    if hang {
        std::future::pending::<()>().await;
    }
    Ok(8)
}

#[tokio::test(start_paused = true)]
async fn error_types_through_aliases() {
    assert_eq!(io_alias(false).await.unwrap(), 7);
    assert_eq!(
        io_alias(true).await.unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert_eq!(anyhow_alias(false).await.unwrap(), 8);
    let err = anyhow_alias(true).await.unwrap_err();
    assert!(matches!(
        err.downcast_ref::<Rejection>(),
        Some(Rejection::Timeout { .. })
    ));
}

/// Doubles its input.
#[must_use = "the answer matters"]
#[retry(max_attempts = 2, base = "1ms")]
#[cfg_attr(test, timeout("1s"))]
#[allow(clippy::unused_async)]
async fn with_other_attributes(x: u32) -> Result<u32, AppError> {
    Ok(x * 2)
}

#[retry(max_attempts = 2, base = "1ms")]
#[cfg(not(test))]
async fn configured_out() -> Result<u32, AppError> {
    compile_error!("a `#[cfg]`-removed function must stay removed")
}

#[retry(max_attempts = 2, base = "1ms")]
#[cfg(test)]
async fn configured_out() -> Result<u32, AppError> {
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn other_attributes_are_kept() {
    assert_eq!(with_other_attributes(4).await, Ok(8));
    assert_eq!(configured_out().await, Ok(1));
}

#[retry(max_attempts = 2, base = "1ms")]
async fn patterns(
    (a, b): (u32, u32),
    mut acc: Vec<u32>,
    _unused: u8,
) -> Result<Vec<u32>, AppError> {
    acc.push(a + b);
    Ok(acc)
}

#[tokio::test(start_paused = true)]
async fn argument_patterns_and_mut_bindings() {
    assert_eq!(patterns((1, 2), vec![0], 9).await, Ok(vec![0, 3]));
}

fn assert_send<T: Send>(_: &T) {}

#[test]
fn futures_stay_send() {
    assert_send(&free(1));
    let service = Service::new();
    assert_send(&service.by_ref());
    let mut service = Service::new();
    assert_send(&service.by_mut(1));
    assert_send(&Arc::new(Service::new()).by_arc());
    assert_send(&generic(1u8, [0u8; 2]));
    assert_send(&parse("1"));
    assert_send(&io_alias(false));
    assert_send(&anyhow_alias(false));
    assert_send(&patterns((1, 2), Vec::new(), 0));
}

/// A `Send` but not `Sync` argument taken by value: the future stays `Send`
/// (arguments are moved into the attempt, not borrowed across awaits).
#[retry(max_attempts = 2, base = "1ms")]
#[timeout("1s")]
async fn not_sync_arg(cell: std::cell::Cell<u32>) -> Result<u32, AppError> {
    tokio::task::yield_now().await;
    Ok(cell.get())
}

#[test]
fn send_but_not_sync_arguments_keep_the_future_send() {
    assert_send(&not_sync_arg(std::cell::Cell::new(1)));
}

/// Sets its flag when dropped.
struct DropFlag<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for DropFlag<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[timeout("1s")]
async fn holds_an_unnamed_guard(
    _: DropFlag<'_>,
    dropped: &std::sync::atomic::AtomicBool,
) -> Result<bool, Rejection> {
    tokio::task::yield_now().await;
    Ok(dropped.load(Ordering::SeqCst))
}

#[tokio::test(start_paused = true)]
async fn an_underscore_argument_lives_to_the_end_of_the_body() {
    let dropped = std::sync::atomic::AtomicBool::new(false);
    assert_eq!(
        holds_an_unnamed_guard(DropFlag(&dropped), &dropped).await,
        Ok(false)
    );
    assert!(dropped.load(Ordering::SeqCst));
}

struct Inventory;
struct Pricing;

impl Inventory {
    #[timeout("10ms")]
    async fn lookup(&self) -> Result<u32, AppError> {
        std::future::pending().await
    }
}

impl Pricing {
    #[timeout("10ms")]
    async fn lookup(&self) -> Result<u32, AppError> {
        std::future::pending().await
    }

    #[timeout("10ms", name = "Pricing::quote")]
    async fn quote(&self) -> Result<u32, AppError> {
        std::future::pending().await
    }
}

#[timeout("10ms")]
async fn lookup() -> Result<u32, AppError> {
    std::future::pending().await
}

fn rejected_name(result: Result<u32, AppError>) -> String {
    match result {
        Err(AppError::Rejected(rejection)) => rejection.name().to_owned(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// The attribute cannot see the `impl` a method is in, so a method's
/// private instance says it is a method rather than pass for a free
/// function of the module; `name = "Type::method"` names the type.
#[tokio::test(start_paused = true)]
async fn method_instances_are_named_as_methods() {
    let method = concat!(module_path!(), "::<impl>::lookup");
    assert_eq!(rejected_name(Inventory.lookup().await), method);
    assert_eq!(rejected_name(Pricing.lookup().await), method);
    assert_eq!(
        rejected_name(lookup().await),
        concat!(module_path!(), "::lookup")
    );
    assert_eq!(rejected_name(Pricing.quote().await), "Pricing::quote");
}
