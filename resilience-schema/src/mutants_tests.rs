//! Each rule at its edges (issue 22): the value a rule still accepts, the
//! first it refuses, and the sentence it refuses with; each word an option
//! takes, read back as its setting; the hints and suggestions of a message.
//! The macros, the builders and the configuration loader all run these, so
//! an edge that moves here moves for every user.

use std::time::Duration;

use super::*;

/// The key of the problem `check` reports; panics if it accepts.
fn refused(check: Check) -> &'static str {
    check.unwrap_err().key.unwrap_or("")
}

/// The problems' sentences, for assertions on what a user reads.
fn sentences(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(Problem::to_string).collect()
}

fn word(w: &str) -> Value {
    Value::Word(w.to_owned())
}

#[test]
fn expect_stops_a_const_builder_with_the_sentence_and_passes_a_good_setting() {
    expect(retry::check_max_attempts(1));
    let caught = std::panic::catch_unwind(|| expect(retry::check_max_attempts(0)));
    let payload = caught.expect_err("a refused setting must panic");
    let message = payload
        .downcast_ref::<String>()
        .expect("the panic carries the sentence");
    assert!(
        message.starts_with("`max_attempts` counts every call"),
        "{message}"
    );
}

#[test]
fn the_docs_table_shows_each_default_as_it_is_written() {
    let table = markdown(retry::OPTIONS);
    assert!(
        table.starts_with("| option | default | meaning |\n"),
        "{table}"
    );
    for row in [
        "| `max_attempts` | 3 |",
        "| `base` | \"100ms\" |",
        "| `backoff` | \"exp\" |",
        "| `idempotent` | false |",
        "| `max_elapsed` | — |",
    ] {
        assert!(table.contains(row), "{row} missing from\n{table}");
    }
    let table = markdown(circuit_breaker::OPTIONS);
    assert!(table.contains("| `failure_rate` | 0.5 |"), "{table}");
    assert_eq!(Fallback::Unset.to_string(), "unset");
}

#[test]
fn find_returns_the_option_asked_for() {
    assert_eq!(find(retry::OPTIONS, "base").map(|s| s.key), Some("base"));
    assert_eq!(
        find(retry::OPTIONS, "jitter").map(|s| s.key),
        Some("jitter")
    );
    assert_eq!(find(retry::OPTIONS, "basis"), None);
}

#[test]
fn a_number_option_takes_a_whole_number_too() {
    assert_eq!(f64::from_value(&Value::Number(0.25)), Some(0.25));
    assert_eq!(f64::from_value(&Value::Count(1)), Some(1.0));
    assert_eq!(f64::from_value(&word("half")), None);
    let mut settings = retry::Settings::default();
    assert!(settings.set("budget", &Value::Count(1)));
    assert_eq!(settings.budget, Some(1.0));
}

#[test]
fn every_word_of_a_choice_is_read_as_its_setting() {
    use adaptive_concurrency::Algorithm;
    use retry::{Backoff, Jitter};
    for (w, backoff) in [
        ("fixed", Backoff::Fixed),
        ("linear", Backoff::Linear),
        ("exp", Backoff::Exponential),
        ("exponential", Backoff::Exponential),
        ("decorrelated", Backoff::Decorrelated),
    ] {
        assert_eq!(Backoff::from_value(&word(w)), Some(backoff), "{w}");
    }
    for (w, jitter) in [
        ("full", Jitter::Full),
        ("equal", Jitter::Equal),
        ("none", Jitter::None),
    ] {
        assert_eq!(Jitter::from_value(&word(w)), Some(jitter), "{w}");
    }
    for algorithm in [Algorithm::Gradient2, Algorithm::Vegas, Algorithm::Aimd] {
        assert_eq!(
            Algorithm::from_value(&word(algorithm.word())),
            Some(algorithm)
        );
    }
    let Kind::Choice { words, .. } = find(adaptive_concurrency::OPTIONS, "algorithm")
        .unwrap()
        .kind
    else {
        panic!("`algorithm` is a choice")
    };
    assert_eq!(
        words,
        [Algorithm::Gradient2, Algorithm::Vegas, Algorithm::Aimd].map(Algorithm::word)
    );
    // A word of no choice, or a value that is no word, sets nothing.
    assert_eq!(Backoff::from_value(&word("exponentially")), None);
    assert_eq!(Jitter::from_value(&Value::Switch(true)), None);
    assert_eq!(Algorithm::from_value(&Value::Count(2)), None);
}

