//! A `redis-server` of a test's own, on a free loopback port, without
//! persistence (`--save "" --appendonly no`), stopped when dropped.
//!
//! Shared by the runtime's unit tests and the facade's `tests/redis*.rs`
//! (`#[path]`), so it names nothing of either crate.
//!
//! Without a `redis-server` on the `PATH`, [`RedisServer::start`] panics
//! when the environment variable `CI` is set to anything but `false` or
//! `0` (CI systems set `CI=true`; `.ci/run` installs the package first):
//! a test that needs Redis fails in CI rather than passing without it. On
//! a laptop without Redis it returns `None` and the caller says so and
//! returns.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`; killed on drop.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

/// Whether this runs in CI, where a missing `redis-server` is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

impl RedisServer {
    /// A server on a free port, answering `PING` (within 5 s), or `None`
    /// on a laptop without `redis-server`.
    ///
    /// # Panics
    ///
    /// In CI without `redis-server`, or if it does not start.
    pub fn start() -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            assert!(
                !in_ci(),
                "redis-server is not installed, and CI is set: a test that needs Redis must run in CI (apt-get install -y redis-server; .ci/run does)"
            );
            eprintln!(
                "redis-server is not installed: this test needs it (apt-get install -y redis-server); not run"
            );
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut server = RedisServer { port, child: None };
        server.restart();
        Some(server)
    }

    /// The URL to connect to.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (as a crash would: no shutdown, state lost).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.answers_ping() {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within 5 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends one inline command (e.g. `SCRIPT FLUSH`) and returns the
    /// first line of the reply.
    pub fn command(&self, command: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("the server listens");
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        stream
            .write_all(format!("{command}\r\n").as_bytes())
            .unwrap();
        let mut reply = Vec::new();
        let mut byte = [0u8; 1];
        while stream.read_exact(&mut byte).is_ok() && byte[0] != b'\n' {
            reply.push(byte[0]);
        }
        String::from_utf8_lossy(&reply).trim_end().to_owned()
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
