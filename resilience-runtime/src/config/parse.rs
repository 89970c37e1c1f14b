//! TOML text into a [`Config`]: every table and value checked by the
//! schema's kinds, every problem kept with its line.

use resilience_schema::{Kind, Value, parse as text};
use toml::de::{DeTable, DeValue};

use super::layers::Layer;
use super::{Config, ConfigProblem, Entry, Name, Origin, Table};

/// The line (1-based) of byte `offset` of `source`.
fn line_of(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// `circuit_breaker.payments.failure_rate`, quoting a name that holds a `.`.
pub(super) fn key_path(layer: &str, name: &str, key: Option<&str>) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let name = if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    };
    match key {
        Some(key) => format!("{layer}.{name}.{key}"),
        None => format!("{layer}.{name}"),
    }
}

/// The configuration the text holds, and the problems of what could not
/// be read (the tables' rules are checked by the caller).
pub(super) fn from_toml(source: &str) -> (Config, Vec<ConfigProblem>) {
    let (root, errors) = DeTable::parse_recoverable(source);
    let mut problems: Vec<ConfigProblem> = errors
        .iter()
        .map(|error| ConfigProblem {
            path: String::new(),
            line: error.span().map(|span| line_of(source, span.start)),
            variable: None,
            message: format!("not valid TOML: {}", error.message()),
        })
        .collect();
    let mut tables = Vec::new();
    let at = |offset: usize| Some(line_of(source, offset));
    for (layer_key, layer_value) in root.get_ref() {
        let layer_name = layer_key.get_ref().as_ref();
        let line = at(layer_key.span().start);
        let Some(layer) = Layer::from_key(layer_name) else {
            problems.push(ConfigProblem {
                path: layer_name.to_owned(),
                line,
                variable: None,
                message: Layer::unknown(layer_name),
            });
            continue;
        };
        let DeValue::Table(instances) = layer_value.get_ref() else {
            problems.push(ConfigProblem {
                path: layer_name.to_owned(),
                line,
                variable: None,
                message: format!(
                    "`{layer_name}` holds one table per instance name, e.g. `[{layer_name}.payments]`"
                ),
            });
            continue;
        };
        for (name_key, instance) in instances {
            let name = name_key.get_ref().as_ref();
            let line = at(name_key.span().start);
            let path = key_path(layer_name, name, None);
            if let Err(problem) = resilience_schema::common::check_name(name) {
                problems.push(ConfigProblem {
                    path,
                    line,
                    variable: None,
                    message: problem.to_string(),
                });
                continue;
            }
            let DeValue::Table(values) = instance.get_ref() else {
                problems.push(ConfigProblem {
                    path,
                    line,
                    variable: None,
                    message: format!(
                        "`{name}` is an instance: write its options in a table, e.g. `[{layer_name}.{name}]` then `key = value` lines"
                    ),
                });
                continue;
            };
            let mut entries = Vec::new();
            for (key, value) in values {
                let key_text = key.get_ref().as_ref();
                let line = at(value.span().start);
                let path = key_path(layer_name, name, Some(key_text));
                match layer.spec(key_text).and_then(|spec| {
                    value_of(spec.key, spec.kind, value.get_ref()).map(|v| (spec.key, v))
                }) {
                    Ok((key, value)) => entries.push(Entry {
                        key,
                        value,
                        origin: Origin::Line(line.unwrap_or(0)),
                    }),
                    Err(message) => problems.push(ConfigProblem {
                        path,
                        line,
                        variable: None,
                        message,
                    }),
                }
            }
            tables.push(Table {
                layer,
                name: Name::Exact(name.to_owned()),
                entries,
            });
        }
    }
    (Config { tables }, problems)
}