#[test]
fn a_breaker_window_is_a_count_of_calls_or_a_duration() {
    use circuit_breaker::Window;
    assert_eq!(
        Window::from_value(&Value::Count(100)),
        Some(Window::Calls(100))
    );
    assert_eq!(
        Window::from_value(&Value::Duration(Duration::from_secs(10))),
        Some(Window::Time(Duration::from_secs(10)))
    );
    assert_eq!(Window::from_value(&Value::Count(u64::MAX)), None);
    assert_eq!(Window::from_value(&word("10s")), None);
}

#[test]
fn a_hedge_delay_is_a_duration_or_adaptive() {
    use hedge::Delay;
    let d = Duration::from_millis(50);
    assert_eq!(
        Delay::from_value(&Value::Duration(d)),
        Some(Delay::Fixed(d))
    );
    assert_eq!(Delay::from_value(&word("adaptive")), Some(Delay::Adaptive));
    assert_eq!(Delay::from_value(&word("auto")), None);
}

#[test]
fn fractions_take_above_zero_to_one() {
    for ok in [1e-9, 0.2, 1.0] {
        assert!(retry::check_budget(ok).is_ok(), "{ok}");
        assert!(timeout::check_quantile(ok).is_ok(), "{ok}");
    }
    for bad in [0.0, -0.5, 1.0 + 1e-9, 2.0, f64::NAN] {
        assert_eq!(refused(retry::check_budget(bad)), "budget", "{bad}");
    }
}

#[test]
fn a_budget_floor_needs_a_budget() {
    assert!(retry::check_budget_floor(true, true).is_ok());
    assert!(retry::check_budget_floor(true, false).is_ok());
    assert!(retry::check_budget_floor(false, false).is_ok());
    assert_eq!(
        refused(retry::check_budget_floor(false, true)),
        "min_retries_per_sec"
    );
}

#[test]
fn retry_max_delay_may_equal_base_but_not_be_below_it() {
    let base = Duration::from_millis(100);
    assert!(retry::check_max_delay(base, base).is_ok());
    assert!(retry::check_max_delay(base, base * 2).is_ok());
    assert_eq!(
        refused(retry::check_max_delay(base, base - Duration::from_nanos(1))),
        "max_delay"
    );
}

#[test]
fn decorrelated_backoff_refuses_any_jitter_but_none() {
    use retry::{Backoff, Jitter, check_jitter};
    assert_eq!(
        refused(check_jitter(Backoff::Decorrelated, Some(Jitter::Full))),
        "jitter"
    );
    assert_eq!(
        refused(check_jitter(Backoff::Decorrelated, Some(Jitter::Equal))),
        "jitter"
    );
    assert!(check_jitter(Backoff::Decorrelated, Some(Jitter::None)).is_ok());
    assert!(check_jitter(Backoff::Decorrelated, None).is_ok());
    assert!(check_jitter(Backoff::Exponential, Some(Jitter::Full)).is_ok());
}

#[test]
fn a_chaos_rate_takes_zero_to_one_both_included() {
    for ok in [0.0, 0.5, 1.0] {
        assert!(chaos::check_rate("error_rate", ok).is_ok(), "{ok}");
    }
    for bad in [-0.1, 1.1, f64::NAN] {
        assert_eq!(refused(chaos::check_rate("error_rate", bad)), "error_rate");
        assert_eq!(
            refused(chaos::check_rate("latency_rate", bad)),
            "latency_rate"
        );
    }
}

#[test]
fn a_breaker_rate_takes_above_zero_to_one_and_names_a_percentage() {
    use circuit_breaker::check_rate;
    for ok in [1e-9, 0.5, 1.0] {
        assert!(check_rate("failure_rate", ok).is_ok(), "{ok}");
    }
    let percentage = |rate: f64| {
        let problem = check_rate("failure_rate", rate).unwrap_err();
        assert_eq!(problem.key, Some("failure_rate"));
        problem.message.contains("not a percentage")
    };
    // Whole numbers above 1 up to 100 read as percentages.
    for rate in [2.0, 50.0, 100.0] {
        assert!(percentage(rate), "{rate}");
    }
    for rate in [0.0, -5.0, 1.5, 50.5, 101.0, f64::NAN] {
        assert!(!percentage(rate), "{rate}");
    }
    let problem = check_rate("slow_call_rate", 50.0).unwrap_err();
    assert_eq!(problem.key, Some("slow_call_rate"));
    assert!(problem.message.starts_with("`slow_call_rate`"));
    assert!(problem.message.contains("not a percentage"));
    assert!(
        !check_rate("slow_call_rate", 1.5)
            .unwrap_err()
            .message
            .contains("not a percentage")
    );
}

