//! What the macro expansions name, through `resilience::__private`.
//! Not public API: no stability promise.

#![allow(missing_docs)]

use crate::{Classify, Outcome, Rejection};

pub use crate::registry::NamedSlot;
pub use crate::retry::{Attempts, Backoff, Jitter, RetryPolicy};
pub use crate::{Retry, Timeout};
pub use std::sync::LazyLock;
pub use tokio::time::sleep;

/// The `Ok` and `Err` types of an annotated function's return type, so the
/// expansion can name `E` even through aliases such as `io::Result<T>`.
#[diagnostic::on_unimplemented(
    message = "a function annotated with `resilience` attributes must return `Result<T, E>`; `{Self}` is not a `Result`",
    label = "this must be `Result<T, E>` (or an alias of it such as `io::Result<T>`)",
    note = "every layer reports failures through the `Err` side: wrap the value, e.g. `-> Result<{Self}, MyError>`"
)]
pub trait IsResult {
    type Ok;
    type Err;
    fn as_result(&self) -> Result<&Self::Ok, &Self::Err>;
}

impl<T, E> IsResult for Result<T, E> {
    type Ok = T;
    type Err = E;
    #[inline(always)]
    fn as_result(&self) -> Result<&T, &E> {
        self.as_ref()
    }
}

/// Autoref specialisation: `(&Classifier(&e)).__resilience_outcome()` uses
/// `E: Classify` where it holds and falls back to transient where it does
/// not (or where generic code does not say).
pub struct Classifier<'a, E: ?Sized>(pub &'a E);

pub trait ViaClassify {
    fn __resilience_outcome(&self) -> Outcome;
}

impl<E: Classify + ?Sized> ViaClassify for Classifier<'_, E> {
    #[inline]
    fn __resilience_outcome(&self) -> Outcome {
        self.0.classify()
    }
}

pub trait ViaDefault {
    fn __resilience_outcome(&self) -> Outcome;
}

impl<E: ?Sized> ViaDefault for &Classifier<'_, E> {
    #[inline]
    fn __resilience_outcome(&self) -> Outcome {
        Outcome::TRANSIENT
    }
}

macro_rules! carrier {
    ($($trait:ident: $message:literal, $label:literal;)*) => {$(
        #[diagnostic::on_unimplemented(
            message = $message,
            label = $label,
            note = "add `impl From<resilience::Rejection> for {Self}` (with thiserror: a `#[from] resilience::Rejection` variant), or return `anyhow::Error` or `Box<dyn Error + Send + Sync>`"
        )]
        pub trait $trait: From<Rejection> {}
        impl<E: From<Rejection>> $trait for E {}
    )*};
}

carrier! {
    TimeoutCarrier: "`#[timeout]` can reject a call with `resilience::Rejection`, but the error type `{Self}` cannot hold one", "`{Self}` needs `From<resilience::Rejection>` for `#[timeout]`";
    CircuitBreakerCarrier: "`#[circuit_breaker]` can reject a call with `resilience::Rejection`, but the error type `{Self}` cannot hold one", "`{Self}` needs `From<resilience::Rejection>` for `#[circuit_breaker]`";
    BulkheadCarrier: "`#[bulkhead]` can reject a call with `resilience::Rejection`, but the error type `{Self}` cannot hold one", "`{Self}` needs `From<resilience::Rejection>` for `#[bulkhead]`";
    RateLimiterCarrier: "`#[rate_limiter]` can reject a call with `resilience::Rejection`, but the error type `{Self}` cannot hold one", "`{Self}` needs `From<resilience::Rejection>` for `#[rate_limiter]`";
    ChaosCarrier: "`#[chaos]` can reject a call with `resilience::Rejection`, but the error type `{Self}` cannot hold one", "`{Self}` needs `From<resilience::Rejection>` for `#[chaos]`";
}

/// [`Timeout::call`] with the error bound phrased for `#[timeout]`.
#[inline(always)]
pub fn call_with_timeout<F, T, E>(timeout: &Timeout, call: F) -> crate::TimeoutFuture<'_, F, E>
where
    F: core::future::Future<Output = Result<T, E>>,
    E: TimeoutCarrier,
{
    timeout.call_with(call, E::from)
}

/// Clones a by-value argument for one attempt.
#[diagnostic::on_unimplemented(
    message = "`#[retry]` calls the function again with a copy of each by-value argument, but `{Self}` is not `Clone`",
    label = "this argument is passed by value and is not `Clone`",
    note = "take it by reference (`&{Self}`), share it with `Arc<{Self}>`, or implement `Clone` for it"
)]
pub trait AttemptArg: Clone {}
impl<T: Clone> AttemptArg for T {}

#[inline(always)]
pub fn clone_for_attempt<T: AttemptArg>(arg: &T) -> T {
    arg.clone()
}
