//! Values as text: what an attribute's string literals, a configuration
//! file and an environment variable hold. The macros and the
//! configuration loader both parse through here, so a duration or a word
//! is read, and refused, with the same sentence wherever it is written.

use std::time::Duration;

use crate::{Kind, Value};

/// The units of a duration, for messages.
pub const UNITS: &str = "units: `h`, `m`, `s`, `ms`, `us`, `ns`; e.g. \"250ms\", \"2s\", \"1m30s\"";

/// The signature of a predicate on errors (`retry_if`, `failure_if`,
/// `fallback_if`).
pub const PREDICATE: &str = "fn(&E) -> bool";

/// The signature of a predicate on `Ok` values (`retry_on_ok`,
/// `failure_on_ok`).
pub const OK_PREDICATE: &str = "fn(&T) -> bool";

/// A name for the example of a predicate.
///
/// ```
/// assert_eq!(resilience_schema::parse::predicate_name("fallback_if"), "should_fall_back");
/// ```
pub fn predicate_name(key: &str) -> &'static str {
    match key {
        "failure_if" | "failure_on_ok" => "is_failure",
        "retry_on_ok" => "should_retry",
        "fallback_if" => "should_fall_back",
        _ => "is_retryable",
    }
}

/// The signature of the predicate `key` takes: on the `Ok` value for the
/// `…_on_ok` options, on the error for the others.
///
/// ```
/// use resilience_schema::parse::predicate_signature;
/// assert_eq!(predicate_signature("retry_on_ok"), "fn(&T) -> bool");
/// assert_eq!(predicate_signature("retry_if"), "fn(&E) -> bool");
/// ```
pub fn predicate_signature(key: &str) -> &'static str {
    if key.ends_with("_on_ok") {
        OK_PREDICATE
    } else {
        PREDICATE
    }
}

impl Kind {
    /// What to write, e.g. `` `max_attempts = 3` ``.
    ///
    /// ```
    /// use resilience_schema::Kind;
    /// assert_eq!(Kind::Duration.example("base"), "`base = \"2s\"`");
    /// ```
    pub fn example(self, key: &str) -> String {
        match self {
            Kind::Count { .. } | Kind::CountOrDuration => format!("`{key} = 3`"),
            Kind::Number => format!("`{key} = 0.5`"),
            Kind::Duration | Kind::DurationOrAdaptive => format!("`{key} = \"2s\"`"),
            Kind::Choice { words, .. } => format!("`{key} = \"{}\"`", words[0]),
            Kind::Path => format!("`{key} = {}`", predicate_name(key)),
            Kind::Switch => format!("`{key} = true`"),
            Kind::Flag => format!("`{key}`"),
            Kind::Text if key == "crate" => format!("`{key} = \"::resilience\"`"),
            Kind::Text => format!("`{key} = \"payments\"`"),
            Kind::Expr => format!("`{key} = &INSTANCE`"),
        }
    }

    /// What an option of this kind takes, as a phrase.
    ///
    /// ```
    /// use resilience_schema::Kind;
    /// assert_eq!(Kind::Number.description(), "a number");
    /// ```
    pub fn description(self) -> String {
        match self {
            Kind::Count { .. } | Kind::CountOrDuration => "a whole number".to_owned(),
            Kind::Number => "a number".to_owned(),
            Kind::Duration | Kind::DurationOrAdaptive => {
                format!("a duration in a string ({UNITS})")
            }
            Kind::Choice { words, .. } => format!(
                "one of {} (in quotes)",
                words
                    .iter()
                    .map(|v| format!("\"{v}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Kind::Path => format!("the path of a `{PREDICATE}`"),
            Kind::Switch => "`true` or `false`".to_owned(),
            Kind::Flag => "no value".to_owned(),
            Kind::Text => "a string literal".to_owned(),
            Kind::Expr => "an expression".to_owned(),
        }
    }
}

/// Parses `"1m30s"`-style text: one or more `<number><unit>` parts, where
/// the number may have a fraction (`"1.5s"`). The error is the sentence
/// to show.
///
/// ```
/// use resilience_schema::parse::duration;
/// use std::time::Duration;
///
/// assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert!(duration("2 s").unwrap_err().contains("without spaces"));
/// ```
pub fn duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration: write a number and a unit ({UNITS})");
    if text.contains(char::is_whitespace) {
        return Err(format!(
            "`{text}` is not a duration: write the number and unit together, without spaces ({UNITS})"
        ));
    }
    if text.is_empty() {
        return Err(bad());
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
            .ok_or_else(|| format!("`{text}` has no unit: add one ({UNITS})"))?;
        if number_len == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..number_len]
            .replace('_', "")
            .parse()
            .map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" | "min" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            unit => {
                let hint = match unit {
                    "millis" | "msec" | "msecs" | "milliseconds" => " (did you mean `ms`?)",
                    "sec" | "secs" | "second" | "seconds" => " (did you mean `s`?)",
                    "mins" | "minute" | "minutes" => " (did you mean `m`?)",
                    "hr" | "hrs" | "hour" | "hours" => " (did you mean `h`?)",
                    "micros" => " (did you mean `us`?)",
                    "nanos" => " (did you mean `ns`?)",
                    _ => "",
                };
                return Err(format!(
                    "`{unit}` in `{text}` is not a unit of time{hint} ({UNITS})"
                ));
            }
        };
        rest = &rest[unit_len..];
        let part = Duration::try_from_secs_f64(number * seconds_per_unit).map_err(|_| bad())?;
        total = total.checked_add(part).ok_or_else(bad)?;
    }
    Ok(total)
}

