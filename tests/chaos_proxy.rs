//! The fault-injecting proxy over loopback: each fault measured on the wire
//! (bytes forwarded, time to first byte, resets and refusals the client
//! sees), a real reqwest client with the full stack riding a fault out, the
//! experiment runner's numbers checked against what the test saw, and no
//! socket or task left behind.
//!
//! Real sockets mean real time: latencies are asserted as lower bounds only
//! (at least the injected delay), never as speed.

#![cfg(feature = "chaos")]

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use resilience::chaos::proxy::{Direction, Fault, Proxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, timeout};

const MS: fn(u64) -> Duration = Duration::from_millis;
/// Long enough that a forwarded byte would have arrived on loopback.
const QUIET: Duration = Duration::from_millis(300);

/// Connections an upstream server has seen open and closed.
#[derive(Default)]
struct Seen {
    opened: AtomicU64,
    closed: AtomicU64,
}

impl Seen {
    fn open_now(&self) -> u64 {
        self.opened.load(Ordering::SeqCst) - self.closed.load(Ordering::SeqCst)
    }
}

/// An echo server that counts its connections.
async fn echo_server() -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let counts = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counts.opened.fetch_add(1, Ordering::SeqCst);
            let counts = Arc::clone(&counts);
            tokio::spawn(async move {
                let (mut read, mut write) = socket.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
                counts.closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    (addr, seen)
}

/// A server that writes `payload` to each connection, then closes it; with
/// `on_request`, only after the client has sent a byte.
async fn sending_server(payload: Vec<u8>) -> SocketAddr {
    server_of(payload, false).await
}

async fn server_of(payload: Vec<u8>, on_request: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let payload = Arc::new(payload);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let payload = Arc::clone(&payload);
            tokio::spawn(async move {
                if on_request {
                    let _ = socket.read_u8().await;
                }
                let _ = socket.write_all(&payload).await;
            });
        }
    });
    addr
}

async fn ping(client: &mut TcpStream, message: &[u8]) -> std::io::Result<Vec<u8>> {
    client.write_all(message).await?;
    let mut back = vec![0; message.len()];
    client.read_exact(&mut back).await?;
    Ok(back)
}