/// The value of `key` (of `kind`) as TOML wrote it; the error is the
/// sentence, as the macro words it for the same mistake.
fn value_of(key: &str, kind: Kind, value: &DeValue<'_>) -> Result<Value, String> {
    let takes = || format!("`{key}` takes {}", kind.description());
    let example = kind.example(key);
    match (kind, value) {
        (Kind::Count { max, .. }, DeValue::Integer(n)) => {
            let n = integer(key, n)?;
            if n > max {
                return Err(format!(
                    "`{key} = {n}` is too large: `{key}` is at most {max}"
                ));
            }
            Ok(Value::Count(n))
        }
        (Kind::Count { .. }, DeValue::Float(f)) => Err(format!(
            "{}: `{}` is not one; write e.g. {example}",
            takes(),
            f.as_str()
        )),
        (Kind::Count { .. } | Kind::Number, DeValue::String(s))
            if s.trim().parse::<f64>().is_ok() =>
        {
            Err(format!(
                "{}: write `{key} = {}`, without quotes",
                takes(),
                s.trim()
            ))
        }
        (Kind::Number, DeValue::Integer(n)) => {
            integer_signed(key, n).map(|n| Value::Number(n as f64))
        }
        (Kind::Number, DeValue::Float(f)) => f
            .as_str()
            .replace('_', "")
            .parse::<f64>()
            .map(Value::Number)
            .map_err(|_| format!("{}: write e.g. {example}", takes())),
        (Kind::Duration | Kind::DurationOrAdaptive, DeValue::String(s))
            if kind == Kind::DurationOrAdaptive && s.as_ref() == "adaptive" =>
        {
            Ok(Value::Word("adaptive".to_owned()))
        }
        (Kind::Duration | Kind::DurationOrAdaptive, DeValue::String(s)) => {
            text::duration(s).map(Value::Duration)
        }
        (Kind::Duration | Kind::DurationOrAdaptive, DeValue::Integer(n)) => {
            let n = n.as_str();
            Err(format!(
                "{}: `{n}` has no unit; write the number and its unit in quotes, e.g. `{key} = \"{n}ms\"` or `{key} = \"{n}s\"`",
                takes()
            ))
        }
        (Kind::CountOrDuration, DeValue::Integer(n)) => {
            let n = integer(key, n)?;
            u32::try_from(n)
                .map(|n| Value::Count(n.into()))
                .map_err(|_| format!("`{key}` holds at most 4294967295 calls"))
        }
        (Kind::CountOrDuration, DeValue::String(s)) => text::duration(s).map(Value::Duration),
        (Kind::CountOrDuration, _) => Err(format!(
            "`{key}` is a number of calls (`{key} = 100`: the last 100 calls) or a duration (`{key} = \"10s\"`: the calls of the last 10 s)"
        )),
        (Kind::Choice { words, .. }, DeValue::String(s)) if !words.contains(&s.as_ref()) => {
            Err(text::unknown_word(key, s, words))
        }
        (Kind::Choice { .. } | Kind::Text, DeValue::String(s)) => Ok(Value::Word(s.to_string())),
        (
            Kind::Choice {
                bare: Some(word), ..
            },
            DeValue::Boolean(true),
        ) => Err(format!("{}: write `{key} = \"{word}\"`", takes())),
        (Kind::Switch, DeValue::Boolean(b)) => Ok(Value::Switch(*b)),
        (Kind::Switch, DeValue::String(s)) if matches!(s.as_ref(), "true" | "false") => {
            Err(format!("{}: write `{key} = {s}`, without quotes", takes()))
        }
        _ => Err(format!(
            "{}, not {}: write e.g. {example}",
            takes(),
            article(value.type_str())
        )),
    }
}

fn article(kind: &str) -> String {
    match kind.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {kind}"),
        _ => format!("a {kind}"),
    }
}

/// A TOML integer as a whole number of ours: not negative.
fn integer(key: &str, n: &toml::de::DeInteger<'_>) -> Result<u64, String> {
    let value = integer_signed(key, n)?;
    u64::try_from(value).map_err(|_| format!("`{key}` cannot be negative: write e.g. `{key} = 3`"))
}

