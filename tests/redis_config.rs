//! A fleet rate limiter built from a configuration file's
//! `[fleet_rate_limiter.<name>]` table, against a `redis-server` of the
//! test's own (see `test_server.rs`: without one this fails when `CI` is
//! set), and the file's mistakes reported with the builder's sentences.

#[path = "../resilience-runtime/src/redis/test_server.rs"]
mod test_server;

use std::time::Duration;

use resilience::config::Config;
use resilience::rate_limiter;
use resilience::redis::{FleetSlot, OnStoreError};
use resilience::registry;
use test_server::RedisServer;

static PAYMENTS: FleetSlot = FleetSlot::new("config-payments");

#[rate_limiter(with = PAYMENTS)]
async fn pay() -> Result<(), resilience::Rejection> {
    Ok(())
}

#[tokio::test]
async fn a_table_builds_and_binds_the_fleet_limiter_its_replicas_share() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let text = format!(
        r#"
        [fleet_rate_limiter.config-payments]
        store = "{}"
        key_prefix = "from-file"
        rate = 5
        per = "1m"
        max_lease = 2
        lease_ttl = "250ms"
        on_store_error = "deny"
        replicas = 4
        store_timeout = "200ms"
        max_wait = "0s"
        "#,
        server.url()
    );
    let config = Config::from_toml(&text).unwrap();
    let bound = config.bind_fleet_rate_limiters().unwrap();
    assert_eq!(bound.len(), 1);
    let limiter = PAYMENTS.get().expect("bound under the table's name");
    assert_eq!(
        (limiter.rate(), limiter.per()),
        (5, Duration::from_secs(60))
    );
    assert_eq!(limiter.get_burst(), 5, "burst unset: the rate");
    assert_eq!(limiter.get_max_lease(), 2);
    assert_eq!(limiter.get_lease_ttl(), Duration::from_millis(250));
    assert_eq!(limiter.get_on_store_error(), OnStoreError::Deny);
    assert_eq!(limiter.get_max_wait(), Duration::ZERO);
    assert_eq!(
        limiter.local_share().rate(),
        1,
        "5 / 4 replicas, at least 1"
    );
    // The attribute's calls go through it: a burst of 5 for the fleet,
    // counted in the file's key.
    let mut admitted = 0;
    for _ in 0..8 {
        if pay().await.is_ok() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 5);
    assert!(
        server
            .command("EXISTS from-file:rate_limiter:config-payments")
            .ends_with('1'),
        "the count lives under the file's key prefix"
    );
    assert!(
        registry::instances()
            .iter()
            .any(|i| i.name == "config-payments")
    );
}

#[test]
fn bad_values_get_the_builders_sentences() {
    let error = Config::from_toml(
        r#"
        [fleet_rate_limiter.config-bad]
        store = "redis://127.0.0.1:1"
        rate = 10
        max_lease = 0
        replicas = 0
        lease_ttl = "500us"
        store_timeout = "0s"
        on_store_error = "panic"
        "#,
    )
    .unwrap_err();
    let messages: Vec<(String, Option<usize>, String)> = error
        .problems()
        .iter()
        .map(|p| (p.path.clone(), p.line, p.message.clone()))
        .collect();
    let expect = |key: &str, line: usize, sentence: &str| {
        assert!(
            messages.iter().any(|(path, l, message)| path
                == &format!("fleet_rate_limiter.config-bad.{key}")
                && *l == Some(line)
                && message.contains(sentence)),
            "{key}: {messages:#?}"
        );
    };
    expect("max_lease", 5, "`max_lease = 0` would lease nothing");
    expect(
        "replicas",
        6,
        "`replicas = 0` leaves no one to share the limit",
    );
    expect("lease_ttl", 7, "at least \"1ms\"");
    expect("store_timeout", 8, "a `store_timeout` of zero");
    // A word that is none of the choices: the sentence of every choice key.
    expect(
        "on_store_error",
        9,
        "unknown on_store_error `panic`: use one of \"local\", \"allow\", \"deny\"",
    );
    // The builder says the same words.
    let builder = std::panic::catch_unwind(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = runtime.enter();
        let store = resilience::redis::RedisStore::open("redis://127.0.0.1:1").unwrap();
        resilience::redis::FleetRateLimiter::new(&store, "b", 10, Duration::from_secs(1))
            .replicas(0)
    })
    .unwrap_err();
    let said = builder
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| builder.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap();
    assert!(
        said.contains("`replicas = 0` leaves no one to share the limit"),
        "{said}"
    );
}

#[tokio::test]
async fn a_table_without_store_or_rate_or_with_a_bad_url_binds_nothing() {
    let config = Config::from_toml(
        r#"
        [fleet_rate_limiter.config-missing]
        per = "1s"

        [fleet_rate_limiter.config-url]
        store = "http://example.invalid"
        rate = 10
        "#,
    )
    .expect("each value is right on its own");
    let error = config.bind_fleet_rate_limiters().unwrap_err();
    let text = error.to_string();
    assert!(text.contains("needs `store`"), "{text}");
    assert!(text.contains("needs `rate`"), "{text}");
    assert!(
        text.contains("fleet_rate_limiter.config-url.store (line 6): `store` is not a Redis URL"),
        "{text}"
    );
    assert!(
        FleetSlot::new("config-url").get().is_none(),
        "nothing bound"
    );
}

#[tokio::test]
async fn the_environment_overrides_a_files_value_and_cannot_name_a_limiter_alone() {
    let file = Config::from_toml(
        "[fleet_rate_limiter.config-env]\nstore = \"redis://127.0.0.1:1\"\nrate = 10\n",
    )
    .unwrap();
    let zero = Config::from_vars([(
        "RESILIENCE_FLEET_RATE_LIMITER__CONFIG_ENV__RATE".to_string(),
        "0".to_string(),
    )])
    .unwrap_err();
    assert!(
        zero.to_string()
            .contains("`rate = 0` would refuse every call"),
        "{zero}"
    );
    let alone = Config::from_vars([(
        "RESILIENCE_FLEET_RATE_LIMITER__ONLY_ENV__RATE".to_string(),
        "3".to_string(),
    )])
    .unwrap();
    let error = file
        .clone()
        .overlay(alone)
        .bind_fleet_rate_limiters()
        .unwrap_err();
    assert!(
        error.to_string().contains("the environment only overrides"),
        "{error}"
    );
    let env = Config::from_vars([(
        "RESILIENCE_FLEET_RATE_LIMITER__CONFIG_ENV__RATE".to_string(),
        "7".to_string(),
    )])
    .unwrap();
    let bound = file.overlay(env).bind_fleet_rate_limiters().unwrap();
    assert_eq!(bound[0].rate(), 7, "the environment beats the file");
    assert_eq!(FleetSlot::new("config-env").get().unwrap().rate(), 7);
}

#[tokio::test]
async fn two_files_naming_one_limiter_build_it_once_with_the_later_files_values() {
    let file = |rate: u32| {
        Config::from_toml(&format!(
            "[fleet_rate_limiter.config-overlaid]\nstore = \"redis://127.0.0.1:1\"\nrate = {rate}\n"
        ))
        .unwrap()
    };
    let bound = file(10)
        .overlay(file(20))
        .bind_fleet_rate_limiters()
        .unwrap();
    let built: Vec<_> = bound.iter().map(|l| (l.name(), l.rate())).collect();
    assert_eq!(
        built,
        [("config-overlaid", 20)],
        "one limiter, not one per file"
    );
}
