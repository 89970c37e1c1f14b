//! A fault-injecting TCP proxy, in process, for tests of a real client
//! stack against network faults.
//!
//! [`Proxy::start`] binds a loopback port and forwards every connection
//! accepted there to an upstream address. [`Proxy::inject`] switches a
//! [`Fault`] on until its [`FaultGuard`] drops: latency (fixed or jittered),
//! a bandwidth limit, a black hole, a reset after some bytes, a slow close,
//! a partition of one direction. [`Proxy::refuse_connections`] closes the
//! port. Faults apply to the connections already open as well as to new
//! ones, each to a [`share`](Fault::share) of the connections drawn per
//! connection; [`ProxyBuilder::seed`] makes those draws (and latency
//! jitter) repeatable.
//!
//! Dropping the proxy (or [`Proxy::stop`]) closes the port and every
//! connection and ends every task it started.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use resilience::chaos::proxy::{Fault, Proxy};
//! use std::time::Duration;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! // An upstream that says hello.
//! let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let upstream = server.local_addr()?;
//! tokio::spawn(async move {
//!     while let Ok((mut socket, _)) = server.accept().await {
//!         let _ = socket.write_all(b"hello").await;
//!     }
//! });
//!
//! let proxy = Proxy::start(upstream).await?;
//! let slow = proxy.inject(Fault::latency(Duration::from_millis(20)));
//! let mut client = tokio::net::TcpStream::connect(proxy.addr()).await?;
//! let mut hello = [0; 5];
//! client.read_exact(&mut hello).await?; // 20 ms late
//! assert_eq!(&hello, b"hello");
//! drop(slow); // back to normal
//! assert_eq!(proxy.stats().bytes_downstream, 5);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::rng;

/// The most bytes read from a socket at once.
const CHUNK: usize = 64 * 1024;
/// The most bytes a held direction reads ahead (so it still notices a
/// peer that closes); beyond this the sender's socket buffers fill, as
/// they would behind a partition.
const HOLD_LIMIT: usize = 256 * 1024;
/// How often a rate-limited direction writes: each write carries this
/// share of a second's bytes.
const BANDWIDTH_SLICES: u64 = 20;
/// How long the accept loop waits before trying again when the port could
/// not be bound again after a refusal ended (another socket took it).
const REBIND_RETRY: Duration = Duration::from_millis(50);

/// Which way bytes travel through the proxy.
///
/// ```
/// use resilience::chaos::proxy::{Direction, Fault};
/// // Requests arrive late, responses on time.
/// let fault = Fault::latency(std::time::Duration::from_millis(50)).direction(Direction::Upstream);
/// # let _ = fault;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the client to the upstream (requests).
    Upstream,
    /// From the upstream to the client (responses).
    Downstream,
    /// Both ways.
    Both,
}

impl Direction {
    fn covers(self, one_way: Direction) -> bool {
        self == Direction::Both || self == one_way
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Upstream => "upstream",
            Direction::Downstream => "downstream",
            Direction::Both => "both ways",
        })
    }
}

/// A network fault for [`Proxy::inject`].
///
/// Every fault applies in a [`Direction`] (both ways unless
/// [`direction`](Fault::direction) says otherwise) and to a
/// [`share`](Fault::share) of the connections (all unless told otherwise).
/// When several faults of one kind apply to a connection, the newest wins
/// (bandwidth: the lowest limit); partitions and black holes add up.
///
/// ```
/// use resilience::chaos::proxy::{Direction, Fault};
/// use std::time::Duration;
///
/// // Half of the connections get their responses 100–300 ms late.
/// let fault = Fault::jittered_latency(Duration::from_millis(200), Duration::from_millis(100))
///     .direction(Direction::Downstream)
///     .share(0.5);
/// assert_eq!(fault.get_share(), 0.5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    kind: FaultKind,
    direction: Direction,
    share: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum FaultKind {
    Latency { base: Duration, jitter: Duration },
    Bandwidth { bytes_per_sec: u64 },
    BlackHole,
    ResetAfter { bytes: u64 },
    SlowClose { delay: Duration },
    Partition,
}

impl Fault {
    fn new(kind: FaultKind) -> Fault {
        Fault {
            kind,
            direction: Direction::Both,
            share: 1.0,
        }
    }

    /// Holds every chunk of data for `delay` before forwarding it.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let fault = resilience::chaos::proxy::Fault::latency(Duration::from_millis(100));
    /// # let _ = fault;
    /// ```
    pub fn latency(delay: Duration) -> Fault {
        Fault::jittered_latency(delay, Duration::ZERO)
    }

