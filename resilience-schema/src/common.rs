//! Options every layer takes: where its instance lives and the path of
//! the `resilience` crate.

use crate::{Check, Fallback, Kind, Problem, Spec};

/// `name`, `with` and `crate`.
pub const OPTIONS: &[Spec] = &[
    Spec::new(
        "name",
        Kind::Text,
        Fallback::Unset,
        "A process-wide instance shared by every function naming it (from the registry); unset: one private instance per function.",
    ),
    Spec::new(
        "with",
        Kind::Expr,
        Fallback::Unset,
        "An instance you own (`T`, `&T`, `Arc<T>`), which keeps its own settings.",
    ),
    Spec::new(
        "crate",
        Kind::Text,
        Fallback::Unset,
        "The path of the `resilience` crate, for a renamed dependency.",
    ),
];

/// `name` identifies the instance: it must say something.
pub fn check_name(name: &str) -> Check {
    if name.trim().is_empty() {
        Err(Problem::at(
            "name",
            "`name` must not be empty: it identifies the instance in logs and in the registry",
        ))
    } else {
        Ok(())
    }
}
