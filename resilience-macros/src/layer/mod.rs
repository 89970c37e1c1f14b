//! One module per layer: its options, their validation, and its expansion.
//!
//! A new layer is a new module here (options struct + [`Layer`] impl), a
//! variant of [`LayerKind`], an entry point in `lib.rs`, and its runtime type
//! in `resilience-runtime`.

mod retry;
mod timeout;

use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream};

use crate::args::Common;
use crate::expand::Context;

/// The attributes this crate provides, as written by users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayerKind {
    Retry,
    Timeout,
}

impl LayerKind {
    const ALL: [LayerKind; 2] = [LayerKind::Retry, LayerKind::Timeout];

    /// The attribute's name, as the user writes it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            LayerKind::Retry => "retry",
            LayerKind::Timeout => "timeout",
        }
    }

    /// The layer an attribute names: `retry`, `resilience::retry` or
    /// `::resilience::retry`.
    pub(crate) fn from_path(path: &syn::Path) -> Option<LayerKind> {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let last = match segments.as_slice() {
            [only] if path.leading_colon.is_none() => only,
            [krate, last] if krate == "resilience" => last,
            _ => return None,
        };
        LayerKind::ALL.into_iter().find(|kind| kind.name() == last)
    }

    /// Parses and validates the attribute's arguments.
    pub(crate) fn parse(self, args: &[NestedMeta], span: Span) -> darling::Result<Box<dyn Layer>> {
        match self {
            LayerKind::Retry => retry::RetryLayer::parse(args, span).map(|l| Box::new(l) as _),
            LayerKind::Timeout => timeout::TimeoutLayer::parse(args, span).map(|l| Box::new(l) as _),
        }
    }
}

/// A parsed, validated layer, ready to wrap the layers below it.
pub(crate) trait Layer {
    /// `name`, `with` and `crate`.
    fn common(&self) -> &Common;

    /// Wraps `inner`, an expression whose value is a future of the
    /// function's return type, into another such expression.
    fn wrap(&self, cx: &Context, inner: TokenStream) -> TokenStream;
}
