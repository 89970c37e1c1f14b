//! `#[bulkhead(max_concurrent = 10, max_wait = "100ms", max_queue = 50)]`.

use darling::ast::NestedMeta;
use proc_macro2::{Span, TokenStream};
use resilience_schema::bulkhead::Settings;

use crate::args::{Common, InstanceSpec, guard};
use crate::expand::Context;
use crate::layer::Layer;
use crate::options;

pub(crate) struct BulkheadLayer {
    settings: Settings,
    span: Span,
}

impl BulkheadLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<(Self, Common)> {
        let o = options::parse::<Settings>(args)?.checked(span)?;
        Ok(o.into_layer(|settings| BulkheadLayer { settings, span }))
    }
}

impl Layer for BulkheadLayer {
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
