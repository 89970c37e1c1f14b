//! `#[rate_limiter(rate = 100, per = "1s", burst = 20, max_wait = "10ms")]`.

use proc_macro2::TokenStream;
use resilience_schema::{self as schema, rate_limiter::Settings};

use crate::args::{Common, InstanceSpec, guard};
use crate::expand::Context;
use crate::layer::{Guarded, Layer};
use crate::options;

impl Layer for Guarded<Settings> {
    fn wrap(&self, cx: &Context, common: &Common, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        // `rate` is required and `per` an argument of `RateLimiter::new`:
        // the schema's default fills it when it is not written.
        let rate = options::Arg::arg(&self.settings.rate.unwrap_or(1), private);
        let per = self.settings.per.unwrap_or(schema::rate_limiter::PER);
        let mut spec =
            InstanceSpec::new("RateLimiter", vec![rate, options::Arg::arg(&per, private)]);
        spec.calls = options::setters!(private, self.settings => burst, max_wait);
        guard(
            cx,
            common,
            &spec,
            "call_with_rate_limiter",
            self.span,
            inner,
        )
    }
}
