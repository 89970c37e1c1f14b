//! `#[fallback]`'s options (its levels are expressions; the built-in
//! `stale_cache(…)` level has its own table, [`crate::stale_cache`]).

use crate::{Fallback, Kind, Problem};

crate::options! {
    /// `#[fallback]`'s options as written: none is a setting of an instance.
    fallback_if, Kind::Path, Fallback::Unset, "A `fn(&E) -> bool` that says which errors the levels answer; `false`: the error is returned as it is; unset: every error, but `stale_cache` levels pass over `Permanent` ones.";
}

impl Settings {
    /// Every rule the settings break: none (a predicate's rule is its
    /// type, `fn(&E) -> bool`, which the compiler checks).
    pub fn problems(&self) -> Vec<Problem> {
        Vec::new()
    }
}