    /// Holds every chunk of data for a delay drawn uniformly from
    /// `[delay - jitter, delay + jitter]` (from [`rng`], so a
    /// [seed](ProxyBuilder::seed) repeats it).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use resilience::chaos::proxy::Fault;
    /// let fault = Fault::jittered_latency(Duration::from_millis(100), Duration::from_millis(30));
    /// # let _ = fault;
    /// ```
    pub fn jittered_latency(delay: Duration, jitter: Duration) -> Fault {
        Fault::new(FaultKind::Latency {
            base: delay,
            jitter,
        })
    }

    /// Forwards at most `bytes_per_sec` bytes per second (at least 1) in
    /// each direction it applies to.
    ///
    /// ```
    /// // A 1 Mbit/s link.
    /// let fault = resilience::chaos::proxy::Fault::bandwidth(125_000);
    /// # let _ = fault;
    /// ```
    pub fn bandwidth(bytes_per_sec: u64) -> Fault {
        Fault::new(FaultKind::Bandwidth {
            bytes_per_sec: bytes_per_sec.max(1),
        })
    }

    /// Accepts connections and forwards nothing, as a host that is up but
    /// wedged: open connections stall, and a new connection is not even
    /// connected upstream until the black hole ends.
    ///
    /// ```
    /// let fault = resilience::chaos::proxy::Fault::black_hole();
    /// # let _ = fault;
    /// ```
    pub fn black_hole() -> Fault {
        Fault::new(FaultKind::BlackHole)
    }

    /// Resets the connection (a TCP RST to both ends) once `bytes` more
    /// bytes have been forwarded in the fault's direction; nothing past
    /// that count is forwarded. `reset_after(0)` resets as soon as there is
    /// data to forward.
    ///
    /// ```
    /// use resilience::chaos::proxy::{Direction, Fault};
    /// // Cut every response after 100 bytes.
    /// let fault = Fault::reset_after(100).direction(Direction::Downstream);
    /// # let _ = fault;
    /// ```
    pub fn reset_after(bytes: u64) -> Fault {
        Fault::new(FaultKind::ResetAfter { bytes })
    }

    /// Waits `delay` before passing a close (FIN) on to the other end.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let fault = resilience::chaos::proxy::Fault::slow_close(Duration::from_secs(1));
    /// # let _ = fault;
    /// ```
    pub fn slow_close(delay: Duration) -> Fault {
        Fault::new(FaultKind::SlowClose { delay })
    }

    /// Stops forwarding in `direction`, the other way keeps flowing. The
    /// bytes stay in the sockets' buffers, as TCP keeps retransmitting
    /// across a real partition, and arrive when it heals.
    ///
    /// ```
    /// use resilience::chaos::proxy::{Direction, Fault};
    /// // Requests get through, responses never come back.
    /// let fault = Fault::partition(Direction::Downstream);
    /// # let _ = fault;
    /// ```
    pub fn partition(direction: Direction) -> Fault {
        Fault::new(FaultKind::Partition).direction(direction)
    }

    /// Applies the fault in `direction` only.
    ///
    /// ```
    /// use resilience::chaos::proxy::{Direction, Fault};
    /// let fault = Fault::bandwidth(10_000).direction(Direction::Upstream);
    /// assert_eq!(fault.get_direction(), Direction::Upstream);
    /// ```
    pub fn direction(mut self, direction: Direction) -> Fault {
        self.direction = direction;
        self
    }

    /// Applies the fault to this share of the connections (clamped to
    /// `[0, 1]`; NaN is 0), drawn once per connection.
    ///
    /// ```
    /// let fault = resilience::chaos::proxy::Fault::black_hole().share(0.25);
    /// assert_eq!(fault.get_share(), 0.25);
    /// ```
    pub fn share(mut self, share: f64) -> Fault {
        self.share = if share.is_nan() {
            0.0
        } else {
            share.clamp(0.0, 1.0)
        };
        self
    }

    /// The direction the fault applies in.
    ///
    /// ```
    /// use resilience::chaos::proxy::{Direction, Fault};
    /// assert_eq!(Fault::black_hole().get_direction(), Direction::Both);
    /// ```
    pub fn get_direction(&self) -> Direction {
        self.direction
    }

