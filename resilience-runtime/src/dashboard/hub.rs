//! The shared periodic snapshot behind every open page: one task per
//! router, one registry walk and one serialization per frame, handed to
//! each connection through a `watch` slot (latest frame only).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::frame::{self, Recent};
use crate::events;

/// One frame: the JSON text, shared by every connection.
pub(crate) type Frame = Arc<str>;

pub(crate) struct Hub {
    every: Duration,
    started: Instant,
    /// The latest frame; `None` until the first one is built.
    latest: watch::Sender<Option<Frame>>,
    /// The snapshot task, while a page is open.
    ticker: Mutex<Option<JoinHandle<()>>>,
    /// The last few events of each instance.
    recent: Mutex<Recent>,
    /// Frames built, for the tests and the frame's `seq`.
    built: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each write under these locks is one assignment or one ring push.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hub {
    pub(crate) fn new(every: Duration) -> Hub {
        Hub {
            every,
            started: Instant::now(),
            latest: watch::Sender::new(None),
            ticker: Mutex::new(None),
            recent: Mutex::new(Recent::default()),
            built: AtomicU64::new(0),
        }
    }

    /// A receiver of the latest frame, for one connection; starts the
    /// snapshot task if it is not running.
    pub(crate) fn watch(self: &Arc<Self>) -> watch::Receiver<Option<Frame>> {
        // Subscribe before looking at the task: a task about to stop checks
        // the receiver count under the same lock, so it sees this one.
        let receiver = self.latest.subscribe();
        let mut ticker = lock(&self.ticker);
        if ticker.as_ref().is_none_or(JoinHandle::is_finished) {
            *ticker = Some(tokio::spawn(Arc::clone(self).run()));
        }
        receiver
    }

    async fn run(self: Arc<Self>) {
        let mut events = events::subscribe();
        let mut every = tokio::time::interval(self.every);
        every.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            {
                let mut ticker = lock(&self.ticker);
                if self.latest.receiver_count() == 0 {
                    // The last page closed: stop, and drop the event queue
                    // so calls go back to paying one atomic load.
                    *ticker = None;
                    return;
                }
            }
            lock(&self.recent).absorb(events.drain(), events.lagged());
            let frame = self.frame_now();
            // Never waits: a connection that has not read the last frame
            // gets this one instead.
            self.latest.send_replace(Some(frame));
        }
    }

    /// A frame of every instance now (the stream's frames and
    /// `snapshot.json`).
    pub(crate) fn frame_now(&self) -> Frame {
        let seq = self.built.fetch_add(1, Ordering::Relaxed) + 1;
        let elapsed = Instant::now().duration_since(self.started);
        frame::build(seq, elapsed, &lock(&self.recent)).into()
    }

    /// Frames built so far.
    #[cfg(test)]
    pub(crate) fn built(&self) -> u64 {
        self.built.load(Ordering::Relaxed)
    }

    /// Whether the snapshot task runs.
    #[cfg(test)]
    pub(crate) fn ticking(&self) -> bool {
        lock(&self.ticker)
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }
}
