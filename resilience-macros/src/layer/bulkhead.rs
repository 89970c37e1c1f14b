//! `#[bulkhead(max_concurrent = 10, max_wait = "100ms", max_queue = 50)]`.

use proc_macro2::TokenStream;
use resilience_schema::bulkhead::Settings;

use crate::args::{Common, InstanceSpec, guard};
use crate::expand::Context;
use crate::layer::{Guarded, Layer};
use crate::options;

impl Layer for Guarded<Settings> {
    fn wrap(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        // Required, so written unless `with` passes the instance.
        let max_concurrent = self.settings.max_concurrent.unwrap_or(1);
        let mut spec = InstanceSpec::new(
            "Bulkhead",
            vec![options::Arg::arg(&max_concurrent, private)],
        );
        spec.calls = options::setters!(private, self.settings => max_wait, max_queue);
        guard(cx, common, &spec, "call_with_bulkhead", self.span, inner)
    }
}