    /// The share of connections the fault applies to.
    ///
    /// ```
    /// assert_eq!(resilience::chaos::proxy::Fault::black_hole().get_share(), 1.0);
    /// ```
    pub fn get_share(&self) -> f64 {
        self.share
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FaultKind::Latency { base, jitter } if jitter.is_zero() => {
                write!(f, "latency {base:?}")?
            }
            FaultKind::Latency { base, jitter } => write!(f, "latency {base:?} ± {jitter:?}")?,
            FaultKind::Bandwidth { bytes_per_sec } => write!(f, "bandwidth {bytes_per_sec} B/s")?,
            FaultKind::BlackHole => f.write_str("black hole")?,
            FaultKind::ResetAfter { bytes } => write!(f, "reset after {bytes} B")?,
            FaultKind::SlowClose { delay } => write!(f, "slow close {delay:?}")?,
            FaultKind::Partition => f.write_str("partition")?,
        }
        if self.direction != Direction::Both {
            write!(f, ", {}", self.direction)?;
        }
        if self.share < 1.0 {
            write!(f, ", {:.0}% of connections", self.share * 100.0)?;
        }
        Ok(())
    }
}

/// The proxy's counters since it started; see [`Proxy::stats`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let proxy = resilience::chaos::proxy::Proxy::start(server.local_addr()?).await?;
/// let before = proxy.stats();
/// // ... traffic ...
/// let during = proxy.stats().since(&before);
/// assert_eq!(during.accepted, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStats {
    /// Connections accepted from clients.
    pub accepted: u64,
    /// Connections open now (accepted and not yet closed).
    pub live: u64,
    /// Connections the proxy opened to the upstream.
    pub upstream_connections: u64,
    /// Bytes forwarded from clients to the upstream (handed to its socket).
    pub bytes_upstream: u64,
    /// Bytes forwarded from the upstream to clients (handed to their sockets).
    pub bytes_downstream: u64,
    /// Connections reset by a [`Fault::reset_after`].
    pub resets: u64,
}

impl ProxyStats {
    /// What changed since `earlier`: every counter as a difference, except
    /// `live`, which stays the current count.
    ///
    /// ```
    /// use resilience::chaos::proxy::ProxyStats;
    /// let zero = ProxyStats::default();
    /// assert_eq!(zero.since(&zero), zero);
    /// ```
    pub fn since(&self, earlier: &ProxyStats) -> ProxyStats {
        ProxyStats {
            accepted: self.accepted.saturating_sub(earlier.accepted),
            live: self.live,
            upstream_connections: self
                .upstream_connections
                .saturating_sub(earlier.upstream_connections),
            bytes_upstream: self.bytes_upstream.saturating_sub(earlier.bytes_upstream),
            bytes_downstream: self
                .bytes_downstream
                .saturating_sub(earlier.bytes_downstream),
            resets: self.resets.saturating_sub(earlier.resets),
        }
    }
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    live: AtomicU64,
    upstream_connections: AtomicU64,
    bytes_upstream: AtomicU64,
    bytes_downstream: AtomicU64,
    resets: AtomicU64,
}

impl Counters {
    fn bytes(&self, direction: Direction) -> &AtomicU64 {
        match direction {
            Direction::Upstream => &self.bytes_upstream,
            _ => &self.bytes_downstream,
        }
    }
}

/// Counts a connection as live until it drops (a cancelled task included).
struct Live(Arc<Shared>);

impl Live {
    fn new(shared: Arc<Shared>) -> Live {
        shared.counters.live.fetch_add(1, Ordering::Relaxed);
        Live(shared)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.counters.live.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Injection {
    id: u64,
    fault: Fault,
}

/// Where the listening socket is: serving, bound again after a refusal
/// (waiting for the accept loop to register it), or closed.
enum Slot {
    Open(TcpListener),
    Bound(std::net::TcpListener),
    Closed,
}

struct Listener {
    slot: Slot,
    refusals: usize,
    stopped: bool,
    accept_waker: Option<Waker>,
}

struct Shared {
    addr: SocketAddr,
    upstream: SocketAddr,
    faults: Mutex<Vec<Injection>>,
    next_id: AtomicU64,
    /// Bumped on every fault change; each direction of each connection
    /// watches it to recompute its effects.
    changes: watch::Sender<u64>,
    listener: Mutex<Listener>,
    counters: Counters,
}

/// Critical sections here are a few field updates that cannot panic half
/// way, so a poisoned lock holds consistent data.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn changed(&self) {
        self.changes.send_modify(|generation| *generation += 1);
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<TcpStream>> {
        let mut listener = lock(&self.listener);
        if !listener
            .accept_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            listener.accept_waker = Some(cx.waker().clone());
        }
        loop {
            match &listener.slot {
                Slot::Open(open) => return open.poll_accept(cx).map_ok(|(stream, _)| stream),
                Slot::Bound(_) => {
                    let Slot::Bound(bound) = std::mem::replace(&mut listener.slot, Slot::Closed)
                    else {
                        unreachable!("matched above");
                    };
                    bound.set_nonblocking(true)?;
                    listener.slot = Slot::Open(TcpListener::from_std(bound)?);
                }
                Slot::Closed if listener.refusals == 0 && !listener.stopped => {
                    // The refusal ended but the port could not be bound
                    // again then; the accept loop retries on a timer.
                    match std::net::TcpListener::bind(self.addr) {
                        Ok(bound) => listener.slot = Slot::Bound(bound),
                        Err(_) => return Poll::Pending,
                    }
                }
                Slot::Closed => return Poll::Pending,
            }
        }
    }