#[test]
fn a_breaker_window_holds_one_to_a_million_calls_or_a_positive_time() {
    use circuit_breaker::{MAX_WINDOW_CALLS, Window, check_window};
    assert!(check_window(Window::Calls(1)).is_ok());
    assert!(check_window(Window::Calls(MAX_WINDOW_CALLS)).is_ok());
    assert_eq!(refused(check_window(Window::Calls(0))), "window");
    assert_eq!(
        refused(check_window(Window::Calls(MAX_WINDOW_CALLS + 1))),
        "window"
    );
    assert!(check_window(Window::Time(Duration::from_nanos(1))).is_ok());
    assert_eq!(
        refused(check_window(Window::Time(Duration::ZERO))),
        "window"
    );
}

#[test]
fn min_calls_may_fill_the_window_but_not_exceed_it() {
    use circuit_breaker::{Window, check_min_calls_within_window as within};
    assert!(within(100, Window::Calls(100)).is_ok());
    assert!(within(5, Window::Calls(100)).is_ok());
    assert_eq!(refused(within(101, Window::Calls(100))), "min_calls");
    assert!(within(1_000, Window::Time(Duration::from_secs(1))).is_ok());
    // A window of no calls is refused once, for itself.
    let settings = circuit_breaker::Settings {
        failure_rate: Some(0.5),
        window: Some(Window::Calls(0)),
        min_calls: Some(5),
        ..Default::default()
    };
    let keys: Vec<_> = settings.problems().iter().map(|p| p.key).collect();
    assert_eq!(keys, [Some("window")]);
}

#[test]
fn any_rate_option_without_a_threshold_selects_rate_mode() {
    use circuit_breaker::{Settings, Window};
    assert!(!Settings::default().rate_mode());
    let rate = Settings {
        failure_rate: Some(0.5),
        ..Default::default()
    };
    let window = Settings {
        window: Some(Window::Calls(10)),
        ..Default::default()
    };
    let slow = Settings {
        slow_call_rate: Some(0.5),
        ..Default::default()
    };
    for settings in [rate, window, slow] {
        assert!(settings.rate_mode(), "{settings:?}");
        let consecutive = Settings {
            failure_threshold: Some(3),
            ..settings
        };
        assert!(!consecutive.rate_mode(), "{consecutive:?}");
    }
    // `min_calls` beyond the default window is judged only in rate mode.
    let judged = Settings {
        window: Some(Window::Calls(10)),
        min_calls: Some(11),
        ..Default::default()
    };
    assert_eq!(
        judged.problems().iter().map(|p| p.key).collect::<Vec<_>>(),
        [Some("min_calls")]
    );
}

#[test]
fn a_bulkhead_queue_needs_a_wait_above_zero() {
    use bulkhead::check_max_queue;
    let wait = Some(Duration::from_millis(100));
    assert!(check_max_queue(5, wait).is_ok());
    assert_eq!(refused(check_max_queue(0, wait)), "max_queue");
    let zero = check_max_queue(5, Some(Duration::ZERO)).unwrap_err();
    assert!(zero.message.contains("`max_wait` is zero"), "{zero}");
    let none = check_max_queue(5, None).unwrap_err();
    assert!(none.message.contains("there is no `max_wait`"), "{none}");
}

#[test]
fn the_rate_limiter_measures_up_to_a_hundred_years() {
    use rate_limiter::{MAX_SPAN, check_per};
    // The sentences say 100 years; a year is 365.25 days.
    assert_eq!(
        MAX_SPAN,
        Duration::from_secs(100 * 365 * 86_400 + 25 * 86_400)
    );
    assert!(check_per(1, MAX_SPAN).is_ok());
    assert!(check_per(2, MAX_SPAN).is_ok());
    assert_eq!(
        refused(check_per(2, MAX_SPAN + Duration::from_nanos(2))),
        "per"
    );
    assert_eq!(refused(check_per(1, MAX_SPAN * 2)), "per");
}

