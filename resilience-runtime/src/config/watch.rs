//! [`watch`]: re-apply a file (and the environment) when it changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

use super::{Config, ConfigError};

/// How long the file must stay quiet after a change before it is read: an
/// editor's save is often several events (truncate, write, rename).
const QUIET: Duration = Duration::from_millis(100);
/// The longest a reload waits for quiet: a file written without pause is
/// still read this often.
const AT_MOST: Duration = Duration::from_secs(1);

/// A running [`watch`]; dropping it stops watching (the configuration in
/// force stays).
///
/// ```no_run
/// let watcher = resilience::config::watch("resilience.toml")?;
/// // … serve; every save of the file is applied …
/// drop(watcher);
/// # Ok::<(), resilience::config::ConfigError>(())
/// ```
#[must_use = "dropping the watcher stops watching"]
pub struct Watcher {
    watcher: Option<RecommendedWatcher>,
    thread: Option<JoinHandle<()>>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    applied: AtomicU64,
    refused: AtomicU64,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("reloads", &self.reloads())
            .field("refused", &self.refused())
            .finish()
    }
}

impl Watcher {
    /// Changes applied since the watch began (the first load not counted).
    ///
    /// ```no_run
    /// let watcher = resilience::config::watch("resilience.toml")?;
    /// assert_eq!(watcher.reloads(), 0);
    /// # Ok::<(), resilience::config::ConfigError>(())
    /// ```
    pub fn reloads(&self) -> u64 {
        self.counts.applied.load(Ordering::Acquire)
    }

