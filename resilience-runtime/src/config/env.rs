//! `RESILIENCE_<LAYER>__<NAME>__<KEY>=<value>` into a [`Config`].

use resilience_schema::parse::text_value;

use super::layers::Layer;
use super::parse::key_path;
use super::{Config, ConfigError, ConfigProblem, Entry, Name, Origin, Table};

const PREFIX: &str = "RESILIENCE_";

/// An instance name as a variable can write it: ASCII upper case, and
/// `-`, `.` and `_` all `_`.
///
/// ```text
/// payments.eu-1 → PAYMENTS_EU_1
/// ```
pub(super) fn normalise(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '-' | '.' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

pub(super) fn from_vars(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with(PREFIX) && k.contains("__"))
        .collect();
    // The environment has no order; a sorted one makes errors repeatable.
    vars.sort();
    let mut problems = Vec::new();
    let mut tables: Vec<Table> = Vec::new();
    for (variable, value) in vars {
        let problem = |path: String, message: String| ConfigProblem {
            path,
            line: None,
            variable: Some(variable.clone()),
            message,
        };
        let parts: Vec<&str> = variable[PREFIX.len()..].split("__").collect();
        let [layer_text, name, key_text] = parts[..] else {
            problems.push(problem(
                variable.clone(),
                "write `RESILIENCE_<LAYER>__<NAME>__<KEY>`, the three parts separated by two underscores, e.g. `RESILIENCE_CIRCUIT_BREAKER__PAYMENTS__FAILURE_THRESHOLD=5`".to_owned(),
            ));
            continue;
        };
        let layer_key = layer_text.to_ascii_lowercase();
        let Some(layer) = Layer::from_key(&layer_key) else {
            problems.push(problem(layer_key.clone(), Layer::unknown(&layer_key)));
            continue;
        };
        let name = normalise(name);
        let key_text = key_text.to_ascii_lowercase();
        let path = key_path(layer.key(), &name, Some(&key_text));
        if name.trim().is_empty() {
            problems.push(problem(
                path,
                "the instance name between the two `__` is empty".to_owned(),
            ));
            continue;
        }
        let entry = layer.spec(&key_text).and_then(|spec| {
            text_value(spec.key, spec.kind, &value).map(|value| Entry {
                key: spec.key,
                value,
                origin: Origin::Variable(variable.clone()),
            })
        });
        match entry {
            Ok(entry) => {
                match tables
                    .iter_mut()
                    .find(|t| t.layer == layer && t.name == Name::Normalised(name.clone()))
                {
                    Some(table) => table.entries.push(entry),
                    None => tables.push(Table {
                        layer,
                        name: Name::Normalised(name),
                        entries: vec![entry],
                    }),
                }
            }
            Err(message) => problems.push(problem(path, message)),
        }
    }
    if problems.is_empty() {
        Ok(Config { tables })
    } else {
        Err(ConfigError { problems })
    }
}

#[cfg(test)]
#[path = "env_tests.rs"]
mod mutants_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise_alike() {
        assert_eq!(normalise("payments.eu-1"), "PAYMENTS_EU_1");
        assert_eq!(normalise("payments_eu_1"), "PAYMENTS_EU_1");
        assert_eq!(normalise("PAYMENTS_EU_1"), "PAYMENTS_EU_1");
    }
}
