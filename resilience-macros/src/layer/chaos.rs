//! `#[chaos(error_rate = 0.1, latency = "200ms", latency_rate = 0.2)]`:
//! fault injection, compiled only with the `chaos` feature.

use proc_macro2::TokenStream;
use quote::quote;
use resilience_schema::{self as schema, chaos::Settings};

use crate::args::{Common, InstanceSpec, guard};
use crate::expand::Context;
use crate::layer::{Guarded, Layer};
use crate::options;

impl Guarded<Settings> {
    /// The expansion when the `chaos` feature is on.
    fn wrap_enabled(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let mut spec = InstanceSpec::new("Chaos", Vec::new());
        spec.calls = options::setters!(private, self.settings => error_rate);
        // `latency` alone delays every call (the schema's `LATENCY_RATE`).
        if let Some(latency) = self.settings.latency {
            let latency = options::Arg::arg(&latency, private);
            let rate = self
                .settings
                .latency_rate
                .unwrap_or(schema::chaos::LATENCY_RATE);
            spec.calls.extend(quote!(.latency(#latency, #rate)));
        }
        guard(cx, common, &spec, "call_with_chaos", self.span, inner)
    }
}

impl Layer for Guarded<Settings> {
    /// Without the feature the layer is nothing at all: production builds
    /// pay neither a branch nor a byte for it.
    fn is_inert(&self) -> bool {
        !cfg!(feature = "chaos")
    }

    fn wrap(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream {
        if self.is_inert() {
            inner
        } else {
            self.wrap_enabled(cx, common, inner)
        }
    }
}