/// The sentence for a word that is none of an option's `words`.
///
/// ```
/// use resilience_schema::parse::unknown_word;
/// assert_eq!(
///     unknown_word("backoff", "expo", &["fixed", "exp"]),
///     "unknown backoff `expo` (did you mean \"exp\"?): use one of \"fixed\", \"exp\""
/// );
/// ```
pub fn unknown_word(key: &str, value: &str, allowed: &[&str]) -> String {
    let list = allowed
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let guess = allowed
        .iter()
        .find(|a| a.starts_with(&value.chars().take(2).collect::<String>()) && !value.is_empty());
    let hint = guess
        .map(|g| format!(" (did you mean \"{g}\"?)"))
        .unwrap_or_default();
    format!("unknown {key} `{value}`{hint}: use one of {list}")
}

/// The candidate closest to `word` by edit distance, if one is close
/// enough to be a typo of it (at most a third of its letters, at least 2).
///
/// ```
/// use resilience_schema::parse::closest;
/// assert_eq!(closest("failure_treshold", ["failure_threshold", "open_for"]), Some("failure_threshold"));
/// assert_eq!(closest("zzz", ["open_for"]), None);
/// ```
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// A value of `kind` for `key` from text with no type of its own (an
/// environment variable): `3`, `0.5`, `2s`, `exp`, `true`. Durations and
/// words may be quoted or not. The error is the sentence to show.
///
/// ```
/// use resilience_schema::{Kind, Value, parse::text_value};
/// use std::time::Duration;
///
/// assert_eq!(text_value("base", Kind::Duration, "250ms"), Ok(Value::Duration(Duration::from_millis(250))));
/// assert!(text_value("max_attempts", Kind::Count { min: 1, max: 10 }, "three").unwrap_err().contains("a whole number"));
/// ```
pub fn text_value(key: &str, kind: Kind, text: &str) -> Result<Value, String> {
    let text = text.trim();
    let unquoted = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let wrong = || {
        format!(
            "`{key}` takes {}: write e.g. {}",
            kind.description(),
            kind.example(key)
        )
    };
    match kind {
        Kind::Count { .. } => count_text(key, unquoted).ok_or_else(wrong)?,
        Kind::Number => unquoted
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Value::Number)
            .ok_or_else(wrong),
        Kind::Duration => duration(unquoted).map(Value::Duration),
        Kind::CountOrDuration => match count_text(key, unquoted) {
            Some(count) => count,
            None => duration(unquoted).map(Value::Duration),
        },
        Kind::DurationOrAdaptive if unquoted == "adaptive" => Ok(Value::Word("adaptive".into())),
        Kind::DurationOrAdaptive => duration(unquoted).map(Value::Duration),
        Kind::Choice { words, .. } if words.contains(&unquoted) => {
            Ok(Value::Word(unquoted.to_owned()))
        }
        Kind::Choice { words, .. } => Err(unknown_word(key, unquoted, words)),
        Kind::Switch | Kind::Flag => match unquoted {
            "true" => Ok(Value::Switch(true)),
            "false" => Ok(Value::Switch(false)),
            _ => Err(wrong()),
        },
        Kind::Path | Kind::Text | Kind::Expr => Err(wrong()),
    }
}

/// A whole number (underscores allowed), `None` if the text is not one.
fn count_text(key: &str, text: &str) -> Option<Result<Value, String>> {
    let digits = text.replace('_', "");
    if digits.starts_with('-')
        && digits[1..].chars().all(|c| c.is_ascii_digit())
        && digits.len() > 1
    {
        return Some(Err(format!(
            "`{key}` cannot be negative: write e.g. `{key} = 3`"
        )));
    }
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(
        digits
            .parse::<u64>()
            .map(Value::Count)
            .map_err(|_| format!("`{key} = {text}` is too large")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_forms() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("0ms"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_malformed() {
        for bad in ["", "2", "ms", "2 s", "2sec", "2x", " 2s", "1..5s"] {
            assert!(duration(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn closest_finds_a_typo_and_not_a_stranger() {
        assert_eq!(
            closest("circuit_braker", ["retry", "circuit_breaker"]),
            Some("circuit_breaker")
        );
        assert_eq!(closest("payments", ["inventory"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn text_values_by_kind() {
        let count = Kind::Count { min: 1, max: 10 };
        assert_eq!(text_value("n", count, "1_000"), Ok(Value::Count(1000)));
        assert!(
            text_value("n", count, "-3")
                .unwrap_err()
                .contains("negative")
        );
        assert_eq!(
            text_value("w", Kind::CountOrDuration, "\"10s\""),
            Ok(Value::Duration(Duration::from_secs(10)))
        );
        assert_eq!(
            text_value("w", Kind::CountOrDuration, "100"),
            Ok(Value::Count(100))
        );
        assert_eq!(
            text_value("i", Kind::Switch, "true"),
            Ok(Value::Switch(true))
        );
        assert!(text_value("i", Kind::Switch, "yes").is_err());
    }
}
