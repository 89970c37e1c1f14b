//! The tables and rules hold together.

use super::*;

#[test]
fn every_key_is_listed_once_per_layer() {
    for (layer, options) in LAYERS.into_iter().chain([("common", common::OPTIONS)]) {
        for (i, spec) in options.iter().enumerate() {
            assert!(
                options[..i].iter().all(|other| other.key != spec.key),
                "{layer}: `{}` twice",
                spec.key
            );
            assert!(
                !spec.doc.is_empty(),
                "{layer}: `{}` has no description",
                spec.key
            );
        }
    }
}

#[test]
fn every_problem_names_a_key_of_its_layer() {
    let cases: [(&[Spec], Vec<Problem>); 5] = [
        (
            retry::OPTIONS,
            retry::Settings {
                max_attempts: Some(0),
                max_delay: Some(Duration::ZERO),
                budget: Some(2.0),
                min_retries_per_sec: Some(1),
                ..Default::default()
            }
            .problems(),
        ),
        (
            timeout::OPTIONS,
            timeout::Settings {
                quantile: Some(0.5),
                ..Default::default()
            }
            .problems(),
        ),
        (
            circuit_breaker::OPTIONS,
            circuit_breaker::Settings {
                failure_threshold: Some(0),
                window: Some(circuit_breaker::Window::Calls(0)),
                ..Default::default()
            }
            .problems(),
        ),
        (
            bulkhead::OPTIONS,
            bulkhead::Settings {
                max_concurrent: Some(0),
                max_queue: Some(1),
                ..Default::default()
            }
            .problems(),
        ),
        (
            chaos::OPTIONS,
            chaos::Settings {
                latency_rate: Some(2.0),
                ..Default::default()
            }
            .problems(),
        ),
    ];
    for (options, problems) in cases {
        assert!(!problems.is_empty());
        for problem in problems {
            let Some(key) = problem.key else { continue };
            assert!(find(options, key).is_some(), "{key}");
            assert!(
                problem.to_string().contains(&format!("`{key}")),
                "{problem}"
            );
        }
    }
}

#[test]
fn defaults_pass_their_rules() {
    assert!(retry::Settings::default().problems().is_empty());
    assert!(circuit_breaker::Settings::default().problems().is_empty());
    assert!(chaos::Settings::default().problems().is_empty());
    assert!(circuit_breaker::check_window(circuit_breaker::WINDOW).is_ok());
    assert!(timeout::check_min_below_max(None, None).is_ok());
}

#[test]
fn a_long_base_alone_is_not_capped() {
    let long = Duration::from_secs(60);
    assert_eq!(retry::max_delay(None, long), long);
    assert_eq!(retry::max_delay(None, retry::BASE), retry::MAX_DELAY);
    assert_eq!(retry::max_delay(Some(long), retry::BASE), long);
}

#[test]
fn durations_read_as_written() {
    assert_eq!(duration_text(Duration::from_millis(100)), "100ms");
    assert_eq!(duration_text(Duration::from_secs(600)), "10m");
    assert_eq!(duration_text(Duration::from_millis(1500)), "1500ms");
}

/// A sentence is static (a `const fn` cannot format): the limits it names
/// are written out, and must be the limits the rules check.
#[test]
fn sentences_name_the_limits_their_rules_check() {
    let says = |check: Check, limit: u64| {
        let problem = check.unwrap_err();
        assert!(problem.message.contains(&limit.to_string()), "{problem}");
    };
    let max = circuit_breaker::MAX_FAILURE_THRESHOLD;
    says(
        circuit_breaker::check_failure_threshold(max + 1),
        max.into(),
    );
    assert!(circuit_breaker::check_failure_threshold(max).is_ok());
    let max = circuit_breaker::MAX_HALF_OPEN;
    says(
        circuit_breaker::check_success_threshold(max + 1),
        max.into(),
    );
    says(
        circuit_breaker::check_half_open_max_calls(max + 1),
        max.into(),
    );
    let max = circuit_breaker::MAX_WINDOW_CALLS;
    says(
        circuit_breaker::check_window(circuit_breaker::Window::Calls(max + 1)),
        max.into(),
    );
    let max = bulkhead::MAX_PERMITS;
    says(bulkhead::check_max_concurrent(max + 1), max);
    assert!(bulkhead::check_max_concurrent(max).is_ok());
}