    fn needs_rebind(&self) -> bool {
        let listener = lock(&self.listener);
        matches!(listener.slot, Slot::Closed) && listener.refusals == 0 && !listener.stopped
    }

    fn refuse(&self) {
        let mut listener = lock(&self.listener);
        listener.refusals += 1;
        // Dropping the socket closes the port now: a connect made after
        // `refuse_connections` returns is refused.
        listener.slot = Slot::Closed;
        tracing::info!(proxy = %self.addr, "resilience: chaos proxy refuses connections");
    }

    fn end_refusal(&self) {
        let mut listener = lock(&self.listener);
        listener.refusals -= 1;
        if listener.refusals > 0 || listener.stopped {
            return;
        }
        // Bound here, synchronously, so the port accepts (into the
        // backlog) as soon as the guard has dropped.
        match std::net::TcpListener::bind(self.addr) {
            Ok(bound) => listener.slot = Slot::Bound(bound),
            Err(error) => tracing::warn!(
                proxy = %self.addr, %error,
                "resilience: chaos proxy could not reopen its port; retrying"
            ),
        }
        if let Some(waker) = listener.accept_waker.take() {
            waker.wake();
        }
        tracing::info!(proxy = %self.addr, "resilience: chaos proxy accepts connections again");
    }
}

/// A fault-injecting TCP proxy on a loopback port; see the
/// [module](self) docs.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use resilience::chaos::proxy::Proxy;
/// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let proxy = Proxy::start(server.local_addr()?).await?;
/// let refused = proxy.refuse_connections();
/// let connect = tokio::net::TcpStream::connect(proxy.addr()).await;
/// assert_eq!(connect.unwrap_err().kind(), std::io::ErrorKind::ConnectionRefused);
/// drop(refused);
/// assert!(tokio::net::TcpStream::connect(proxy.addr()).await.is_ok());
/// # Ok(())
/// # }
/// ```
pub struct Proxy {
    shared: Arc<Shared>,
    /// Dropped to stop the accept loop, which then ends every connection.
    stop: watch::Sender<()>,
    task: JoinHandle<()>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.shared.addr)
            .field("upstream", &self.shared.upstream)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Options of a [`Proxy`] before it starts.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// use resilience::chaos::proxy::Proxy;
/// let proxy = Proxy::builder(server.local_addr()?).seed(7).start().await?;
/// # let _ = proxy;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ProxyBuilder {
    upstream: SocketAddr,
    seed: Option<u64>,
}

impl ProxyBuilder {
    /// Draws which connections a fault's [share](Fault::share) takes, and
    /// latency jitter, from [`rng`] seeded per connection from
    /// `seed` and the connection's rank: the same traffic and faults give
    /// the same draws. Without a seed, draws come from the thread's
    /// generator.
    ///
    /// ```
    /// # let upstream: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    /// let builder = resilience::chaos::proxy::Proxy::builder(upstream).seed(42);
    /// # let _ = builder;
    /// ```
    pub fn seed(mut self, seed: u64) -> ProxyBuilder {
        self.seed = Some(seed);
        self
    }

    /// Binds `127.0.0.1:0` and starts forwarding to the upstream.
    ///
    /// # Errors
    ///
    /// When the port cannot be bound.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let proxy = resilience::chaos::proxy::Proxy::builder(server.local_addr()?).start().await?;
    /// assert!(proxy.addr().ip().is_loopback());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start(self) -> io::Result<Proxy> {
        let bound = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = bound.local_addr()?;
        bound.set_nonblocking(true)?;
        let listener = TcpListener::from_std(bound)?;
        let shared = Arc::new(Shared {
            addr,
            upstream: self.upstream,
            faults: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            changes: watch::Sender::new(0),
            listener: Mutex::new(Listener {
                slot: Slot::Open(listener),
                refusals: 0,
                stopped: false,
                accept_waker: None,
            }),
            counters: Counters::default(),
        });
        let (stop, stopped) = watch::channel(());
        let task = tokio::spawn(accept_loop(Arc::clone(&shared), stopped, self.seed));
        tracing::debug!(proxy = %addr, upstream = %self.upstream, "resilience: chaos proxy started");
        Ok(Proxy { shared, stop, task })
    }
}