#[test]
fn the_rate_limiter_allows_one_call_per_nanosecond_at_most() {
    use rate_limiter::check_per;
    let ns = Duration::from_nanos(1);
    assert!(check_per(1, ns).is_ok());
    assert!(check_per(1000, Duration::from_micros(1)).is_ok());
    assert_eq!(refused(check_per(2, ns)), "per");
    assert_eq!(refused(check_per(1001, Duration::from_micros(1))), "per");
    assert_eq!(refused(check_per(1, Duration::ZERO)), "per");
}

#[test]
fn a_burst_is_earned_back_within_a_hundred_years() {
    use rate_limiter::{MAX_SPAN, check_burst};
    // Two calls per 2 s: one call's interval is a second.
    let per = Duration::from_secs(2);
    let full = u32::try_from(MAX_SPAN.as_secs()).unwrap();
    assert!(check_burst(2, per, 1).is_ok());
    assert!(check_burst(2, per, full).is_ok());
    assert_eq!(refused(check_burst(2, per, full + 1)), "burst");
    assert_eq!(refused(check_burst(2, per, 0)), "burst");
}

#[test]
fn a_rate_limiter_without_a_valid_rate_judges_burst_alone() {
    let settings = rate_limiter::Settings {
        rate: Some(0),
        burst: Some(5),
        ..Default::default()
    };
    assert_eq!(
        settings
            .problems()
            .iter()
            .map(|p| p.key)
            .collect::<Vec<_>>(),
        [Some("rate")]
    );
    let missing = rate_limiter::Settings::default().problems();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].key, None);
    assert!(missing[0].message.contains("needs `rate`"));
}

#[test]
fn an_adaptive_limit_stays_within_two_to_the_thirty_one() {
    use adaptive_concurrency::{MAX_LIMIT, check_max, check_min};
    assert_eq!(MAX_LIMIT, i32::MAX as u64);
    assert!(check_max(MAX_LIMIT).is_ok());
    assert!(check_min(MAX_LIMIT).is_ok());
    let problem = check_max(MAX_LIMIT + 1).unwrap_err();
    assert!(
        problem.message.contains(&MAX_LIMIT.to_string()),
        "{problem}"
    );
    assert_eq!(refused(check_min(MAX_LIMIT + 1)), "min");
}

#[test]
fn an_adaptive_min_may_equal_max_but_not_exceed_it() {
    use adaptive_concurrency::Settings;
    let keys = |min: Option<u64>, max: Option<u64>| {
        Settings {
            min,
            max,
            ..Default::default()
        }
        .problems()
        .iter()
        .map(|p| p.key)
        .collect::<Vec<_>>()
    };
    assert_eq!(keys(Some(5), Some(5)), []);
    assert_eq!(keys(Some(5), Some(6)), []);
    assert_eq!(keys(Some(6), Some(5)), [Some("min")]);
    // Against the default `max` of 1000.
    assert_eq!(keys(Some(1000), None), []);
    assert_eq!(keys(Some(1001), None), [Some("min")]);
    // A `max` refused for itself is not also compared with `min`.
    assert_eq!(keys(Some(5), Some(0)), [Some("max")]);
}

#[test]
fn an_adaptive_initial_limit_lies_within_min_and_max() {
    use adaptive_concurrency::check_initial;
    for ok in [5, 7, 10] {
        assert!(check_initial(5, 10, ok).is_ok(), "{ok}");
    }
    for bad in [4, 11] {
        assert_eq!(refused(check_initial(5, 10, bad)), "initial", "{bad}");
    }
}

#[test]
fn adaptive_tuning_edges() {
    use adaptive_concurrency::{check_backoff_ratio, check_tolerance};
    for ok in [1e-9, 0.5, 0.999] {
        assert!(check_backoff_ratio(ok).is_ok(), "{ok}");
    }
    for bad in [0.0, 1.0, -0.5, 1.5] {
        assert_eq!(refused(check_backoff_ratio(bad)), "backoff_ratio", "{bad}");
    }
    for ok in [1.0, 1.5, 1e6] {
        assert!(check_tolerance(ok).is_ok(), "{ok}");
    }
    for bad in [0.999, 0.5, 2e6, f64::NAN] {
        assert_eq!(refused(check_tolerance(bad)), "tolerance", "{bad}");
    }
}

