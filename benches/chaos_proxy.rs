//! Throughput of the chaos proxy with no fault on, beside the direct
//! connection: so that latency tests through it measure the fault, not the
//! proxy. Each iteration opens a connection, writes 64 MiB to a server that
//! discards them, half-closes, and waits for the server's one-byte
//! acknowledgement (sent once it has read everything).
//!
//! `cargo bench --bench chaos_proxy --features chaos`

use std::net::SocketAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use resilience::chaos::proxy::Proxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;

const TOTAL: usize = 64 << 20;
const WRITE: usize = 256 << 10;

/// Reads each connection to its end, then writes one byte.
async fn discard_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0; WRITE];
                let mut read = 0;
                while let Ok(n @ 1..) = socket.read(&mut buf).await {
                    read += n;
                }
                assert_eq!(read, TOTAL);
                let _ = socket.write_u8(1).await;
            });
        }
    });
    addr
}

async fn send_all(to: SocketAddr, chunk: &[u8]) {
    let mut stream = TcpStream::connect(to).await.unwrap();
    stream.set_nodelay(true).unwrap();
    for _ in 0..TOTAL / chunk.len() {
        stream.write_all(chunk).await.unwrap();
    }
    stream.shutdown().await.unwrap();
    assert_eq!(stream.read_u8().await.unwrap(), 1);
}

fn bench(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let (direct, proxy) = rt.block_on(async {
        let server = discard_server().await;
        (server, Proxy::start(server).await.unwrap())
    });
    let through = proxy.addr();
    let chunk = vec![0x5a; WRITE];

    let mut group = c.benchmark_group("chaos_proxy/64MiB");
    group.throughput(Throughput::Bytes(TOTAL as u64));
    group.sample_size(10);
    group.bench_function("direct", |b| {
        b.to_async(&rt).iter(|| send_all(direct, &chunk));
    });
    group.bench_function("resilience proxy, no fault", |b| {
        b.to_async(&rt).iter(|| send_all(through, &chunk));
    });
    group.finish();
    drop(proxy);
}

criterion_group!(benches, bench);
criterion_main!(benches);
