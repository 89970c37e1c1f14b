//! How variables become tables (issue 22): only `RESILIENCE_…__…` is read,
//! and each instance of each layer gets one table of its own.

use super::*;

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn other_variables_are_left_alone() {
    let config = from_vars(vars(&[
        ("RESILIENCE_LOG", "debug"),
        ("PATH", "/usr/bin"),
        ("CARGO__HOME", "/root/.cargo"),
    ]))
    .unwrap();
    assert_eq!(config, Config::default());
}

#[test]
fn each_instance_of_each_layer_gets_one_table() {
    let config = from_vars(vars(&[
        ("RESILIENCE_RETRY__PAYMENTS__MAX_ATTEMPTS", "4"),
        ("RESILIENCE_RETRY__PAYMENTS__BASE", "1s"),
        ("RESILIENCE_RETRY__SEARCH__MAX_ATTEMPTS", "2"),
        ("RESILIENCE_TIMEOUT__PAYMENTS__DURATION", "2s"),
    ]))
    .unwrap();
    let tables: Vec<_> = config
        .tables
        .iter()
        .map(|t| {
            let keys: Vec<_> = t.entries.iter().map(|e| e.key).collect();
            (t.layer.key(), t.name.as_str(), keys)
        })
        .collect();
    assert_eq!(
        tables,
        [
            ("retry", "PAYMENTS", vec!["base", "max_attempts"]),
            ("retry", "SEARCH", vec!["max_attempts"]),
            ("timeout", "PAYMENTS", vec!["duration"]),
        ]
    );
}