#[test]
fn adaptive_tuning_belongs_to_its_algorithm() {
    use adaptive_concurrency::{Algorithm, Settings};
    let tolerance = |algorithm| Settings {
        algorithm,
        tolerance: Some(1.5),
        ..Default::default()
    };
    assert_eq!(tolerance(None).problems(), []);
    assert_eq!(tolerance(Some(Algorithm::Gradient2)).problems(), []);
    assert_eq!(tolerance(Some(Algorithm::Aimd)).problems(), []);
    let problems = tolerance(Some(Algorithm::Vegas)).problems();
    assert_eq!(problems.len(), 1);
    assert!(
        sentences(&problems)[0]
            .contains("`tolerance` tunes `algorithm = \"gradient2\"` and `\"aimd\"` only"),
        "{problems:?}"
    );
    let ratio = Settings {
        algorithm: Some(Algorithm::Aimd),
        backoff_ratio: Some(0.9),
        ..Default::default()
    };
    assert_eq!(ratio.problems(), []);
}

#[test]
fn each_layer_reports_what_its_rules_refuse() {
    let adaptive = adaptive_concurrency::Settings {
        window: Some(Duration::ZERO),
        ..Default::default()
    };
    assert_eq!(adaptive.problems()[0].key, Some("window"));
    let hedge = hedge::Settings::default().problems();
    assert_eq!(hedge.len(), 1);
    assert!(hedge[0].message.contains("needs `delay"), "{hedge:?}");
    let cache = stale_cache::Settings {
        ttl: Some(Duration::ZERO),
        ..Default::default()
    };
    assert_eq!(cache.problems()[0].key, Some("ttl"));
}

#[test]
fn an_adaptive_timeout_takes_its_tuning_and_needs_no_duration() {
    use timeout::Settings;
    let adaptive = Settings {
        adaptive: Some(true),
        quantile: Some(0.5),
        ..Default::default()
    };
    assert!(adaptive.is_adaptive());
    assert_eq!(adaptive.problems(), []);
    let fixed = Settings {
        adaptive: Some(false),
        duration: Some(Duration::from_secs(1)),
        quantile: Some(0.5),
        ..Default::default()
    };
    assert!(!fixed.is_adaptive());
    assert_eq!(
        fixed.problems().iter().map(|p| p.key).collect::<Vec<_>>(),
        [Some("quantile")]
    );
    assert!(timeout::check_needs_duration(true, false).is_ok());
    assert!(timeout::check_needs_duration(false, true).is_ok());
    assert!(timeout::check_needs_duration(false, false).is_err());
}

#[test]
fn a_timeout_multiplier_is_at_least_one_and_finite() {
    use timeout::check_multiplier;
    for ok in [1.0, 2.0, 1e9] {
        assert!(check_multiplier(ok).is_ok(), "{ok}");
    }
    for bad in [0.999, 0.5, f64::INFINITY, f64::NAN] {
        assert_eq!(refused(check_multiplier(bad)), "multiplier", "{bad}");
    }
}

#[test]
fn an_adaptive_timeout_min_must_be_strictly_below_max() {
    use timeout::check_min_below_max;
    let s = Duration::from_secs;
    assert!(check_min_below_max(Some(s(1)), Some(s(2))).is_ok());
    assert_eq!(refused(check_min_below_max(Some(s(2)), Some(s(2)))), "max");
    assert_eq!(refused(check_min_below_max(Some(s(3)), Some(s(2)))), "max");
    assert_eq!(
        refused(check_min_below_max(Some(timeout::MAX), None)),
        "min"
    );
}

#[test]
fn predicate_examples_are_named_after_their_option() {
    use parse::{predicate_name, predicate_signature};
    assert_eq!(predicate_name("failure_if"), "is_failure");
    assert_eq!(predicate_name("failure_on_ok"), "is_failure");
    assert_eq!(predicate_name("retry_on_ok"), "should_retry");
    assert_eq!(predicate_name("fallback_if"), "should_fall_back");
    assert_eq!(predicate_name("retry_if"), "is_retryable");
    assert_eq!(predicate_signature("failure_on_ok"), "fn(&T) -> bool");
    assert_eq!(predicate_signature("failure_if"), "fn(&E) -> bool");
    assert_eq!(
        Kind::Path.example("retry_on_ok"),
        "`retry_on_ok = should_retry`"
    );
}