impl Proxy {
    /// Starts a proxy to `upstream` on `127.0.0.1:0`, without a seed; see
    /// [`ProxyBuilder::start`].
    ///
    /// # Errors
    ///
    /// When the port cannot be bound.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let proxy = resilience::chaos::proxy::Proxy::start(server.local_addr()?).await?;
    /// # let _ = proxy;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start(upstream: SocketAddr) -> io::Result<Proxy> {
        Proxy::builder(upstream).start().await
    }

    /// A proxy to `upstream`, to configure before it starts.
    ///
    /// ```
    /// # let upstream: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    /// let builder = resilience::chaos::proxy::Proxy::builder(upstream);
    /// # let _ = builder;
    /// ```
    pub fn builder(upstream: SocketAddr) -> ProxyBuilder {
        ProxyBuilder {
            upstream,
            seed: None,
        }
    }

    /// The address clients connect to.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let proxy = resilience::chaos::proxy::Proxy::start(server.local_addr()?).await?;
    /// let base_url = format!("http://{}", proxy.addr());
    /// # let _ = base_url;
    /// # Ok(())
    /// # }
    /// ```
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The address the proxy forwards to.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let proxy = resilience::chaos::proxy::Proxy::start(server.local_addr()?).await?;
    /// assert_eq!(proxy.upstream(), server.local_addr()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn upstream(&self) -> SocketAddr {
        self.shared.upstream
    }

    /// Switches `fault` on, for open and new connections, until the guard
    /// drops.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use resilience::chaos::proxy::{Fault, Proxy};
    /// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let proxy = Proxy::start(server.local_addr()?).await?;
    /// {
    ///     let _hole = proxy.inject(Fault::black_hole());
    ///     // ... calls through the proxy time out ...
    /// } // the black hole ends here
    /// # Ok(())
    /// # }
    /// ```
    pub fn inject(&self, fault: Fault) -> FaultGuard {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        tracing::info!(proxy = %self.shared.addr, %fault, "resilience: chaos proxy fault on");
        lock(&self.shared.faults).push(Injection { id, fault });
        self.shared.changed();
        FaultGuard {
            shared: Arc::clone(&self.shared),
            what: Guarded::Fault(id),
        }
    }

    /// Closes the port until the guard drops, so that connects are
    /// refused, as when a replica has died; open connections stay
    /// (connections still waiting in the port's backlog are reset, as the
    /// kernel does when a listening socket closes; add
    /// [`Fault::reset_after`]`(0)` to cut the open ones too). When the last
    /// such guard drops the port is bound again (the same port).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let proxy = resilience::chaos::proxy::Proxy::start(server.local_addr()?).await?;
    /// let _down = proxy.refuse_connections();
    /// assert!(tokio::net::TcpStream::connect(proxy.addr()).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn refuse_connections(&self) -> FaultGuard {
        self.shared.refuse();
        FaultGuard {
            shared: Arc::clone(&self.shared),
            what: Guarded::Refusal,
        }
    }

    /// The counters since the proxy started.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let proxy = resilience::chaos::proxy::Proxy::start(server.local_addr()?).await?;
    /// assert_eq!(proxy.stats().live, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> ProxyStats {
        stats(&self.shared)
    }

    /// Closes the port and every connection, waits until every task of
    /// the proxy has ended, and returns the final counters (`live` is 0).
    /// Dropping the proxy does the same without waiting.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let proxy = resilience::chaos::proxy::Proxy::start(server.local_addr()?).await?;
    /// let addr = proxy.addr();
    /// let last = proxy.stop().await;
    /// assert_eq!(last.live, 0);
    /// assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn stop(self) -> ProxyStats {
        let Proxy {
            shared, stop, task, ..
        } = self;
        drop(stop);
        // The loop only ends by the stop signal; a panic in it is a bug
        // worth seeing.
        if let Err(error) = task.await
            && error.is_panic()
        {
            std::panic::resume_unwind(error.into_panic());
        }
        stats(&shared)
    }
}

fn stats(shared: &Shared) -> ProxyStats {
    let c = &shared.counters;
    ProxyStats {
        accepted: c.accepted.load(Ordering::Relaxed),
        live: c.live.load(Ordering::Relaxed),
        upstream_connections: c.upstream_connections.load(Ordering::Relaxed),
        bytes_upstream: c.bytes_upstream.load(Ordering::Relaxed),
        bytes_downstream: c.bytes_downstream.load(Ordering::Relaxed),
        resets: c.resets.load(Ordering::Relaxed),
    }
}