fn integer_signed(key: &str, n: &toml::de::DeInteger<'_>) -> Result<i128, String> {
    let digits = n.as_str().replace('_', "");
    let (negative, digits) = match digits.strip_prefix('-') {
        Some(rest) => (true, rest.to_owned()),
        None => (false, digits.trim_start_matches('+').to_owned()),
    };
    let digits = match n.radix() {
        10 => digits,
        _ => digits[2..].to_owned(),
    };
    let value = i128::from_str_radix(&digits, n.radix())
        .map_err(|_| format!("`{key} = {}` is too large", n.as_str()))?;
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }

    /// The value a one-key table gives its option, or the sentence of
    /// its first problem.
    fn read(layer: &str, line: &str) -> Result<Value, String> {
        let (config, problems) = from_toml(&format!("[{layer}.p]\n{line}\n"));
        match problems.first() {
            Some(problem) => Err(problem.message.clone()),
            None => Ok(config.tables[0].entries[0].value.clone()),
        }
    }

    #[test]
    fn each_kind_reads_what_toml_writes_for_it() {
        // A number may be written whole.
        assert_eq!(
            read("circuit_breaker", "failure_rate = 1"),
            Ok(Value::Number(1.0))
        );
        // A window is a number of calls or a duration.
        assert_eq!(read("retry", "idempotent = true"), Ok(Value::Switch(true)));
        assert_eq!(
            read("circuit_breaker", "window = 100"),
            Ok(Value::Count(100))
        );
        assert_eq!(
            read("circuit_breaker", "window = \"10s\""),
            Ok(Value::Duration(std::time::Duration::from_secs(10)))
        );
    }

    #[test]
    fn each_mistake_gets_its_own_sentence() {
        let wrong = |layer: &str, line: &str| read(layer, line).unwrap_err();
        let fraction = wrong("retry", "max_attempts = 2.5");
        assert!(
            fraction.contains("`2.5` is not one; write e.g."),
            "{fraction}"
        );
        let unitless = wrong("timeout", "duration = 5");
        assert!(
            unitless.contains(
                "`5` has no unit; write the number and its unit in quotes, e.g. `duration = \"5ms\"`"
            ),
            "{unitless}"
        );
        assert_eq!(
            wrong("circuit_breaker", "window = 5000000000"),
            "`window` holds at most 4294967295 calls"
        );
        assert_eq!(
            wrong("circuit_breaker", "window = true"),
            "`window` is a number of calls (`window = 100`: the last 100 calls) or a duration (`window = \"10s\"`: the calls of the last 10 s)"
        );
        let unknown_unit = wrong("circuit_breaker", "window = \"10 parsecs\"");
        assert!(!unknown_unit.contains("number of calls"), "{unknown_unit}");
        assert!(
            wrong("retry", "max_attempts = \"3\"")
                .ends_with("write `max_attempts = 3`, without quotes")
        );
        let word = wrong("retry", "max_attempts = \"three\"");
        assert!(word.contains(", not a string: write e.g."), "{word}");
        // A count is at most its option's largest.
        assert_eq!(
            read("retry", "max_attempts = 4294967295"),
            Ok(Value::Count(u64::from(u32::MAX)))
        );
        assert_eq!(
            wrong("retry", "max_attempts = 4294967296"),
            "`max_attempts = 4294967296` is too large: `max_attempts` is at most 4294967295"
        );
        assert!(
            wrong("retry", "idempotent = \"true\"")
                .ends_with("write `idempotent = true`, without quotes")
        );
        let yes = wrong("retry", "idempotent = \"yes\"");
        assert!(yes.contains(", not a string: write e.g."), "{yes}");
        // `adaptive` is a word only where the option takes it.
        let adaptive = wrong("timeout", "duration = \"adaptive\"");
        assert!(adaptive.contains("adaptive"), "{adaptive}");
        assert_eq!(
            wrong("retry", "max_attempts = -3"),
            "`max_attempts` cannot be negative: write e.g. `max_attempts = 3`"
        );
        assert_eq!(
            read("circuit_breaker", "failure_rate = -1"),
            Ok(Value::Number(-1.0)),
            "read as written; the rule refuses it later"
        );
        let integer = wrong("retry", "jitter = 3");
        assert!(
            integer.contains(", not an integer: write e.g."),
            "{integer}"
        );
        let bare = wrong("retry", "jitter = true");
        assert!(bare.ends_with(": write `jitter = \"full\"`"), "{bare}");
    }

    #[test]
    fn names_with_dots_are_quoted_in_paths() {
        assert_eq!(key_path("retry", "pay-1", Some("base")), "retry.pay-1.base");
        assert_eq!(
            key_path("retry", "pay.eu", Some("base")),
            "retry.\"pay.eu\".base"
        );
    }
}
