//! `[fleet_rate_limiter.<name>]`: the fleet rate limiters a configuration
//! builds (features `config` and `redis`).

use std::sync::Arc;
use std::time::Duration;

use resilience_schema::fleet_rate_limiter::{self as schema, Settings};
use resilience_schema::{Problem, rate_limiter};

use super::layers::{Layer, overlay, problem_at};
use super::{Config, ConfigError, Name, Table};
use crate::redis::{FleetRateLimiter, OnStoreError, RedisStore};

impl Config {
    /// Builds the [`FleetRateLimiter`] of every `[fleet_rate_limiter.<name>]`
    /// table and [binds](FleetRateLimiter::bind) it under its name, for
    /// every [`FleetSlot`](crate::redis::FleetSlot) of that name and the
    /// registry; returns them in the order of the file. Call it once at
    /// start-up, within the tokio runtime (the store's connection runs on
    /// it).
    ///
    /// The file names each limiter and gives its options (`store` and
    /// `rate` required, the rest as the builder's defaults); the
    /// environment's `RESILIENCE_FLEET_RATE_LIMITER__<NAME>__<KEY>`
    /// overrides a file's value. Every replica reads the same table, so all
    /// share one key. A value is checked by the builder's rules, with the
    /// same sentences; with any problem nothing is bound. The limiter is
    /// built once: a later [`apply`](Config::apply) leaves it as it is
    /// (its settings are the fleet's, changed for all replicas at their
    /// next start).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use resilience::config::Config;
    /// use resilience::redis::FleetSlot;
    ///
    /// static PAYMENTS: FleetSlot = FleetSlot::new("payments");
    ///
    /// let config = Config::from_toml(
    ///     r#"
    ///     [fleet_rate_limiter.payments]
    ///     store = "redis://127.0.0.1:6379"
    ///     rate = 1000
    ///     per = "1s"
    ///     on_store_error = "local"
    ///     replicas = 20
    ///     "#,
    /// )?;
    /// config.bind_fleet_rate_limiters()?;
    /// assert_eq!(PAYMENTS.get().unwrap().rate(), 1000);
    /// # Ok(())
    /// # }
    /// ```
    pub fn bind_fleet_rate_limiters(&self) -> Result<Vec<Arc<FleetRateLimiter>>, ConfigError> {
        let mut names: Vec<&str> = Vec::new();
        let mut problems = Vec::new();
        for table in self
            .tables
            .iter()
            .filter(|t| t.layer == Layer::FleetRateLimiter)
        {
            match &table.name {
                Name::Exact(name) if !names.contains(&name.as_str()) => names.push(name),
                Name::Exact(_) => {}
                Name::Normalised(_) => {
                    if !self.tables.iter().any(|t| {
                        t.layer == Layer::FleetRateLimiter
                            && matches!(&t.name, Name::Exact(exact) if table.name.matches(exact))
                    }) {
                        problems.push(problem_at(
                            Layer::FleetRateLimiter,
                            std::slice::from_ref(table),
                            Problem::whole(
                                "no `[fleet_rate_limiter.<name>]` table in the file has this name: the file names a fleet rate limiter (with its `store` and `rate`), the environment only overrides its values",
                            ),
                        ));
                    }
                }
            }
        }
        let mut built = Vec::new();
        for name in names {
            let tables: Vec<Table> = self
                .tables_for(Layer::FleetRateLimiter, name)
                .cloned()
                .collect();
            let settings = overlay(Settings::default(), &tables);
            let found = settings.problems();
            if !found.is_empty() {
                problems.extend(
                    found
                        .into_iter()
                        .map(|p| problem_at(Layer::FleetRateLimiter, &tables, p)),
                );
                continue;
            }
            match build(name, &settings) {
                Ok(limiter) => built.push(limiter),
                Err(message) => {
                    let mut problem =
                        problem_at(Layer::FleetRateLimiter, &tables, Problem::at("store", ""));
                    problem.message = message;
                    problems.push(problem);
                }
            }
        }
        if !problems.is_empty() {
            super::dedup(&mut problems);
            return Err(ConfigError { problems });
        }
        Ok(built.into_iter().map(FleetRateLimiter::bind).collect())
    }
}

/// The limiter `settings` describe (their rules checked).
fn build(name: &str, settings: &Settings) -> Result<FleetRateLimiter, String> {
    let url = settings.store.as_deref().unwrap_or_default();
    let store = RedisStore::open(url).map_err(|error| {
        format!(
            "`store` is not a Redis URL ({error}): write e.g. `store = \"redis://127.0.0.1:6379\"`"
        )
    })?;
    let store = store
        .store_timeout(settings.store_timeout.unwrap_or(schema::STORE_TIMEOUT))
        .key_prefix(settings.key_prefix.as_deref().unwrap_or(schema::KEY_PREFIX));
    let rate = settings.rate.unwrap_or(1);
    let per: Duration = settings.per.unwrap_or(rate_limiter::PER);
    let mut limiter = FleetRateLimiter::new(&store, name.to_owned(), rate, per)
        .lease_ttl(settings.lease_ttl.unwrap_or(schema::LEASE_TTL))
        .replicas(settings.replicas.unwrap_or(schema::REPLICAS))
        .max_wait(settings.max_wait.unwrap_or(schema::MAX_WAIT))
        .on_store_error(
            settings
                .on_store_error
                .as_deref()
                .unwrap_or("local")
                .parse::<OnStoreError>()?,
        );
    if let Some(burst) = settings.burst {
        limiter = limiter.burst(burst);
    }
    if let Some(cells) = settings.max_lease {
        limiter = limiter.max_lease(cells);
    }
    Ok(limiter)
}