/// Polls `condition` until it holds, for at most 5 s.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(MS(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_both_ways_and_counts_bytes() {
    let (upstream, seen) = echo_server().await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let message: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let back = ping(&mut client, &message).await.unwrap();
    assert_eq!(back, message);
    let stats = proxy.stats();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.upstream_connections, 1);
    assert_eq!(stats.bytes_upstream, 100_000);
    assert_eq!(stats.bytes_downstream, 100_000);
    assert_eq!(stats.live, 1);
    drop(client);
    eventually("the proxy closes the connection", || {
        proxy.stats().live == 0
    })
    .await;
    eventually("the upstream sees it closed", || seen.open_now() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_delays_the_first_byte_by_at_least_the_fault() {
    let (upstream, _) = echo_server().await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    // Responses only, on a connection already open.
    let _slow = proxy.inject(Fault::latency(MS(150)).direction(Direction::Downstream));
    let sent = Instant::now();
    assert_eq!(ping(&mut client, b"hi").await.unwrap(), b"hi");
    let first_byte = sent.elapsed();
    assert!(
        first_byte >= MS(150),
        "first byte after {first_byte:?}, under the injected 150 ms"
    );

    // Jitter stays within its bounds: never under base - jitter.
    let _jittered =
        proxy.inject(Fault::jittered_latency(MS(120), MS(40)).direction(Direction::Upstream));
    let sent = Instant::now();
    assert_eq!(ping(&mut client, b"yo").await.unwrap(), b"yo");
    // Upstream 80..160 ms, then downstream 150 ms (the newest latency
    // fault for each direction applies).
    assert!(sent.elapsed() >= MS(80 + 150), "{:?}", sent.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_limits_bytes_per_second() {
    let upstream = sending_server(vec![7; 10_000]).await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let _narrow = proxy.inject(Fault::bandwidth(20_000));
    let started = Instant::now();
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut all = Vec::new();
    client.read_to_end(&mut all).await.unwrap();
    assert_eq!(all.len(), 10_000);
    // 10 kB at 20 kB/s: half a second, less the first 1/20 s slice.
    let took = started.elapsed();
    assert!(took >= MS(450), "10 kB at 20 kB/s took only {took:?}");
    assert_eq!(proxy.stats().bytes_downstream, 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_hole_accepts_and_forwards_nothing_until_it_ends() {
    let (upstream, seen) = echo_server().await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let hole = proxy.inject(Fault::black_hole());
    let mut client = TcpStream::connect(proxy.addr()).await.expect("accepted");
    client.write_all(b"anyone?").await.unwrap();
    let mut buf = [0; 7];
    assert!(
        timeout(QUIET, client.read_exact(&mut buf)).await.is_err(),
        "a black hole answers nothing"
    );
    let stats = proxy.stats();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.upstream_connections, 0, "not even connected upstream");
    assert_eq!(stats.bytes_upstream, 0);
    assert_eq!(seen.opened.load(Ordering::SeqCst), 0);

    // The bytes were held, not lost: they arrive when the hole ends.
    drop(hole);
    timeout(Duration::from_secs(5), client.read_exact(&mut buf))
        .await
        .expect("answered once the hole ends")
        .unwrap();
    assert_eq!(&buf, b"anyone?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn black_hole_stalls_a_connection_already_open() {
    let (upstream, _) = echo_server().await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(ping(&mut client, b"one").await.unwrap(), b"one");
    let before = proxy.stats();
    let hole = proxy.inject(Fault::black_hole());
    assert!(timeout(QUIET, ping(&mut client, b"two")).await.is_err());
    assert_eq!(proxy.stats().since(&before).bytes_upstream, 0);
    drop(hole);
    let mut buf = [0; 3];
    timeout(Duration::from_secs(5), client.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_after_n_bytes_sends_rst_to_the_client() {
    // The server answers a request, so the client is reading by then.
    let upstream = server_of(vec![1; 100_000], true).await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let _cut = proxy.inject(Fault::reset_after(1_000).direction(Direction::Downstream));
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    client.write_u8(b'?').await.unwrap();
    let mut received = 0;
    let mut buf = vec![0; 4096];
    let end = loop {
        match client.read(&mut buf).await {
            Ok(0) => break ErrorKind::UnexpectedEof,
            Ok(n) => received += n,
            Err(e) => break e.kind(),
        }
    };
    // An RST, not a FIN: the client's read fails rather than ending.
    assert_eq!(end, ErrorKind::ConnectionReset, "the client sees the reset");
    assert!(received <= 1_000, "nothing past the limit: {received}");
    let stats = proxy.stats();
    assert_eq!(stats.bytes_downstream, 1_000, "exactly the limit forwarded");
    assert_eq!(stats.resets, 1);
    eventually("the reset connection is gone", || proxy.stats().live == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_then_the_same_port_again() {
    let (upstream, _) = echo_server().await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
    // Accepted first: closing the port resets connections still in its
    // backlog, as the kernel does.
    eventually("accepted", || proxy.stats().accepted == 1).await;
    let down = proxy.refuse_connections();
    let refused = TcpStream::connect(proxy.addr()).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    // Connections open before the port closed keep working.
    assert_eq!(ping(&mut open, b"still").await.unwrap(), b"still");
    drop(down);
    let mut again = TcpStream::connect(proxy.addr())
        .await
        .expect("the port is back");
    assert_eq!(ping(&mut again, b"back").await.unwrap(), b"back");
    assert_eq!(proxy.stats().accepted, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_holds_the_fin() {
    let upstream = sending_server(b"bye".to_vec()).await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let _lingering = proxy.inject(Fault::slow_close(MS(250)));
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut buf = [0; 3];
    client.read_exact(&mut buf).await.unwrap();
    let data_at = Instant::now();
    assert_eq!(client.read(&mut buf).await.unwrap(), 0, "then the close");
    assert!(
        data_at.elapsed() >= MS(200),
        "closed after {:?}",
        data_at.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_drops_one_direction_only() {
    let (upstream, _) = echo_server().await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(ping(&mut client, b"a").await.unwrap(), b"a");
    let before = proxy.stats();
    let cut = proxy.inject(Fault::partition(Direction::Downstream));
    // The request gets through and is echoed; the echo does not come back.
    assert!(timeout(QUIET, ping(&mut client, b"bc")).await.is_err());
    let during = proxy.stats().since(&before);
    assert_eq!(during.bytes_upstream, 2, "requests flow");
    assert_eq!(during.bytes_downstream, 0, "responses do not");
    drop(cut);
    let mut buf = [0; 2];
    timeout(Duration::from_secs(5), client.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"bc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_does_not_cross_a_partition() {
    let (upstream, seen) = echo_server().await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(ping(&mut client, b"a").await.unwrap(), b"a");
    let cut = proxy.inject(Fault::partition(Direction::Upstream));
    client.shutdown().await.unwrap();
    tokio::time::sleep(QUIET).await;
    assert_eq!(seen.closed.load(Ordering::SeqCst), 0, "the FIN is held");
    drop(cut);
    eventually("the FIN arrives once healed", || {
        seen.closed.load(Ordering::SeqCst) == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_of_connections_drawn_the_same_for_the_same_seed() {
    async fn pattern(seed: u64) -> Vec<bool> {
        let (upstream, _) = echo_server().await;
        let proxy = Proxy::builder(upstream).seed(seed).start().await.unwrap();
        let _half = proxy.inject(Fault::black_hole().share(0.5));
        // Connect one at a time so the proxy ranks them in this order.
        let mut clients = Vec::new();
        for _ in 0..16 {
            let rank = proxy.stats().accepted;
            let client = TcpStream::connect(proxy.addr()).await.unwrap();
            eventually("accepted", || proxy.stats().accepted > rank).await;
            clients.push(client);
        }
        let answered: Vec<_> = clients
            .into_iter()
            .map(|mut client| {
                tokio::spawn(async move { timeout(QUIET, ping(&mut client, b"x")).await.is_ok() })
            })
            .collect();
        let mut out = Vec::new();
        for a in answered {
            out.push(a.await.unwrap());
        }
        out
    }
    let first = pattern(11).await;
    let second = pattern(11).await;
    assert_eq!(first, second, "same seed, same connections in the hole");
    assert!(first.contains(&true) && first.contains(&false), "{first:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_changing_mid_stream_leak_nothing() {
    let (upstream, seen) = echo_server().await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(ping(&mut client, b"up").await.unwrap(), b"up");
        clients.push(client);
    }
    // Flip every fault on and off while the clients keep talking.
    let faults = [
        Fault::latency(MS(20)),
        Fault::bandwidth(1_000),
        Fault::partition(Direction::Upstream),
        Fault::black_hole(),
        Fault::slow_close(MS(20)),
    ];
    for round in 0..3 {
        for fault in faults {
            let guard = proxy.inject(fault);
            for client in &mut clients {
                let _ = timeout(MS(10), client.write_all(&[round; 64])).await;
            }
            tokio::time::sleep(MS(10)).await;
            drop(guard);
        }
    }
    // Everything written comes back once the faults are gone.
    for client in &mut clients {
        let mut back = vec![0; 64 * 3 * faults.len()];
        timeout(Duration::from_secs(5), client.read_exact(&mut back))
            .await
            .expect("nothing wedged")
            .unwrap();
    }
    drop(clients);
    eventually("every proxied connection closed", || {
        proxy.stats().live == 0
    })
    .await;
    eventually("the upstream sees every connection closed", || {
        seen.open_now() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_proxy_closes_every_socket_and_task() {
    let (upstream, seen) = echo_server().await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let tasks_before = metrics.num_alive_tasks();
    let proxy = Proxy::start(upstream).await.unwrap();
    let addr = proxy.addr();
    let mut flowing = TcpStream::connect(addr).await.unwrap();
    assert_eq!(ping(&mut flowing, b"1").await.unwrap(), b"1");
    let _partition = proxy.inject(Fault::partition(Direction::Both));
    let mut held = TcpStream::connect(addr).await.unwrap();
    held.write_all(b"held").await.unwrap();
    eventually("two reach the upstream", || seen.open_now() == 2).await;
    let _hole = proxy.inject(Fault::black_hole());
    let mut holed = TcpStream::connect(addr).await.unwrap();
    holed.write_all(b"holed").await.unwrap();
    eventually("three connections in", || proxy.stats().live == 3).await;

    drop(proxy);
    // The guards outlive the proxy, and keep nothing open.
    for client in [&mut flowing, &mut held, &mut holed] {
        let mut buf = [0; 8];
        let end = timeout(Duration::from_secs(5), client.read(&mut buf))
            .await
            .expect("the client sees the close");
        assert!(matches!(end, Ok(0) | Err(_)), "{end:?}");
    }
    eventually("the upstream sees its connections closed", || {
        seen.open_now() == 0
    })
    .await;
    assert_eq!(
        seen.opened.load(Ordering::SeqCst),
        2,
        "never the black-holed one"
    );
    eventually("the proxy's tasks are gone", || {
        metrics.num_alive_tasks() <= tasks_before
    })
    .await;
    assert_eq!(
        TcpStream::connect(addr).await.unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_waits_for_every_connection() {
    let (upstream, seen) = echo_server().await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let _refused = proxy.refuse_connections();
    let _hole = proxy.inject(Fault::black_hole());
    drop(_refused);
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(TcpStream::connect(proxy.addr()).await.unwrap());
    }
    eventually("accepted", || proxy.stats().live == 3).await;
    let last = timeout(Duration::from_secs(5), proxy.stop())
        .await
        .expect("stop ends");
    assert_eq!(last.live, 0, "stop returns once every connection is closed");
    assert_eq!(last.accepted, 3);
    assert_eq!(seen.opened.load(Ordering::SeqCst), 0);
}

/// A real HTTP server and a reqwest client with the full stack, through
/// the proxy.
#[cfg(feature = "reqwest")]
mod http_stack {
    use super::*;
    use axum::Router;
    use axum::extract::State;
    use axum::routing::get;
    use resilience::chaos::experiment::{Answer, Experiment, Phase};
    use resilience::http::RequestError;
    use resilience::{BreakerPolicy, CircuitBreaker, circuit_breaker, fallback, retry, timeout};
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    const THRESHOLD: u32 = 3;
    const OPEN_FOR: Duration = Duration::from_millis(200);

    /// A server answering `42`, counting the requests it handles.
    async fn server() -> (SocketAddr, Arc<AtomicU64>) {
        let hits = Arc::new(AtomicU64::new(0));
        let app = Router::new()
            .route(
                "/",
                get(|State(hits): State<Arc<AtomicU64>>| async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    "42"
                }),
            )
            .with_state(Arc::clone(&hits));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, hits)
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    /// `Some(42)` from the server, `None` from the fallback.
    async fn fetch(http: &reqwest::Client, url: &str) -> Result<Option<u32>, RequestError> {
        let response = http.get(url).send().await?;
        let body = resilience::http::check(response)?.text().await?;
        Ok(body.parse().ok())
    }

    macro_rules! protected {
        ($name:ident, $breaker:ident) => {
            static $breaker: CircuitBreaker = CircuitBreaker::new(
                stringify!($breaker),
                BreakerPolicy::new()
                    .failure_threshold(THRESHOLD)
                    .open_for(OPEN_FOR),
            );

            #[fallback(Ok(None))]
            #[circuit_breaker(with = $breaker)]
            #[retry(max_attempts = 2, backoff = "fixed", base = "20ms")]
            #[timeout("100ms")]
            async fn $name(http: &reqwest::Client, url: &str) -> Result<Option<u32>, RequestError> {
                fetch(http, url).await
            }
        };
    }

    protected!(quote, QUOTE_BREAKER);
    protected!(measured_quote, MEASURED_BREAKER);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reqwest_stack_answers_through_a_black_hole_and_recovers() {
        let (upstream, hits) = server().await;
        let proxy = Proxy::start(upstream).await.unwrap();
        let http = client();
        let url = format!("http://{}/", proxy.addr());
        for _ in 0..3 {
            assert_eq!(quote(&http, &url).await.unwrap(), Some(42), "fresh");
        }

        let hole = proxy.inject(Fault::black_hole());
        let hits_before = hits.load(Ordering::SeqCst);
        for call in 1..=THRESHOLD + 2 {
            let answer = quote(&http, &url).await;
            assert_eq!(answer.unwrap(), None, "call {call}: the fallback answers");
            let expected_open = call >= THRESHOLD;
            assert_eq!(
                QUOTE_BREAKER.state() == resilience::breaker::State::Open,
                expected_open,
                "after {call} failed calls (threshold {THRESHOLD})"
            );
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            hits_before,
            "nothing got through"
        );
        drop(hole);

        // Recovers once the breaker lets a trial through.
        tokio::time::sleep(OPEN_FOR).await;
        assert_eq!(quote(&http, &url).await.unwrap(), Some(42));
        assert_eq!(QUOTE_BREAKER.state(), resilience::breaker::State::Closed);
    }

    /// What the workload itself saw, to check the report against.
    #[derive(Default)]
    struct Seen {
        /// (phase the call started in, its answer, when it answered, breaker open after it)
        calls: Vec<(usize, Answer, Instant, bool)>,
        phase_started: Vec<Instant>,
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn experiment_report_matches_what_the_calls_saw() {
        let (upstream, hits) = server().await;
        let proxy = Proxy::start(upstream).await.unwrap();
        let http = client();
        let url = format!("http://{}/", proxy.addr());
        let interval = MS(40);
        let seen = Arc::new(Mutex::new(Seen::default()));
        let phase = Arc::new(AtomicUsize::new(0));
        let start_phase = |n: usize| {
            let (seen, phase) = (Arc::clone(&seen), Arc::clone(&phase));
            move || {
                phase.store(n, Ordering::SeqCst);
                seen.lock().unwrap().phase_started.push(Instant::now());
            }
        };
        let workload = {
            let seen = Arc::clone(&seen);
            let phase = Arc::clone(&phase);
            move || {
                // Called on the runner's task at each tick: the phase is
                // the one the runner is in.
                let in_phase = phase.load(Ordering::SeqCst);
                let (http, url, seen) = (http.clone(), url.clone(), Arc::clone(&seen));
                async move {
                    let answer = match measured_quote(&http, &url).await {
                        Ok(Some(_)) => Answer::Fresh,
                        Ok(None) => Answer::Fallback,
                        Err(_) => Answer::Failed,
                    };
                    let open = MEASURED_BREAKER.state() == resilience::breaker::State::Open;
                    seen.lock()
                        .unwrap()
                        .calls
                        .push((in_phase, answer, Instant::now(), open));
                    answer
                }
            }
        };
        let hits_counter = Arc::clone(&hits);
        // A replica dies: open connections reset, the port refuses. Every
        // call fails at once, so the numbers are exact.
        let report = Experiment::new("replica down", workload)
            .interval(interval)
            .breaker(&MEASURED_BREAKER)
            .proxy(&proxy)
            .reached(move || hits_counter.load(Ordering::SeqCst))
            .phase(Phase::new("steady", MS(200)).action(start_phase(0)))
            .phase(Phase::new("down", MS(400)).action(|| {
                start_phase(1)();
                (
                    proxy.inject(Fault::reset_after(0)),
                    proxy.refuse_connections(),
                )
            }))
            .phase(Phase::new("recovery", MS(600)).action(start_phase(2)))
            .run()
            .await;
        println!("{report}");

        let seen = seen.lock().unwrap();
        assert_eq!(
            report.phases.iter().map(|p| p.calls).sum::<u64>() as usize,
            seen.calls.len()
        );
        for (index, phase) in report.phases.iter().enumerate() {
            let count = |answer| {
                seen.calls
                    .iter()
                    .filter(|c| c.0 == index && c.1 == answer)
                    .count() as u64
            };
            assert_eq!(phase.fresh, count(Answer::Fresh), "{}", phase.name);
            assert_eq!(phase.fallback, count(Answer::Fallback), "{}", phase.name);
            assert_eq!(
                phase.failed, 0,
                "{}: the fallback always answers",
                phase.name
            );
        }
        let [steady, down, recovery] = &report.phases[..] else {
            panic!("three phases")
        };
        assert_eq!(steady.fresh, steady.calls, "all fresh before the fault");
        assert_eq!(
            steady.reached,
            Some(steady.calls),
            "one request per fresh call"
        );
        assert_eq!(down.fresh, 0);
        assert_eq!(down.reached, Some(0), "nothing reaches the server");
        assert_eq!(down.proxy.unwrap().upstream_connections, 0);

        // Fallback activation: the runner's number is the one the calls saw,
        // and within one call interval of the fault's start.
        let fault_start = seen.phase_started[1];
        let first_fallback = seen
            .calls
            .iter()
            .filter(|c| c.1 == Answer::Fallback)
            .map(|c| c.2)
            .min()
            .unwrap();
        let observed = first_fallback - fault_start;
        let reported = down.first_fallback.expect("a fallback answer in the fault");
        assert!(
            reported >= observed && reported <= observed + interval,
            "reported {reported:?}, observed {observed:?}"
        );

        // The breaker opened after the configured failures: the calls saw
        // it closed after THRESHOLD - 1 fallbacks and open after THRESHOLD.
        let opened_after = seen
            .calls
            .iter()
            .filter(|c| c.0 == 1)
            .position(|c| c.3)
            .expect("the breaker opened in the fault");
        assert_eq!(opened_after + 1, THRESHOLD as usize);
        let opened_at = seen
            .calls
            .iter()
            .filter(|c| c.0 == 1)
            .nth(opened_after)
            .unwrap()
            .2;
        let reported = down.breaker_opened.expect("the report saw it open");
        let observed = opened_at - fault_start;
        assert!(
            reported >= observed && reported <= observed + interval,
            "breaker: reported {reported:?}, observed {observed:?}"
        );

        // Recovery: the first fresh answer after the fault ended.
        let fault_end = seen.phase_started[2];
        let first_fresh = seen
            .calls
            .iter()
            .filter(|c| c.1 == Answer::Fresh && c.2 >= fault_end)
            .map(|c| c.2)
            .min()
            .expect("recovered");
        let observed = first_fresh - fault_end;
        let reported = recovery.first_fresh.expect("a fresh answer in recovery");
        assert!(
            reported >= observed && reported <= observed + interval,
            "recovery: reported {reported:?}, observed {observed:?}"
        );
        assert!(recovery.fresh > 0);
    }
}

#[cfg(feature = "reqwest")]
#[allow(dead_code)]
#[path = "../examples/network_chaos.rs"]
mod network_chaos;

/// The example's short run, as outcomes: the fallback always answers, each
/// fault shows where it should, and every experiment recovers.
#[cfg(feature = "reqwest")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_chaos_example_rides_out_every_fault() {
    let reports = network_chaos::run(network_chaos::Config::short()).await;
    assert_eq!(reports.len(), network_chaos::FAULTS.len());
    for report in &reports {
        println!("{report}");
        let [steady, fault, recovery] = &report.phases[..] else {
            panic!("{}: three phases", report.name)
        };
        for phase in &report.phases {
            assert_eq!(
                phase.failed + phase.hung,
                0,
                "{} / {}",
                report.name,
                phase.name
            );
        }
        assert!(steady.fresh > 0, "{}", report.name);
        assert!(recovery.fresh > 0, "{}: recovers", report.name);
        if report.name.starts_with("bandwidth") {
            // 2 kB/s still carries a small answer within the timeout.
            continue;
        }
        // No fresh answer arrives during the fault (a call started at
        // its end may retry into the recovery and count as fresh there).
        assert_eq!(
            fault.first_fresh, None,
            "{}: no fresh answer through the fault",
            report.name
        );
        assert!(fault.first_fallback.is_some(), "{}", report.name);
        assert!(
            fault.breaker_opened.is_some(),
            "{}: the breaker opens",
            report.name
        );
    }
    let reached = |name: &str| {
        let report = reports.iter().find(|r| r.name == name).unwrap();
        report.phase("fault").unwrap().reached.unwrap()
    };
    assert_eq!(
        reached("black hole"),
        0,
        "a black hole lets nothing through"
    );
    assert_eq!(reached("replica down"), 0);
    assert!(
        reached("partition (responses)") > 0,
        "requests cross a one-way partition"
    );
}