#[test]
fn each_kind_has_an_example_and_a_description() {
    assert_eq!(Kind::Text.example("crate"), "`crate = \"::resilience\"`");
    assert_eq!(Kind::Text.example("name"), "`name = \"payments\"`");
    assert_eq!(
        Kind::Count { min: 1, max: 9 }.example("max_attempts"),
        "`max_attempts = 3`"
    );
    assert_eq!(Kind::Flag.example("adaptive"), "`adaptive`");
    assert_eq!(
        Kind::Count { min: 1, max: 9 }.description(),
        "a whole number"
    );
    assert_eq!(
        Kind::Choice {
            words: retry::JITTERS,
            bare: Some("full")
        }
        .description(),
        "one of \"full\", \"equal\", \"none\" (in quotes)"
    );
    assert!(
        Kind::Duration
            .description()
            .starts_with("a duration in a string (units: `h`")
    );
}

#[test]
fn an_unknown_word_lists_the_choices_and_guesses_by_its_start() {
    use parse::unknown_word;
    assert_eq!(
        unknown_word("backoff", "expo", retry::BACKOFFS),
        "unknown backoff `expo` (did you mean \"exp\"?): use one of \"fixed\", \"linear\", \"exp\", \"decorrelated\""
    );
    assert_eq!(
        unknown_word("jitter", "", retry::JITTERS),
        "unknown jitter ``: use one of \"full\", \"equal\", \"none\""
    );
    assert!(!unknown_word("jitter", "zz", retry::JITTERS).contains("did you mean"));
}

#[test]
fn a_long_key_tolerates_more_typos_than_a_short_one() {
    let keys = circuit_breaker::OPTIONS.iter().map(|s| s.key);
    // 16 letters: up to 5 edits; three letters are missing here.
    assert_eq!(
        parse::closest("hlf_opn_max_cals", keys),
        Some("half_open_max_calls")
    );
    // Short words: at most 2 edits, each deleted, inserted or changed
    // letter counted.
    assert_eq!(parse::closest("xyzab", ["ab"]), None);
    assert_eq!(parse::closest("ab", ["abxyz"]), None);
    assert_eq!(parse::closest("xab", ["ab"]), Some("ab"));
}

#[test]
fn a_spelled_out_unit_gets_its_symbol_suggested() {
    for (text, symbol) in [
        ("2millis", "ms"),
        ("2msecs", "ms"),
        ("2secs", "s"),
        ("2seconds", "s"),
        ("2minutes", "m"),
        ("2hours", "h"),
        ("2hr", "h"),
        ("2micros", "us"),
        ("2nanos", "ns"),
    ] {
        let error = parse::duration(text).unwrap_err();
        assert!(
            error.contains(&format!("(did you mean `{symbol}`?)")),
            "{text}: {error}"
        );
    }
    assert!(!parse::duration("2x").unwrap_err().contains("did you mean"));
}

#[test]
fn text_values_read_every_form_an_environment_variable_holds() {
    use parse::text_value;
    let delay = Kind::DurationOrAdaptive;
    assert_eq!(text_value("delay", delay, "adaptive"), Ok(word("adaptive")));
    assert_eq!(
        text_value("delay", delay, "\"adaptive\""),
        Ok(word("adaptive"))
    );
    assert_eq!(
        text_value("delay", delay, "50ms"),
        Ok(Value::Duration(Duration::from_millis(50)))
    );
    assert!(text_value("delay", delay, "soon").is_err());
    assert_eq!(
        text_value("idempotent", Kind::Switch, "false"),
        Ok(Value::Switch(false))
    );
    // A lone minus sign is no number, not a negative one.
    let count = Kind::Count { min: 1, max: 9 };
    let error = text_value("max_attempts", count, "-").unwrap_err();
    assert!(error.contains("takes a whole number"), "{error}");
    let error = text_value("max_attempts", count, "-2").unwrap_err();
    assert!(error.contains("cannot be negative"), "{error}");
    // A choice takes only its words, quoted or not, and refuses another
    // with the attribute's sentence.
    let backoff = Kind::Choice {
        words: &["fixed", "exp"],
        bare: None,
    };
    assert_eq!(text_value("backoff", backoff, "exp"), Ok(word("exp")));
    assert_eq!(
        text_value("backoff", backoff, "\"fixed\""),
        Ok(word("fixed"))
    );
    assert_eq!(
        text_value("backoff", backoff, "expo"),
        Err(parse::unknown_word("backoff", "expo", &["fixed", "exp"]))
    );
}
