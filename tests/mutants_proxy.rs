//! The chaos proxy's promises that `chaos_proxy.rs` does not pin down
//! (issue 22, mutation testing): how a fault prints, a share clamped,
//! refusals that overlap or outlive the proxy, a port taken while it was
//! refused, a reset counted over several writes, a bandwidth limit's
//! slices, a share that draws whole connections, and a partition that
//! pushes back on the sender.
//!
//! Real sockets mean real time: waits are bounded polls, and no assertion
//! is on speed.
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

/// An echo server; counts the connections it accepted.
async fn echo_server() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let opened = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&opened);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (mut read, mut write) = socket.split();
                let _ = tokio::io::copy(&mut read, &mut write).await;
            });
        }
    });
    (addr, opened)
}

/// A server that answers each byte it receives with `answer` bytes.
async fn answering_server(answer: usize) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                while socket.read_u8().await.is_ok() {
                    if socket.write_all(&vec![1; answer]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A server that writes `payload` to each connection, then closes it.
async fn sending_server(payload: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let payload = Arc::new(payload);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let payload = Arc::clone(&payload);
            tokio::spawn(async move { socket.write_all(&payload).await });
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

fn refused(connect: std::io::Result<TcpStream>) -> bool {
    matches!(connect, Err(e) if e.kind() == ErrorKind::ConnectionRefused)
}

#[test]
fn a_fault_prints_its_kind_direction_and_share() {
    let shown = |fault: Fault| fault.to_string();
    assert_eq!(shown(Fault::latency(MS(100))), "latency 100ms");
    assert_eq!(
        shown(Fault::jittered_latency(MS(200), MS(50))),
        "latency 200ms ± 50ms"
    );
    assert_eq!(shown(Fault::bandwidth(125_000)), "bandwidth 125000 B/s");
    assert_eq!(shown(Fault::black_hole()), "black hole");
    assert_eq!(
        shown(Fault::reset_after(100).direction(Direction::Upstream)),
        "reset after 100 B, upstream"
    );
    assert_eq!(
        shown(Fault::slow_close(Duration::from_secs(1))),
        "slow close 1s"
    );
    assert_eq!(
        shown(Fault::partition(Direction::Downstream)),
        "partition, downstream"
    );
    assert_eq!(shown(Fault::partition(Direction::Both)), "partition");
    assert_eq!(
        shown(Fault::black_hole().share(0.25)),
        "black hole, 25% of connections"
    );
    assert_eq!(
        shown(Fault::black_hole().share(0.0)),
        "black hole, 0% of connections"
    );
    assert_eq!(Direction::Both.to_string(), "both ways");
}

#[test]
fn a_share_is_clamped_to_between_none_and_all() {
    assert_eq!(Fault::black_hole().get_share(), 1.0, "all by default");
    assert_eq!(Fault::black_hole().share(0.25).get_share(), 0.25);
    assert_eq!(Fault::black_hole().share(1.5).get_share(), 1.0);
    assert_eq!(Fault::black_hole().share(-0.5).get_share(), 0.0);
    assert_eq!(Fault::black_hole().share(f64::NAN).get_share(), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_port_stays_closed_until_the_last_refusal_ends() {
    let (upstream, _) = echo_server().await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let mut early = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(ping(&mut early, b"early").await.unwrap(), b"early");
    let first = proxy.refuse_connections();
    let second = proxy.refuse_connections();
    // A connection ending wakes the proxy's accept loop, which looks at
    // the port again: it stays closed.
    drop(early);
    eventually("the early connection closed", || proxy.stats().live == 0).await;
    assert!(refused(TcpStream::connect(proxy.addr()).await), "refused");
    drop(first);
    assert!(
        refused(TcpStream::connect(proxy.addr()).await),
        "still refused"
    );
    drop(second);
    let mut client = TcpStream::connect(proxy.addr()).await.expect("back");
    assert_eq!(ping(&mut client, b"hi").await.unwrap(), b"hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_that_ends_after_the_proxy_stopped_leaves_the_port_closed() {
    let (upstream, _) = echo_server().await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let addr = proxy.addr();
    let down = proxy.refuse_connections();
    proxy.stop().await;
    drop(down);
    assert!(refused(TcpStream::connect(addr).await));
}

/// Current-thread runtime: the proxy's accept loop runs only when this
/// test yields, so its first try at the port happens while it is taken.
#[tokio::test]
async fn a_port_taken_while_refused_is_taken_back_once_free() {
    let (upstream, _) = echo_server().await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let down = proxy.refuse_connections();
    let squatter = std::net::TcpListener::bind(proxy.addr()).expect("the port is free");
    drop(down);
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    drop(squatter);
    // The proxy tries again on its own (every 50 ms).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut client = loop {
        match TcpStream::connect(proxy.addr()).await {
            Ok(client) => break client,
            Err(e) => assert!(Instant::now() < deadline, "the port never came back: {e}"),
        }
        tokio::time::sleep(MS(5)).await;
    };
    let echoed = timeout(Duration::from_secs(5), ping(&mut client, b"mine again")).await;
    assert_eq!(echoed.expect("answered").unwrap(), b"mine again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_counts_every_write_since_it_started() {
    // 100 bytes per request: the limit falls inside the third answer.
    let upstream = answering_server(100).await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let _cut = proxy.inject(Fault::reset_after(250).direction(Direction::Downstream));
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut answer = [0; 100];
    for _ in 0..2 {
        client.write_u8(b'?').await.unwrap();
        client.read_exact(&mut answer).await.unwrap();
    }
    client.write_u8(b'?').await.unwrap();
    let end = loop {
        match client.read(&mut answer).await {
            Ok(0) => break ErrorKind::UnexpectedEof,
            Ok(_) => {}
            Err(e) => break e.kind(),
        }
    };
    assert_eq!(end, ErrorKind::ConnectionReset);
    let stats = proxy.stats();
    assert_eq!(
        stats.bytes_downstream, 250,
        "exactly the limit, over three writes"
    );
    assert_eq!(stats.resets, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_after_zero_forwards_nothing() {
    let upstream = answering_server(100).await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let _cut = proxy.inject(Fault::reset_after(0).direction(Direction::Downstream));
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    client.write_u8(b'?').await.unwrap();
    let mut answer = [0; 100];
    let read = timeout(Duration::from_secs(5), client.read(&mut answer))
        .await
        .expect("the reset arrives");
    assert_eq!(read.unwrap_err().kind(), ErrorKind::ConnectionReset);
    let stats = proxy.stats();
    assert_eq!((stats.bytes_upstream, stats.bytes_downstream), (1, 0));
    assert_eq!(stats.resets, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_forwards_a_twentieth_of_a_seconds_bytes_at_a_time() {
    let upstream = sending_server(vec![7; 10_000]).await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let _narrow = proxy.inject(Fault::bandwidth(20_000));
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut buf = vec![0; 16 * 1024];
    let (mut total, mut largest) = (0, 0);
    loop {
        let n = client.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        total += n;
        largest = largest.max(n);
    }
    assert_eq!(total, 10_000);
    // 1000-byte writes 50 ms apart; a read may catch two when late.
    assert!(
        (1_000..=3_000).contains(&largest),
        "largest read {largest} B, for writes of 1000 B"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_draws_whole_connections() {
    let (upstream, opened) = echo_server().await;
    let proxy = Proxy::builder(upstream).seed(3).start().await.unwrap();
    let _half = proxy.inject(Fault::black_hole().share(0.5));
    let mut clients = Vec::new();
    for _ in 0..24 {
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
    let mut count = 0;
    for a in answered {
        count += u64::from(a.await.unwrap());
    }
    assert!(0 < count && count < 24, "{count} of 24 answered");
    // A drawn connection is in the hole both ways (never connected
    // upstream); the others are untouched both ways.
    assert_eq!(opened.load(Ordering::SeqCst), count, "connected upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_pushes_back_on_the_sender() {
    let (upstream, _) = echo_server().await;
    let proxy = Proxy::start(upstream).await.unwrap();
    let _cut = proxy.inject(Fault::partition(Direction::Upstream));
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    // The proxy reads ahead a little (256 KiB) and leaves the rest in the
    // sockets' buffers (a few MiB on loopback): the sender's writes block.
    let chunk = vec![0; 64 * 1024];
    let mut written = 0usize;
    let deadline = Instant::now() + Duration::from_secs(2);
    while written < 96 << 20 {
        match tokio::time::timeout_at(deadline, client.write(&chunk)).await {
            Ok(sent) => written += sent.unwrap(),
            Err(_) => break,
        }
    }
    assert!(
        written < 64 << 20,
        "{} MiB went into the partition",
        written >> 20
    );
    assert_eq!(proxy.stats().bytes_upstream, 0);
}