    /// Changes refused (a file with a problem: the configuration in force
    /// stayed, and a `tracing` warning said why).
    ///
    /// ```no_run
    /// let watcher = resilience::config::watch("resilience.toml")?;
    /// assert_eq!(watcher.refused(), 0);
    /// # Ok::<(), resilience::config::ConfigError>(())
    /// ```
    pub fn refused(&self) -> u64 {
        self.counts.refused.load(Ordering::Acquire)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // Dropping the `notify` watcher closes the channel, which ends the
        // thread at its next receive (at most `QUIET` away).
        drop(self.watcher.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Applies the file at `path`, overlaid with the environment
/// ([`Config::load`]), then again each time the file changes (debounced:
/// once it has been quiet for 100 ms, at most a second after the first
/// change). A change with a problem is refused whole with a `tracing`
/// warning, and the configuration in force stays. The first load's
/// problems are returned.
///
/// The directory is watched, not the file, so that an editor's save by
/// rename (and a Kubernetes ConfigMap's symlink swap) is seen.
///
/// ```no_run
/// let _watcher = resilience::config::watch("resilience.toml")?;
/// # Ok::<(), resilience::config::ConfigError>(())
/// ```
pub fn watch(path: impl AsRef<Path>) -> Result<Watcher, ConfigError> {
    let path = path.as_ref().to_path_buf();
    Config::load(&path)?.apply()?;
    let (sender, events) = channel();
    let fail = |error: notify::Error| {
        ConfigError::one(
            path.display().to_string(),
            format!("cannot watch the configuration file: {error}"),
        )
    };
    let mut watcher = notify::recommended_watcher(sender).map_err(fail)?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    watcher
        .watch(&directory, RecursiveMode::NonRecursive)
        .map_err(fail)?;
    let counts = Arc::new(Counts::default());
    let thread = std::thread::Builder::new()
        .name("resilience-config-watch".into())
        .spawn({
            let counts = Arc::clone(&counts);
            move || run(&path, &events, &counts)
        })
        .map_err(|error| {
            ConfigError::one(
                "watch",
                format!("cannot start the watching thread: {error}"),
            )
        })?;
    Ok(Watcher {
        watcher: Some(watcher),
        thread: Some(thread),
        counts,
    })
}

fn run(path: &Path, events: &Receiver<notify::Result<notify::Event>>, counts: &Counts) {
    let name = path.file_name();
    let concerns = |event: &notify::Result<notify::Event>| match event {
        Ok(event) => event.paths.iter().any(|p| p.file_name() == name),
        Err(_) => true,
    };
    loop {
        match events.recv() {
            Ok(event) if concerns(&event) => {}
            Ok(_) => continue,
            Err(_) => return,
        }
        let first = Instant::now();
        loop {
            match events.recv_timeout(QUIET) {
                Ok(_) if first.elapsed() < AT_MOST => continue,
                Ok(_) | Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        match Config::load(path).and_then(|config| config.apply()) {
            Ok(()) => {
                counts.applied.fetch_add(1, Ordering::Release);
            }
            Err(error) => {
                counts.refused.fetch_add(1, Ordering::Release);
                tracing::warn!(target: "resilience::config", path = %path.display(), %error, "resilience: changed configuration refused, the one in force stays");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    /// A file of its own in a directory of its own.
    fn file(test: &str, text: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("resilience-watch-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("resilience.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn changed(path: &Path) -> notify::Result<notify::Event> {
        Ok(notify::Event::new(notify::EventKind::Any).add_path(path.to_path_buf()))
    }

    /// Waits, boundedly, until `done`.
    fn wait_for(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `run` on its own thread, on `events`; a `Watcher` over it.
    fn watching(path: &Path, events: Receiver<notify::Result<notify::Event>>) -> Watcher {
        let counts = Arc::new(Counts::default());
        let thread = std::thread::spawn({
            let (path, counts) = (path.to_path_buf(), Arc::clone(&counts));
            move || run(&path, &events, &counts)
        });
        Watcher {
            watcher: None,
            thread: Some(thread),
            counts,
        }
    }

    /// The events of one save, however many, are one reload; each
    /// change is counted once, applied or refused.
    #[test]
    fn a_save_is_one_reload_and_each_change_counts_once() {
        let path = file("counts", "");
        let (first, events) = channel();
        // One save's events, all there before the watcher reads the first.
        for _ in 0..5 {
            first.send(changed(&path)).unwrap();
        }
        let watcher = watching(&path, events);
        // Declared after the watcher, so dropped before it if an assertion
        // fails: the watcher's drop waits for the thread, which ends when
        // the channel closes.
        let sender = first;
        wait_for("the reload", || watcher.reloads() >= 1);
        sender.send(changed(&path)).unwrap();
        wait_for("the second reload", || watcher.reloads() >= 2);

        std::fs::write(&path, "[retry.watch-unit]\nmax_attempts = 0\n").unwrap();
        sender.send(changed(&path)).unwrap();
        wait_for("the refusal", || watcher.refused() >= 1);
        sender.send(changed(&path)).unwrap();
        wait_for("the second refusal", || watcher.refused() >= 2);
        drop(sender);
        let (reloads, refused) = (watcher.reloads(), watcher.refused());
        drop(watcher);
        assert_eq!((reloads, refused), (2, 2));
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// Dropping the watcher waits for its thread: nothing of it runs
    /// after the drop.
    #[test]
    fn dropping_the_watcher_waits_for_its_thread() {
        let finished = Arc::new(AtomicBool::new(false));
        let watcher = Watcher {
            watcher: None,
            thread: Some(std::thread::spawn({
                let finished = Arc::clone(&finished);
                move || {
                    std::thread::sleep(Duration::from_millis(50));
                    finished.store(true, Ordering::Release);
                }
            })),
            counts: Arc::default(),
        };
        drop(watcher);
        assert!(finished.load(Ordering::Acquire));
    }

    /// A bare file name is watched in the current directory.
    #[test]
    fn a_bare_file_name_is_watched_in_the_current_directory() {
        let name = format!("resilience-watch-bare-{}.toml", std::process::id());
        std::fs::write(&name, "").unwrap();
        let watched = watch(&name);
        std::fs::remove_file(&name).unwrap();
        assert!(watched.is_ok(), "{:?}", watched.err());
    }
}
