//! Configuration of named instances from a TOML file and the environment,
//! reloaded live without losing state (cargo feature `config`).
//!
//! # The file
//!
//! One table per layer and instance name, with the attribute's own keys
//! and duration strings:
//!
//! ```toml
//! [circuit_breaker.payments]
//! failure_threshold = 10
//! open_for = "30s"
//!
//! [retry.payments]
//! max_attempts = 5
//! backoff = "exp"
//!
//! [bulkhead."payments.eu-1"]   # names with `.` are quoted, as TOML wants
//! max_concurrent = 64
//! ```
//!
//! The layers are `circuit_breaker`, `retry`, `bulkhead`, `rate_limiter`,
//! `timeout` (a fixed timeout), `adaptive_concurrency`, and
//! `fleet_rate_limiter` (feature `redis`: a limiter the file builds, see
//! [`Config::bind_fleet_rate_limiters`]; a build without the feature
//! refuses such a table). A value in the file overrides the
//! attribute's value for the instances named so (`name = "payments"`);
//! what the file does not mention keeps the attribute's value. A value is
//! checked by the same rule, with the same sentence, as in the attribute.
//! Predicates (`retry_if`), `adaptive` and `name`/`with`/`crate` are code
//! and stay in the attribute.
//!
//! # The environment
//!
//! `RESILIENCE_<LAYER>__<NAME>__<KEY>=<value>`, e.g.
//! `RESILIENCE_CIRCUIT_BREAKER__PAYMENTS_EU_1__FAILURE_THRESHOLD=3`: the
//! three parts separated by two underscores, the layer and the key in any
//! case. Since a shell cannot put `-` or `.` in a variable's name, the
//! name is compared *normalised*: ASCII letters in upper case, and each of
//! `-`, `.` and `_` as `_`; so `PAYMENTS_EU_1` governs `payments.eu-1`,
//! `payments-eu-1` and `payments_eu_1` alike. Values are written as in the
//! file, the quotes optional: `3`, `0.5`, `30s`, `exp`, `true`. Variables
//! that start with `RESILIENCE_` but hold no `__` are left alone (they
//! belong to something else); those with `__` are checked like the file.
//!
//! The environment beats the file, which beats the attribute:
//! `Config::from_path(p)?.overlay(Config::from_env()?)` — [`Config::load`]
//! does just that — or [`watch`], which re-reads both on every change.
//!
//! # Errors
//!
//! Every problem is reported at once in one [`ConfigError`], each with its
//! key path (`circuit_breaker.payments.failure_rate`), its line (or its
//! variable) and the attribute's fix-it sentence; an unknown layer or key
//! gets a "did you mean". A configuration with any problem changes
//! nothing: [`Config::apply`] refuses it whole, the configuration in force
//! stays, and a `tracing` warning says why.
//!
//! A table is checked against the attribute of the instance it names when
//! that instance exists (a file cannot, for instance, set `failure_rate` on
//! a breaker whose attribute chose `failure_threshold`: it names the trip
//! rule to drop). A name no instance carries yet is not an error: named
//! instances are created on their first call, and the table governs that
//! creation. Until then it is checked on its own (its required options,
//! such as `max_concurrent`, come from the attribute), and `apply` warns,
//! with a "did you mean", when an existing instance of that layer has a
//! close name.
//!
//! # Reload
//!
//! [`Config::apply`] makes a configuration the one in force: every named
//! instance that exists is reconfigured in place, and every instance
//! created later is created with it. Keys a new configuration no longer
//! mentions go back to the attribute's value. State is kept:
//!
//! - a breaker that is open stays open, its open period measured from
//!   when it opened under the new `open_for`; its counts are kept. A
//!   running breaker keeps its trip rule's mode and window (a rate window
//!   cannot be resized in place without losing or inventing calls): such
//!   a change is reported, and takes effect for an instance created with
//!   it (at the next start);
//! - a bulkhead keeps its permits in use: growing admits waiters at once,
//!   shrinking admits new calls only once the calls inside fall under the
//!   new limit; no permit is lost or counted twice;
//! - a rate limiter keeps its theoretical arrival time, so a burst already
//!   spent stays spent;
//! - an adaptive concurrency limiter keeps its calls in flight and
//!   waiting, its measured no-load latency and its limit (moved into a new
//!   `min..=max`); `initial` applies to an instance created after the
//!   file, and a new `algorithm` drops the old one's tuning unless the
//!   file writes it;
//! - a retry budget keeps its slots (calls and retries of the last ten
//!   seconds); a retry instance that has no budget cannot get one live.
//!
//! A call in flight finishes without error. Each decision reads the policy
//! in force when it is made: a breaker judges a verdict by the threshold
//! in force when the call reports; a retry decides each next attempt by the
//! policy of that moment; a caller already waiting for a bulkhead or rate
//! limiter keeps the `max_wait` it started waiting with. A reload is not
//! atomic across the options of one instance: a call may see some options
//! of the new policy and the rest of the old one, never a value that is
//! neither.
//!
//! # Examples
//!
//! ```
//! use resilience::breaker::{BreakerPolicy, CircuitBreaker};
//! use resilience::config::Config;
//! use resilience::registry;
//!
//! let config = Config::from_toml(
//!     r#"
//!     [circuit_breaker.doc-config]
//!     failure_threshold = 2
//!     "#,
//! )
//! .unwrap();
//! config.apply().unwrap();
//!
//! // Created after `apply`: the file's threshold wins over the code's 5.
//! let breaker = registry::get_or_register("doc-config", || {
//!     CircuitBreaker::new("doc-config", BreakerPolicy::new().failure_threshold(5))
//! });
//! assert_eq!(breaker.policy().get_failure_threshold(), Some(2));
//! ```

