//! What an attribute's options read as, and the sentence each misuse gets
//! (issue 22): the options parser (`crate::options`) and the value
//! readers (`crate::value`, `crate::duration`) on `proc_macro2` tokens, as
//! the macros call them. Where an error points is checked by the trybuild
//! cases (`tests/ui/`); here, what it says.

use std::time::Duration;

use darling::FromMeta;
use darling::ast::NestedMeta;
use proc_macro2::Span;
use resilience_schema::circuit_breaker::Window;
use resilience_schema::hedge::Delay;
use resilience_schema::retry::{Backoff, Jitter};
use resilience_schema::{Options, circuit_breaker, hedge, retry, timeout};
use syn::Meta;

use crate::duration::{self, DurationLit};
use crate::options::{self, Parsed};
use crate::value;

fn args(attr: &str) -> Vec<NestedMeta> {
    NestedMeta::parse_meta_list(attr.parse().unwrap()).unwrap()
}

/// The options `attr` reads as, with the schema's rules run.
fn parsed<S: Options>(attr: &str) -> darling::Result<Parsed<S>> {
    options::parse::<S>(&args(attr)).and_then(|parsed| parsed.checked(Span::call_site()))
}

fn settings<S: Options>(attr: &str) -> S {
    match parsed::<S>(attr) {
        Ok(parsed) => parsed.settings,
        Err(errors) => panic!("`{attr}`: {errors}"),
    }
}

/// Every error `attr` gets, in order.
fn errors<S: Options>(attr: &str) -> Vec<String> {
    match parsed::<S>(attr) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| e.to_string()).collect(),
    }
}

/// The one error `attr` gets.
fn error<S: Options>(attr: &str) -> String {
    let errors = errors::<S>(attr);
    assert_eq!(errors.len(), 1, "`{attr}`: {errors:?}");
    errors.into_iter().next().unwrap()
}

#[track_caller]
fn says<S: Options>(attr: &str, part: &str) {
    let error = error::<S>(attr);
    assert!(error.contains(part), "`{attr}`: {error:?} lacks {part:?}");
}

fn meta(code: &str) -> Meta {
    syn::parse_str(code).unwrap()
}

#[test]
fn options_are_read_as_their_settings() {
    let s = settings::<retry::Settings>(
        "max_attempts = 5, base = \"250ms\", backoff = \"linear\", jitter, idempotent, budget = 0.2",
    );
    assert_eq!(s.max_attempts, Some(5));
    assert_eq!(s.base, Some(Duration::from_millis(250)));
    assert_eq!(s.backoff, Some(Backoff::Linear));
    assert_eq!(s.jitter, Some(Jitter::Full));
    assert_eq!(s.idempotent, Some(true));
    assert_eq!(s.budget, Some(0.2));
    let s = settings::<retry::Settings>("jitter = \"equal\", idempotent = false, budget = 1");
    assert_eq!(s.jitter, Some(Jitter::Equal));
    assert_eq!(s.idempotent, Some(false));
    assert_eq!(s.budget, Some(1.0));
    assert!(settings::<timeout::Settings>("adaptive").is_adaptive());
}

#[test]
fn a_breaker_window_is_calls_or_a_duration() {
    let calls = settings::<circuit_breaker::Settings>("failure_rate = 0.5, window = 100");
    assert_eq!(calls.window, Some(Window::Calls(100)));
    let time = settings::<circuit_breaker::Settings>("failure_rate = 0.5, window = \"10s\"");
    assert_eq!(time.window, Some(Window::Time(Duration::from_secs(10))));
    says::<circuit_breaker::Settings>("window = 5000000000", "at most 4294967295 calls");
    says::<circuit_breaker::Settings>("window = true", "is a number of calls (`window = 100`");
    says::<circuit_breaker::Settings>(
        "window = SIZE",
        "`window` takes a whole number: write the value itself, e.g. `window = 3`; the macro runs before `SIZE` has a value",
    );
    says::<circuit_breaker::Settings>(
        "window = SIZE",
        "; or a duration such as `window = \"10s\"`",
    );
    says::<circuit_breaker::Settings>("window", "`window` needs a value");
}

