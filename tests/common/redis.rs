//! A throwaway `redis-server` per test: a free loopback port, no persistence, a random
//! key prefix, killed on drop (pass or fail). Never touches the machine's shared Redis.
//!
//! This file has no dependency on the rest of `tests/common`, so benches can include it
//! with `#[path = "../tests/common/redis.rs"] mod redis;`.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// How long a server may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running throwaway Redis server.
pub struct TestRedis {
    child: Option<Child>,
    port: u16,
    prefix: String,
    dir: tempfile::TempDir,
}

/// Whether a `redis-server` binary is on `PATH`.
pub fn redis_server_available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> std::io::Result<u16> {
    // Bind port 0, read the port the kernel chose, release it. Another process could
    // take it before redis binds it: `start` retries with a new port if so.
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn random_prefix() -> String {
    let n: u64 = rand::random();
    format!("t{n:016x}")
}

impl TestRedis {
    /// Starts a server on a free port and waits for it to answer PING.
    ///
    /// # Panics
    /// If `redis-server` is not on `PATH` or no server comes up after a few ports.
    pub async fn start() -> Self {
        Self::try_start().await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`TestRedis::start`], returning the reason instead of panicking.
    pub async fn try_start() -> Result<Self, String> {
        if !redis_server_available() {
            return Err("redis-server not found on PATH (apt-get install redis-server)".to_owned());
        }
        let mut last = String::new();
        // A port can be taken between our probe and redis binding it: retry.
        for _ in 0..5 {
            let mut me = Self {
                child: None,
                port: free_port().map_err(|e| format!("no free port: {e}"))?,
                prefix: random_prefix(),
                dir: tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?,
            };
            match me.spawn().await {
                Ok(()) => return Ok(me),
                Err(e) => last = e,
            }
        }
        Err(format!("could not start redis-server: {last}"))
    }

    async fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--dir",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn redis-server: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(format!(
                    "redis-server on port {} exited: {status}",
                    self.port
                ));
            }
            if ping(self.port).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "redis-server on port {} did not answer PING",
                    self.port
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `redis://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A random key prefix for this test.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Kills the server (it stays down until [`TestRedis::restart`]).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and starts an empty one on the same port.
    ///
    /// # Panics
    /// If the new server does not come up.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn()
            .await
            .unwrap_or_else(|e| panic!("restart: {e}"));
    }
}

async fn ping(port: u16) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(b"PING\r\n").await.ok()?;
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).await.ok()?;
        Some(&buf == b"+PONG\r\n")
    };
    tokio::time::timeout(Duration::from_millis(500), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.kill();
    }
}
