//! `#[bulkhead(max_concurrent = 10, max_wait = "100ms", max_queue = 50)]`.

use darling::FromMeta;
use darling::ast::NestedMeta;
use darling::util::SpannedValue;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Lit;

use crate::args::{Common, InstanceSpec, instance};
use crate::duration::DurationLit;
use crate::expand::{Context, respan};
use crate::layer::Layer;
use crate::value;

/// The runtime's limit (`usize::MAX / 2`), on the smallest target: 32 bits.
const MAX_PERMITS: u64 = (u32::MAX >> 1) as u64;

#[derive(Debug, FromMeta)]
struct BulkheadOptions {
    #[darling(default, with = value::count)]
    max_concurrent: Option<SpannedValue<u64>>,
    max_wait: Option<DurationLit>,
    #[darling(default, with = value::count)]
    max_queue: Option<SpannedValue<u64>>,
    #[darling(flatten)]
    common: Common,
}

/// Settings of the instance the macro creates (absent with `with`).
struct Settings {
    max_concurrent: u64,
    max_wait: Option<DurationLit>,
    max_queue: Option<u64>,
}

pub(crate) struct BulkheadLayer {
    settings: Option<Settings>,
    common: Common,
    span: Span,
}

impl BulkheadLayer {
    pub(crate) fn parse(args: &[NestedMeta], span: Span) -> darling::Result<Self> {
        if let Some(NestedMeta::Lit(lit)) = args.first() {
            let hint = match lit {
                Lit::Int(n) => format!("write `max_concurrent = {n}`"),
                _ => "write options as `key = value`, e.g. `#[bulkhead(max_concurrent = 10)]`"
                    .to_owned(),
            };
            return Err(darling::Error::custom(format!(
                "`#[bulkhead]` takes named options: {hint}"
            ))
            .with_span(lit));
        }
        let options = BulkheadOptions::from_list(args)?;
        let mut errors = darling::Error::accumulator();
        options.common.validate("bulkhead", &mut errors);

        if options.common.with.is_some() {
            // The caller's instance carries its own settings (the driver
            // refuses any written beside `with`).
            errors.finish()?;
            return Ok(BulkheadLayer {
                settings: None,
                common: options.common,
                span,
            });
        }

        let max_concurrent = match &options.max_concurrent {
            None => {
                errors.push(
                    darling::Error::custom(
                        "`#[bulkhead]` needs `max_concurrent`, the number of calls allowed inside at once, e.g. `#[bulkhead(max_concurrent = 10)]`",
                    )
                    .with_span(&span),
                );
                0
            }
            Some(n) if **n == 0 => {
                errors.push(
                    darling::Error::custom(
                        "`max_concurrent = 0` would refuse every call: allow at least 1 call inside at once",
                    )
                    .with_span(&n.span()),
                );
                0
            }
            Some(n) if **n > MAX_PERMITS => {
                errors.push(
                    darling::Error::custom(format!(
                        "`max_concurrent` can be at most {MAX_PERMITS}; for no limit, remove `#[bulkhead]`"
                    ))
                    .with_span(&n.span()),
                );
                0
            }
            Some(n) => **n,
        };
        let waits = options.max_wait.is_some_and(|w| !w.value.is_zero());
        if let Some(max_queue) = &options.max_queue {
            if !waits {
                let why = if options.max_wait.is_some() {
                    "`max_wait` is zero"
                } else {
                    "there is no `max_wait`"
                };
                errors.push(
                    darling::Error::custom(format!(
                        "`max_queue` bounds the callers waiting for a permit, but {why}, so no caller waits: add `max_wait = \"100ms\"` (how long a caller may wait) or remove `max_queue`"
                    ))
                    .with_span(&max_queue.span()),
                );
            } else if **max_queue == 0 {
                errors.push(
                    darling::Error::custom(
                        "`max_queue = 0` lets no caller wait, which contradicts `max_wait`: allow at least 1 waiter, or remove `max_wait` and `max_queue` to refuse at once",
                    )
                    .with_span(&max_queue.span()),
                );
            }
        }
        errors.finish()?;
        Ok(BulkheadLayer {
            settings: Some(Settings {
                max_concurrent,
                max_wait: options.max_wait,
                max_queue: options.max_queue.map(|q| *q),
            }),
            common: options.common,
            span,
        })
    }
}

impl Layer for BulkheadLayer {
    fn common(&self) -> &Common {
        &self.common
    }

    fn wrap(&self, cx: &Context, inner: TokenStream) -> TokenStream {
        let private = &cx.private;
        let make: Box<dyn Fn(&TokenStream) -> TokenStream> = match &self.settings {
            // Never called: `with` passes the caller's instance.
            None => Box::new(|_| TokenStream::new()),
            Some(settings) => {
                let max_concurrent = settings.max_concurrent as usize;
                let max_wait = settings.max_wait.map(|w| {
                    let w = w.to_tokens();
                    quote!(.max_wait(#w))
                });
                let max_queue = settings.max_queue.map(|q| {
                    let q = q as usize;
                    quote!(.max_queue(#q))
                });
                let private = private.clone();
                Box::new(
                    move |name| quote!(#private::Bulkhead::new(#name, #max_concurrent) #max_wait #max_queue),
                )
            }
        };
        let spec = InstanceSpec {
            ty: quote!(#private::Bulkhead),
            make,
        };
        let instance = instance(cx, &self.common, &spec);
        let err = &cx.err;
        let call = respan(
            quote!(#private::call_with_bulkhead::<_, _, #err>),
            self.span,
        );
        quote! { #call(#instance, #inner) }
    }
}