#[test]
fn a_hedge_delay_is_a_duration_or_the_word_adaptive() {
    assert_eq!(
        settings::<hedge::Settings>("delay = adaptive").delay,
        Some(Delay::Adaptive)
    );
    assert_eq!(
        settings::<hedge::Settings>("delay = \"50ms\"").delay,
        Some(Delay::Fixed(Duration::from_millis(50)))
    );
    says::<hedge::Settings>("delay = fast", "`fast` is neither");
    says::<hedge::Settings>(
        "delay = \"adaptive\"",
        "write `delay = adaptive`, without quotes",
    );
    says::<hedge::Settings>("delay = 50", "`50` has no unit");
    says::<hedge::Settings>("delay = 50", "; or write `delay = adaptive`");
    says::<hedge::Settings>("delay", "`delay` needs a value");
}

#[test]
fn a_key_written_twice_is_reported_once() {
    let errors = errors::<retry::Settings>("max_attempts = 1, max_attempts = 2");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("max_attempts"), "{errors:?}");
    assert_eq!(
        settings::<retry::Settings>("max_attempts = 2, base = \"1s\"").max_attempts,
        Some(2)
    );
}

#[test]
fn the_common_options_are_every_layers() {
    let named = parsed::<retry::Settings>("name = \"payments\", crate = \"::resilience\"").unwrap();
    assert_eq!(named.common.name.unwrap().value(), "payments");
    assert_eq!(named.common.krate.unwrap().value(), "::resilience");
    let owned = parsed::<retry::Settings>("with = &RETRY").unwrap();
    assert!(owned.common.with.is_some());
    says::<retry::Settings>(
        "crate = resilience",
        "`crate` takes the path of the `resilience` crate in a string: write `crate = \"resilience\"`",
    );
    says::<retry::Settings>(
        "name = NAME",
        "write the name itself, e.g. `name = \"payments\"`",
    );
    says::<retry::Settings>(
        "name = 3",
        "`name` takes a string literal: write e.g. `name = \"payments\"`",
    );
}

#[test]
fn an_unknown_key_suggests_the_closest_one() {
    says::<retry::Settings>("max_atempts = 3", "max_attempts");
    says::<retry::Settings>("retry::max_attempts = 3", "retry::max_attempts");
}

#[test]
fn settings_beside_with_are_left_to_the_driver() {
    // The driver refuses every setting beside `with`; the rules run only
    // without it, so a setting is never reported twice.
    assert_eq!(
        errors::<retry::Settings>("with = &RETRY, max_attempts = 0"),
        Vec::<String>::new()
    );
    says::<retry::Settings>("max_attempts = 0", "must be at least 1");
    assert_eq!(
        errors::<retry::Settings>("max_attempts = 0, budget = 2.0").len(),
        2
    );
}

#[test]
fn a_count_above_its_type_is_too_large() {
    assert_eq!(
        settings::<retry::Settings>("max_attempts = 4294967295").max_attempts,
        Some(u32::MAX)
    );
    says::<retry::Settings>(
        "max_attempts = 4294967296",
        "`max_attempts = 4294967296` is too large: `max_attempts` is at most 4294967295",
    );
    says::<retry::Settings>("max_attempts = 99999999999999999999999", "is too large");
}

