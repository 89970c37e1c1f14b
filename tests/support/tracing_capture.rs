//! A `tracing` subscriber that keeps every event's fields as text, for the
//! tests that check what the layers log (`#[path]`-included).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One event's fields, by name: `{value:?}` of each, a `&str` as it is.
pub type Fields = BTreeMap<String, String>;

/// Keeps every event's fields, as text.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<Fields>>>);

impl Capture {
    /// The events of instance `name` so far, taken out.
    #[allow(dead_code)] // not every test that includes this file asks
    pub fn take(&self, name: &str) -> Vec<Fields> {
        let mut all = self.0.lock().unwrap();
        let (mine, others) = std::mem::take(&mut *all)
            .into_iter()
            .partition(|f| f.get("name").map(String::as_str) == Some(name));
        *all = others;
        mine
    }
}

impl Capture {
    /// The `message` of every event so far whose message contains
    /// `text`, taken out.
    #[allow(dead_code)] // not every test that includes this file asks
    pub fn take_messages(&self, text: &str) -> Vec<String> {
        let mut all = self.0.lock().unwrap();
        let (mine, others): (Vec<Fields>, Vec<Fields>) = std::mem::take(&mut *all)
            .into_iter()
            .partition(|f| f.get("message").is_some_and(|m| m.contains(text)));
        *all = others;
        mine.into_iter()
            .map(|mut f| f.remove("message").unwrap())
            .collect()
    }
}

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::new();
        event.record(&mut Visitor(&mut fields));
        self.0.lock().unwrap().push(fields);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