mod adaptive;
mod env;
#[cfg(feature = "redis")]
mod fleet;
mod layers;
mod parse;
mod watch;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use resilience_schema::Value;

pub use watch::{Watcher, watch};

use layers::{Base, Layer};

/// A configuration: values for named instances, from a file, the
/// environment, or both.
///
/// ```
/// use resilience::config::Config;
///
/// let config = Config::from_toml("[retry.search]\nmax_attempts = 4\n").unwrap();
/// assert!(!config.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    tables: Vec<Table>,
}

/// The values for one instance.
#[derive(Debug, Clone, PartialEq)]
struct Table {
    layer: Layer,
    /// As written (file), or normalised (environment).
    name: Name,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    Exact(String),
    Normalised(String),
}

impl Name {
    fn matches(&self, name: &str) -> bool {
        match self {
            Name::Exact(exact) => exact == name,
            Name::Normalised(normalised) => *normalised == env::normalise(name),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Name::Exact(s) | Name::Normalised(s) => s,
        }
    }
}

/// One value, and where it was written.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    key: &'static str,
    value: Value,
    origin: Origin,
}

/// Where a value was written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Line(usize),
    Variable(String),
}

/// One problem in a configuration: where, and the sentence that says the
/// fix (the attribute's, for a value an attribute refuses too).
///
/// ```
/// use resilience::config::Config;
///
/// let error = Config::from_toml("[retry.a]\nmax_attempts = 0\n").unwrap_err();
/// let problem = &error.problems()[0];
/// assert_eq!(problem.path, "retry.a.max_attempts");
/// assert_eq!(problem.line, Some(2));
/// assert!(problem.message.contains("at least 1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigProblem {
    /// The key path: `circuit_breaker.payments.failure_threshold`.
    pub path: String,
    /// The line in the file (1-based), if it came from one.
    pub line: Option<usize>,
    /// The environment variable, if it came from one.
    pub variable: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        match (&self.line, &self.variable) {
            (Some(line), _) => write!(f, " (line {line})")?,
            (None, Some(variable)) => write!(f, " (from {variable})")?,
            (None, None) => {}
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem of a configuration, reported together.
///
/// ```
/// use resilience::config::Config;
///
/// let error = Config::from_toml("[retry.a]\nmax_attempts = 0\nbase = \"2x\"\n").unwrap_err();
/// assert_eq!(error.problems().len(), 2);
/// assert!(error.to_string().starts_with("2 problems in the configuration"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    problems: Vec<ConfigProblem>,
}