enum Guarded {
    Fault(u64),
    Refusal,
}

/// Keeps a fault of a [`Proxy`] on; dropping it switches the fault off.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use resilience::chaos::proxy::{Fault, Proxy};
/// # let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let proxy = Proxy::start(server.local_addr()?).await?;
/// let guard = proxy.inject(Fault::reset_after(0));
/// drop(guard); // removed
/// # Ok(())
/// # }
/// ```
#[must_use = "the fault is switched off when the guard drops"]
pub struct FaultGuard {
    shared: Arc<Shared>,
    what: Guarded,
}

impl fmt::Debug for FaultGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("FaultGuard");
        s.field("proxy", &self.shared.addr);
        match self.what {
            Guarded::Fault(id) => s.field("fault", &id),
            Guarded::Refusal => s.field("refusal", &true),
        };
        s.finish()
    }
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        match self.what {
            Guarded::Fault(id) => {
                lock(&self.shared.faults).retain(|i| i.id != id);
                tracing::info!(proxy = %self.shared.addr, "resilience: chaos proxy fault off");
                self.shared.changed();
            }
            Guarded::Refusal => self.shared.end_refusal(),
        }
    }
}

/// SplitMix64: a different, well-mixed seed for each connection.
fn connection_seed(seed: u64, rank: u64) -> u64 {
    let mut z = seed.wrapping_add(rank.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

async fn accept_loop(shared: Arc<Shared>, mut stop: watch::Receiver<()>, seed: Option<u64>) {
    let mut connections = JoinSet::new();
    let mut rank = 0u64;
    loop {
        let rebind = shared.needs_rebind();
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            accepted = poll_fn(|cx| shared.poll_accept(cx)) => match accepted {
                Ok(client) => {
                    rank += 1;
                    shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
                    let live = Live::new(Arc::clone(&shared));
                    match seed {
                        Some(seed) => connections
                            .spawn(rng::with_seed(connection_seed(seed, rank), serve(live, client))),
                        None => connections.spawn(serve(live, client)),
                    };
                }
                Err(error) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(proxy = %shared.addr, %error, "resilience: chaos proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = tokio::time::sleep(REBIND_RETRY), if rebind => {}
        }
    }
    {
        let mut listener = lock(&shared.listener);
        listener.stopped = true;
        listener.slot = Slot::Closed;
    }
    connections.shutdown().await;
    tracing::debug!(proxy = %shared.addr, "resilience: chaos proxy stopped");
}

/// What the faults that reach one direction of one connection do to it.
#[derive(Debug, Clone, Copy, Default)]
struct Effects {
    hold: bool,
    /// A black hole reaches the connection: do not connect upstream yet.
    withhold_connect: bool,
    latency: Option<(Duration, Duration)>,
    bandwidth: Option<u64>,
    reset_after: Option<(u64, u64)>,
    slow_close: Option<Duration>,
}

#[derive(Default)]
struct ConnState {
    /// Per injection id: whether its share drew this connection.
    draws: Vec<(u64, bool)>,
    /// Per reset injection id: bytes forwarded since it reached us.
    forwarded: Vec<(u64, u64)>,
}

struct Conn {
    shared: Arc<Shared>,
    state: Mutex<ConnState>,
}

impl Conn {
    fn effects(&self, direction: Direction) -> Effects {
        let faults = lock(&self.shared.faults);
        let mut state = lock(&self.state);
        state
            .draws
            .retain(|(id, _)| faults.iter().any(|i| i.id == *id));
        let mut effects = Effects::default();
        for injection in faults.iter() {
            let drawn = match state.draws.iter().find(|(id, _)| *id == injection.id) {
                Some(&(_, drawn)) => drawn,
                None => {
                    let drawn = rng::chance(injection.fault.share);
                    state.draws.push((injection.id, drawn));
                    drawn
                }
            };
            if !drawn {
                continue;
            }
            let fault = injection.fault;
            if fault.kind == FaultKind::BlackHole {
                effects.withhold_connect = true;
            }
            if !fault.direction.covers(direction) {
                continue;
            }
            match fault.kind {
                FaultKind::BlackHole | FaultKind::Partition => effects.hold = true,
                FaultKind::Latency { base, jitter } => effects.latency = Some((base, jitter)),
                FaultKind::Bandwidth { bytes_per_sec } => {
                    effects.bandwidth = Some(
                        effects
                            .bandwidth
                            .map_or(bytes_per_sec, |b| b.min(bytes_per_sec)),
                    );
                }
                FaultKind::ResetAfter { bytes } => {
                    effects.reset_after = Some((injection.id, bytes))
                }
                FaultKind::SlowClose { delay } => effects.slow_close = Some(delay),
            }
        }
        effects
    }

    /// Bytes that may still pass before the reset injection `id` fires.
    fn reset_budget(&self, id: u64, limit: u64) -> u64 {
        let state = lock(&self.state);
        let used = state
            .forwarded
            .iter()
            .find(|(i, _)| *i == id)
            .map_or(0, |&(_, n)| n);
        limit.saturating_sub(used)
    }

    /// Counts `bytes` against the reset injection `id`; `true` when it fires.
    fn count_towards_reset(&self, id: u64, limit: u64, bytes: u64) -> bool {
        let mut state = lock(&self.state);
        let used = match state.forwarded.iter_mut().find(|(i, _)| *i == id) {
            Some((_, n)) => {
                *n += bytes;
                *n
            }
            None => {
                state.forwarded.push((id, bytes));
                bytes
            }
        };
        used >= limit
    }
}

/// One direction's view of the faults, recomputed when they change.
struct View {
    direction: Direction,
    changes: watch::Receiver<u64>,
    dirty: bool,
    effects: Effects,
}

impl View {
    fn new(conn: &Conn, direction: Direction) -> View {
        let mut changes = conn.shared.changes.subscribe();
        changes.mark_unchanged();
        View {
            direction,
            changes,
            dirty: false,
            effects: conn.effects(direction),
        }
    }

    fn current(&mut self, conn: &Conn) -> Effects {
        if self.dirty || self.changes.has_changed().unwrap_or(false) {
            self.changes.mark_unchanged();
            self.dirty = false;
            self.effects = conn.effects(self.direction);
        }
        self.effects
    }

    /// Resolves when the faults change. Cancel safe.
    async fn changed(&mut self) {
        if self.changes.changed().await.is_err() {
            // The sender lives in `Shared`, which this connection holds.
            std::future::pending::<()>().await;
        }
        self.dirty = true;
    }
}

/// Bytes read from one side and not yet forwarded to the other.
#[derive(Default)]
struct Held {
    bytes: Vec<u8>,
    start: usize,
    eof: bool,
    /// When the oldest held bytes were read (latency counts from there).
    read_at: Option<Instant>,
}

impl Held {
    fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads what `src` has (at most a chunk) after the held bytes; cancel
    /// safe. At the end of the stream, sets `eof`.
    async fn read_from(&mut self, src: &mut OwnedReadHalf) -> io::Result<()> {
        let was_empty = self.is_empty();
        if was_empty {
            self.bytes.clear();
            self.start = 0;
        }
        self.bytes.reserve(CHUNK);
        let n = src.read_buf(&mut self.bytes).await?;
        if n == 0 {
            self.eof = true;
        } else if was_empty {
            self.read_at = Some(Instant::now());
        }
        Ok(())
    }

    fn front(&self, n: usize) -> &[u8] {
        &self.bytes[self.start..self.start + n]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.is_empty() {
            self.read_at = None;
        }
    }

    fn can_read(&self) -> bool {
        !self.eof && self.len() < HOLD_LIMIT
    }
}

/// Why a direction stopped before its source closed.
enum End {
    /// A socket failed (its peer reset, or went away): close both.
    Broken,
    /// A reset fault fired: reset both.
    Reset,
}

async fn serve(live: Live, client: TcpStream) {
    let conn = Conn {
        shared: Arc::clone(&live.0),
        state: Mutex::default(),
    };
    let _ = client.set_nodelay(true);
    let mut to_upstream = View::new(&conn, Direction::Upstream);
    let mut to_client = View::new(&conn, Direction::Downstream);
    let (mut client_read, mut client_write) = client.into_split();

    // A black hole accepts and does not connect upstream. Keep reading a
    // little, to notice a client that gives up: then there is no one to
    // deliver an answer to, and the request is dropped with the
    // connection.
    let mut request = Held::default();
    while to_upstream.current(&conn).withhold_connect {
        if request.eof {
            return;
        }
        let can_read = request.can_read();
        tokio::select! {
            () = to_upstream.changed() => {}
            read = request.read_from(&mut client_read), if can_read => {
                if read.is_err() {
                    return;
                }
            }
        }
    }

    let upstream = match TcpStream::connect(conn.shared.upstream).await {
        Ok(upstream) => upstream,
        Err(error) => {
            tracing::debug!(upstream = %conn.shared.upstream, %error, "resilience: chaos proxy cannot reach upstream");
            return;
        }
    };
    conn.shared
        .counters
        .upstream_connections
        .fetch_add(1, Ordering::Relaxed);
    let _ = upstream.set_nodelay(true);
    let (mut upstream_read, mut upstream_write) = upstream.into_split();

    let ended = tokio::try_join!(
        pump(
            &conn,
            &mut to_upstream,
            &mut client_read,
            &mut upstream_write,
            request,
        ),
        pump(
            &conn,
            &mut to_client,
            &mut upstream_read,
            &mut client_write,
            Held::default(),
        ),
    );
    if let Err(End::Reset) = ended {
        conn.shared.counters.resets.fetch_add(1, Ordering::Relaxed);
        reset(client_read.reunite(client_write));
        reset(upstream_read.reunite(upstream_write));
    }
    // Otherwise the halves drop here: the write halves send FIN.
}

fn reset(stream: Result<TcpStream, tokio::net::tcp::ReuniteError>) {
    if let Ok(stream) = stream {
        // `SO_LINGER` 0 makes the close send RST. It blocks nothing: only
        // a positive linger makes `close` wait, which is why tokio
        // deprecated the general setter.
        #[allow(deprecated)]
        let _ = stream.set_linger(Some(Duration::ZERO));
    }
}

/// Forwards `src` to `dst` under the faults `view` sees, until `src`
/// closes (then closes `dst`'s writing side) or something breaks.
async fn pump(
    conn: &Conn,
    view: &mut View,
    src: &mut OwnedReadHalf,
    dst: &mut OwnedWriteHalf,
    mut held: Held,
) -> Result<(), End> {
    let counter = conn.shared.counters.bytes(view.direction);
    loop {
        let effects = view.current(conn);
        // A close crosses a partition no more than data does.
        if held.is_empty() && held.eof && !effects.hold {
            if let Some(delay) = effects.slow_close {
                tokio::time::sleep(delay).await;
            }
            let _ = dst.shutdown().await;
            return Ok(());
        }
        if effects.hold || held.is_empty() {
            // Held (wait for the faults to change), or nothing to forward
            // and still open (read): one branch is always enabled.
            let can_read = held.can_read();
            tokio::select! {
                read = held.read_from(src), if can_read => {
                    if read.is_err() {
                        return Err(End::Broken);
                    }
                }
                () = view.changed(), if effects.hold => {}
            }
            continue;
        }

        if let Some((base, jitter)) = effects.latency {
            let delay = rng::uniform(base.saturating_sub(jitter), base.saturating_add(jitter));
            let due = held.read_at.unwrap_or_else(Instant::now) + delay;
            if due > Instant::now() {
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    // Re-read the faults: the latency may be gone, or a
                    // partition may have started.
                    () = view.changed() => continue,
                }
            }
        }

        let mut take = held.len().min(CHUNK);
        if let Some(rate) = effects.bandwidth {
            let slice = (rate / BANDWIDTH_SLICES).max(1);
            take = take.min(usize::try_from(slice).unwrap_or(usize::MAX));
        }
        if let Some((id, limit)) = effects.reset_after {
            let budget = conn.reset_budget(id, limit);
            take = take.min(usize::try_from(budget).unwrap_or(usize::MAX));
        }
        if take > 0 {
            // Counted first, so that a peer that has received bytes always
            // finds them counted.
            counter.fetch_add(take as u64, Ordering::Relaxed);
            if dst.write_all(held.front(take)).await.is_err() {
                return Err(End::Broken);
            }
            held.consume(take);
        }
        if let Some((id, limit)) = effects.reset_after
            && conn.count_towards_reset(id, limit, take as u64)
        {
            return Err(End::Reset);
        }
        if let Some(rate) = effects.bandwidth {
            let pause = Duration::from_secs_f64(take as f64 / rate as f64);
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = view.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::connection_seed;

    /// SplitMix64's published outputs: the generator seeded with 0 and
    /// with 1234567, first outputs in order (rank 1, 2, 3).
    #[test]
    fn connection_seeds_are_splitmix64() {
        let from_zero: Vec<u64> = (1..=3).map(|rank| connection_seed(0, rank)).collect();
        assert_eq!(
            from_zero,
            [
                0xE220_A839_7B1D_CDAF,
                0x6E78_9E6A_A1B9_65F4,
                0x06C4_5D18_8009_454F
            ]
        );
        assert_eq!(connection_seed(1_234_567, 1), 6_457_827_717_110_365_317);
        assert_eq!(connection_seed(1_234_567, 2), 3_203_168_211_198_807_973);
    }
}