#[test]
fn a_negative_count_is_refused_with_its_key() {
    says::<retry::Settings>("max_attempts = -3", "`max_attempts` cannot be negative");
    assert_eq!(
        *value::count::<u64>(&meta("max_attempts = 3"))
            .unwrap()
            .unwrap(),
        3
    );
    // A negated constant is no count either.
    let error = value::count::<u64>(&meta("max_attempts = -N"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        error,
        "`max_attempts` takes a whole number: `max_attempts` cannot be negative: write e.g. `max_attempts = 3`"
    );
}

#[test]
fn a_negative_number_keeps_its_sign() {
    let s = settings::<circuit_breaker::Settings>("failure_rate = 0.5");
    assert_eq!(s.failure_rate, Some(0.5));
    let n = value::number_value(&meta("budget = -0.5")).unwrap();
    assert_eq!(*n, -0.5);
    // A minus sign before a parenthesised (or `macro_rules!`-grouped) literal.
    let n = value::number_value(&meta("budget = -(0.5)")).unwrap();
    assert_eq!(*n, -0.5);
    let n = value::number_value(&meta("budget = 2")).unwrap();
    assert_eq!(*n, 2.0);
    says::<retry::Settings>("budget = -0.5", "`budget` is the fraction of calls");
    says::<retry::Settings>(
        "budget = - -0.5",
        "`budget` takes a number: write e.g. `budget = 0.5`",
    );
}

#[test]
fn a_value_of_the_wrong_kind_says_what_to_write() {
    type R = retry::Settings;
    says::<R>("backoff = exp", "write `backoff = \"exp\"`, in quotes");
    says::<R>("backoff = expo", "write `backoff = \"exp\"`, in quotes");
    says::<R>("backoff = zzz", "write e.g. `backoff = \"fixed\"`");
    says::<R>(
        "max_attempts = MAX",
        "write the value itself, e.g. `max_attempts = 3`; the macro runs before `MAX` has a value",
    );
    says::<R>(
        "max_attempts = \"3\"",
        "write `max_attempts = 3`, without quotes",
    );
    says::<R>(
        "max_attempts = 2.5",
        "`2.5` is not one; write e.g. `max_attempts = 3`",
    );
    says::<R>(
        "budget = \"lots\"",
        "`budget` takes a number: write e.g. `budget = 0.5`",
    );
    says::<R>(
        "base = 100",
        "`100` has no unit; write the number and its unit in quotes, e.g. `base = \"100ms\"` or `base = \"100s\"`",
    );
    says::<R>(
        "base = 1.5",
        "`1.5` has no unit; write the number and its unit in quotes, e.g. `base = \"1.5s\"`",
    );
    says::<R>(
        "base = true",
        "`base` takes a duration in a string (units: ",
    );
    says::<R>("base = true", "write e.g. `base = \"2s\"`");
    says::<R>(
        "jitter = true",
        "write the bare key `jitter` (which means \"full\")",
    );
    says::<R>(
        "jitter = false",
        "leave `jitter` out, or write `jitter = \"none\"`",
    );
    says::<R>("backoff = 3", "write e.g. `backoff = \"fixed\"`");
    says::<R>(
        "idempotent = \"true\"",
        "write `idempotent = true`, without quotes",
    );
    says::<R>(
        "idempotent = \"yes\"",
        "write the bare key `idempotent`, or `idempotent = true`",
    );
    says::<R>(
        "idempotent = 1",
        "write the bare key `idempotent`, or `idempotent = true`",
    );
    says::<R>(
        "base = Duration::from_millis(800)",
        "write `base = \"800ms\"`",
    );
    says::<R>(
        "base = Duration::from_secs_f64(0.5)",
        "write the duration itself, e.g. `base = \"2s\"`",
    );
    says::<R>("base = d.max(e)", "write the duration itself");
    says::<R>(
        "retry_if = |e| true",
        "a closure cannot go here: move it into a function (`fn is_retryable(error: &E) -> bool`)",
    );
    says::<R>(
        "retry_on_ok = |v| true",
        "`retry_on_ok` takes the path of a `fn(&T) -> bool`: a closure cannot go here: move it into a function (`fn should_retry(value: &T) -> bool`)",
    );
    says::<R>(
        "max_attempts = env!(\"N\")",
        "the macro cannot expand `env!(…)` here",
    );
    says::<R>(
        "retry_if = 3",
        "`retry_if` takes the path of a `fn(&E) -> bool`: write e.g. `retry_if = is_retryable`",
    );
    says::<R>(
        "retry_if = \"1 +\"",
        "`retry_if` takes the path of a `fn(&E) -> bool`",
    );
}

#[test]
fn a_key_that_needs_a_value_says_so() {
    type R = retry::Settings;
    says::<R>(
        "max_attempts(3)",
        "write `max_attempts = …`, not `max_attempts(…)`: e.g. `max_attempts = 3`",
    );
    says::<R>(
        "max_attempts",
        "`max_attempts` needs a value: write e.g. `max_attempts = 3`",
    );
    says::<R>("backoff", "`backoff` needs a value");
    says::<R>("base", "`base` needs a value: write e.g. `base = \"2s\"`");
    says::<R>("retry_if", "`retry_if` needs a value");
    says::<timeout::Settings>(
        "adaptive = true",
        "`adaptive` takes no value: write the bare key `adaptive`",
    );
}

#[test]
fn predicates_are_kept_by_their_key() {
    let mut parsed =
        parsed::<retry::Settings>("retry_if = is_retryable, retry_on_ok = \"checks::is_busy\"")
            .unwrap();
    let path = |p: Option<syn::Path>| p.map(|p| value::path_text(&p));
    assert_eq!(
        path(parsed.path("retry_on_ok")).as_deref(),
        Some("checks::is_busy")
    );
    assert_eq!(
        path(parsed.path("retry_if")).as_deref(),
        Some("is_retryable")
    );
    assert_eq!(path(parsed.path("retry_if")), None);
    let (attempts, _) = parsed.into_layer(|s| s.max_attempts);
    assert_eq!(attempts, None);
}

#[test]
fn an_unknown_word_is_refused_with_a_guess() {
    says::<retry::Settings>(
        "backoff = \"expo\"",
        "unknown backoff `expo` (did you mean \"exp\"?): use one of \"fixed\", \"linear\", \"exp\", \"decorrelated\"",
    );
}

#[test]
fn a_duration_is_a_string_with_units() {
    let d = DurationLit::from_meta(&meta("base = \"1m30s\"")).unwrap();
    assert_eq!(d.value, Duration::from_secs(90));
    let error = DurationLit::from_meta(&meta("base = 2"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("`2` has no unit"), "{error}");
    let error = DurationLit::from_meta(&meta("base"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("`base` needs a value"), "{error}");
    let error = DurationLit::from_value(&syn::parse_str("2").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("a duration is a string literal such as \"2s\""),
        "{error}"
    );
    let error = DurationLit::from_value(&syn::parse_str("\"2x\"").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("`x` in `2x` is not a unit of time"),
        "{error}"
    );
    assert_eq!(
        duration::tokens(Duration::from_millis(5)).to_string(),
        ":: core :: time :: Duration :: from_nanos (5000000u64)"
    );
}

#[test]
fn each_duration_constructor_gives_its_literal() {
    for (code, text) in [
        ("Duration::from_secs(2)", "2s"),
        ("Duration::from_millis(2)", "2ms"),
        ("Duration::from_micros(2)", "2us"),
        ("Duration::from_nanos(2)", "2ns"),
        ("Duration::from_mins(2)", "2m"),
        ("Duration::from_hours(2)", "2h"),
    ] {
        let expr = syn::parse_str(code).unwrap();
        assert_eq!(value::duration_text(&expr).as_deref(), Some(text), "{code}");
    }
}

#[test]
fn each_setting_becomes_its_builder_argument() {
    use crate::options::Arg;
    let private = quote::quote!(::resilience::__private);
    let arg = |a: &dyn Arg| a.arg(&private).to_string();
    assert_eq!(arg(&5u32), "5");
    assert_eq!(arg(&5u64), "5");
    assert_eq!(arg(&0.25f64), "0.25");
    assert_eq!(arg(&true), "true");
    assert_eq!(
        arg(&Duration::from_secs(2)),
        ":: core :: time :: Duration :: from_nanos (2000000000u64)"
    );
    assert_eq!(
        arg(&Backoff::Decorrelated),
        ":: resilience :: __private :: Backoff :: Decorrelated"
    );
    let s = settings::<retry::Settings>("max_attempts = 4, idempotent");
    let calls = crate::options::setters!(&private, s => max_attempts, base, idempotent);
    assert_eq!(calls.to_string(), ". max_attempts (4) . idempotent (true)");
}

/// The column where the one error of `attr` points.
fn column<S: Options>(attr: &str) -> usize {
    let Err(error) = parsed::<S>(attr) else {
        panic!("`{attr}` is accepted")
    };
    let errors: Vec<_> = error.into_iter().collect();
    assert_eq!(errors.len(), 1, "`{attr}`: {errors:?}");
    errors[0].span().start().column
}

#[test]
fn a_problem_points_at_the_option_it_names() {
    let attr = "base = \"2s\", max_delay = \"500ms\"";
    assert_eq!(
        column::<retry::Settings>(attr),
        attr.find("\"500ms\"").unwrap()
    );
    let attr = "max_attempts = 0, base = \"1s\"";
    assert_eq!(column::<retry::Settings>(attr), attr.find('0').unwrap());
    // A problem of the whole attribute points at the attribute.
    let whole = parsed::<hedge::Settings>("max_hedges = 2")
        .err()
        .expect("`delay` is required");
    assert_eq!(whole.span().start(), Span::call_site().start());
}

#[test]
fn a_setting_is_found_where_it_was_written() {
    let attr = "max_attempts = 3, base = \"1s\"";
    let parsed = parsed::<retry::Settings>(attr).unwrap();
    assert_eq!(
        parsed.spans.of("base").start().column,
        attr.find("\"1s\"").unwrap()
    );
    assert_eq!(
        parsed.spans.of("max_attempts").start().column,
        attr.find('3').unwrap()
    );
    assert_eq!(
        parsed.spans.of("max_delay").start(),
        Span::call_site().start()
    );
}