impl ConfigError {
    /// Each problem, in the order of the file.
    ///
    /// ```
    /// # use resilience::config::Config;
    /// let error = Config::from_toml("[retyr.a]\n").unwrap_err();
    /// assert!(error.problems()[0].message.contains("did you mean `retry`"));
    /// ```
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }

    fn one(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            problems: vec![ConfigProblem {
                path: path.into(),
                line: None,
                variable: None,
                message: message.into(),
            }],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.len() {
            1 => write!(f, "1 problem in the configuration:")?,
            n => write!(f, "{n} problems in the configuration:")?,
        }
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads a configuration from TOML text, checking every value by the
    /// attribute's rules.
    ///
    /// ```
    /// use resilience::config::Config;
    ///
    /// let error = Config::from_toml("[circuit_breaker.a]\nfailure_treshold = 3\n").unwrap_err();
    /// assert!(error.problems()[0].message.contains("did you mean `failure_threshold`"));
    /// ```
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let (config, mut problems) = parse::from_toml(text);
        if let Err(error) = config.check_tables() {
            problems.extend(error.problems);
        }
        if problems.is_empty() {
            return Ok(config);
        }
        // In the order of the file.
        problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        Err(ConfigError { problems })
    }

    /// Reads a configuration from a TOML file.
    ///
    /// ```
    /// use resilience::config::Config;
    ///
    /// let error = Config::from_path("/no/such/resilience.toml").unwrap_err();
    /// assert!(error.problems()[0].message.contains("cannot read"));
    /// ```
    pub fn from_path(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| {
            ConfigError::one(
                path.display().to_string(),
                format!("cannot read the configuration file: {error}"),
            )
        })?;
        Config::from_toml(&text)
    }

    /// Reads the configuration the process's environment holds
    /// (`RESILIENCE_<LAYER>__<NAME>__<KEY>`, see the [module
    /// docs](self)).
    ///
    /// ```
    /// use resilience::config::Config;
    ///
    /// // In a process without such variables: nothing.
    /// # if std::env::vars().all(|(k, _)| !k.starts_with("RESILIENCE_")) {
    /// assert!(Config::from_env().unwrap().is_empty());
    /// # }
    /// ```
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(std::env::vars())
    }

    /// [`from_env`](Self::from_env) from the given variables, e.g. for a
    /// test (variables that do not start with `RESILIENCE_` are ignored).
    ///
    /// ```
    /// use resilience::config::Config;
    ///
    /// let config = Config::from_vars([(
    ///     "RESILIENCE_BULKHEAD__PAYMENTS_EU__MAX_CONCURRENT".to_string(),
    ///     "8".to_string(),
    /// )])
    /// .unwrap();
    /// assert!(!config.is_empty());
    /// ```
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let config = env::from_vars(vars)?;
        config.check_tables()?;
        Ok(config)
    }

    /// The file at `path` overlaid with the environment: what [`watch`]
    /// applies on each change.
    ///
    /// ```no_run
    /// use resilience::config::Config;
    ///
    /// Config::load("resilience.toml")?.apply()?;
    /// # Ok::<(), resilience::config::ConfigError>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let file = Config::from_path(path);
        let env = Config::from_env();
        match (file, env) {
            (Ok(file), Ok(env)) => Ok(file.overlay(env)),
            (Err(a), Err(b)) => Err(ConfigError {
                problems: a.problems.into_iter().chain(b.problems).collect(),
            }),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }

    /// This configuration with `over`'s values on top (they win).
    ///
    /// ```
    /// use resilience::config::Config;
    ///
    /// let file = Config::from_toml("[retry.a]\nmax_attempts = 4\n").unwrap();
    /// let env = Config::from_vars([("RESILIENCE_RETRY__A__MAX_ATTEMPTS".into(), "6".into())]).unwrap();
    /// let both = file.overlay(env);
    /// # let _ = both;
    /// ```
    pub fn overlay(mut self, over: Config) -> Config {
        self.tables.extend(over.tables);
        self
    }

    /// Whether it holds no value at all.
    ///
    /// ```
    /// # use resilience::config::Config;
    /// assert!(Config::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(|t| t.entries.is_empty())
    }

    /// Makes this the configuration in force: reconfigures every named
    /// instance that exists, in place and keeping its state, and governs
    /// every instance created later. With any problem (a value the
    /// instance's attribute makes wrong, a change a running instance
    /// cannot take) nothing changes, and a `tracing` warning says why.
    ///
    /// ```
    /// use resilience::{registry, Bulkhead};
    /// use resilience::config::Config;
    ///
    /// let pool = registry::get_or_register("doc-apply", || Bulkhead::named("doc-apply", 4));
    /// Config::from_toml("[bulkhead.doc-apply]\nmax_concurrent = 16\n").unwrap().apply().unwrap();
    /// assert_eq!(pool.max_concurrent(), 16);
    /// // Without the key, the attribute's value again.
    /// Config::default().apply().unwrap();
    /// assert_eq!(pool.max_concurrent(), 4);
    /// ```
    pub fn apply(&self) -> Result<(), ConfigError> {
        // One apply at a time (a watcher and a caller): the instances end
        // with the configuration that ends in force.
        static APPLYING: Mutex<()> = Mutex::new(());
        let _applying = APPLYING.lock().unwrap_or_else(PoisonError::into_inner);
        // The bases of every instance that exists; the registry's lock is
        // never held with this module's (creation takes them in that order).
        let bases: Vec<((Layer, String), Base)> =
            state().bases.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let mut problems = Vec::new();
        for ((layer, name), base) in &bases {
            problems.extend(self.check_live(*layer, name, base));
        }
        if !problems.is_empty() {
            let error = ConfigError { problems };
            tracing::warn!(target: "resilience::config", %error, "resilience: configuration refused, the one in force stays");
            return Err(error);
        }
        self.warn_unmatched(&bases);
        // From here on, a new instance is created with this configuration;
        // every instance created before is in the list read after it.
        let bases: Vec<((Layer, String), Base)> = {
            let mut state = state();
            state.applied = self.clone();
            state.bases.iter().map(|(k, v)| (k.clone(), *v)).collect()
        };
        for ((layer, name), base) in &bases {
            layers::reconfigure(*layer, name, base, self);
        }
        // The typed event (issue 15) and its `tracing` line: every
        // instance the configuration was applied to, as `layer.name`.
        crate::events::config_reloaded(
            "resilience::config::Config::apply",
            bases
                .iter()
                .map(|((layer, name), _)| format!("{}.{name}", layer.key()))
                .collect(),
        );
        Ok(())
    }

    /// The tables for `layer` that govern `name`, in order (later wins).
    fn tables_for<'a>(&'a self, layer: Layer, name: &'a str) -> impl Iterator<Item = &'a Table> {
        self.tables
            .iter()
            .filter(move |t| t.layer == layer && t.name.matches(name))
    }

    /// Checks each table, against the attribute of the instance it names
    /// when that exists (or each instance its normalised name matches).
    fn check_tables(&self) -> Result<(), ConfigError> {
        let bases: Vec<((Layer, String), Base)> =
            state().bases.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let mut problems = Vec::new();
        for table in &self.tables {
            let mut matched = false;
            for ((layer, name), base) in &bases {
                if *layer == table.layer && table.name.matches(name) {
                    matched = true;
                    problems.extend(layers::problems(
                        table.layer,
                        Some(base),
                        std::slice::from_ref(table),
                        false,
                    ));
                }
            }
            if !matched {
                problems.extend(layers::problems(
                    table.layer,
                    None,
                    std::slice::from_ref(table),
                    false,
                ));
            }
        }
        dedup(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }

    /// The problems of this configuration for the running instance `name`.
    fn check_live(&self, layer: Layer, name: &str, base: &Base) -> Vec<ConfigProblem> {
        let tables: Vec<Table> = self.tables_for(layer, name).cloned().collect();
        if tables.is_empty() {
            return Vec::new();
        }
        layers::problems(layer, Some(base), &tables, true)
    }

    fn warn_unmatched(&self, bases: &[((Layer, String), Base)]) {
        for table in &self.tables {
            let exists = bases
                .iter()
                .any(|((layer, name), _)| *layer == table.layer && table.name.matches(name));
            if exists {
                continue;
            }
            let names = bases
                .iter()
                .filter(|((layer, _), _)| *layer == table.layer)
                .map(|((_, name), _)| name.as_str());
            if let Some(close) = resilience_schema::parse::closest(table.name.as_str(), names) {
                tracing::warn!(
                    target: "resilience::config",
                    "resilience: no {} instance is named `{}` yet (did you mean `{close}`?); its table will govern it once created",
                    table.layer.key(),
                    table.name.as_str()
                );
            }
        }
    }
}

fn dedup(problems: &mut Vec<ConfigProblem>) {
    let mut seen = Vec::new();
    problems.retain(|p| {
        if seen.contains(p) {
            false
        } else {
            seen.push(p.clone());
            true
        }
    });
}

/// The configuration in force, and the attribute's settings of every named
/// instance (what a key the configuration does not mention goes back to).
#[derive(Default)]
struct State {
    applied: Config,
    bases: HashMap<(Layer, String), Base>,
}

fn state() -> MutexGuard<'static, State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    // Every write is a whole assignment or insert: poison leaves it whole.
    STATE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// The registry's hook: a named instance `make` just built (or built to
/// compare with the one registered) as the configuration in force has it.
/// Records the attribute's settings of the first one.
pub(crate) fn govern<T: 'static>(name: &str, instance: T) -> T {
    layers::govern(name, instance)
}
