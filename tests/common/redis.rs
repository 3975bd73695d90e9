//! A throwaway `redis-server` per test: a free loopback port, no persistence, a random
//! key prefix, killed on drop (pass or fail). Never touches the machine's shared Redis.
//!
//! [`TestRedis::start_tls`] also listens for TLS on a second port, with a server
//! certificate for `127.0.0.1`/`localhost` signed by a CA generated for that server
//! ([`TestCerts`], made with `rcgen`: no external tool). Its plain port stays open for
//! the readiness probe and for tests that point a TLS client at a plain-text port.
//!
//! This file has no dependency on the rest of `tests/common`, so benches can include it
//! with `#[path = "../tests/common/redis.rs"] mod redis;`.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
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
    /// The TLS port and the certificates it serves, for [`TestRedis::start_tls`].
    tls: Option<(u16, TestCerts)>,
}

/// A CA and a server certificate (`127.0.0.1`, `localhost`) it signed, as PEM files in
/// a temporary folder that lives as long as this value.
pub struct TestCerts {
    dir: tempfile::TempDir,
}

impl TestCerts {
    /// Generates a fresh CA and server certificate.
    ///
    /// # Errors
    /// If a key or certificate cannot be made or written.
    pub fn generate() -> Result<Self, String> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let err = |what: &str, e: &dyn std::fmt::Display| format!("test certificates: {what}: {e}");
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| err("CA", &e))?;
        ca.distinguished_name
            .push(DnType::CommonName, "switchboard test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().map_err(|e| err("CA key", &e))?;
        let ca_cert = ca.self_signed(&ca_key).map_err(|e| err("CA", &e))?;
        let issuer = Issuer::new(ca, ca_key);

        let mut server =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .map_err(|e| err("server", &e))?;
        server
            .distinguished_name
            .push(DnType::CommonName, "switchboard test redis");
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().map_err(|e| err("server key", &e))?;
        let server_cert = server
            .signed_by(&server_key, &issuer)
            .map_err(|e| err("server", &e))?;

        let dir = tempfile::tempdir().map_err(|e| err("tempdir", &e))?;
        for (name, pem) in [
            ("ca.pem", ca_cert.pem()),
            ("server.pem", server_cert.pem()),
            ("server.key", server_key.serialize_pem()),
        ] {
            std::fs::write(dir.path().join(name), pem).map_err(|e| err(name, &e))?;
        }
        Ok(Self { dir })
    }

    /// The CA certificate (PEM).
    #[must_use]
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn server_cert(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    fn server_key(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }
}

/// `rediss://127.0.0.1:<port>/?ca_file=<ca>`: a TLS URL trusting only `ca`.
#[must_use]
pub fn tls_url(port: u16, ca: &Path) -> String {
    let ca: String =
        url::form_urlencoded::byte_serialize(ca.as_os_str().as_encoded_bytes()).collect();
    format!("rediss://127.0.0.1:{port}/?ca_file={ca}")
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
        Self::try_start_with(false).await
    }

    /// A bench's Redis: the URL in `SWITCHBOARD_BENCH_REDIS_URL` when it is set (no
    /// server of ours), otherwise a throwaway server, returned so it lives as long as
    /// the bench needs it. `Err` says why neither is available.
    pub async fn for_bench() -> Result<(String, Option<Self>), String> {
        match std::env::var("SWITCHBOARD_BENCH_REDIS_URL") {
            Ok(url) => Ok((url, None)),
            Err(_) => Self::try_start().await.map(|s| (s.url(), Some(s))),
        }
    }

    /// Starts a server that also serves TLS (see the module docs) and waits for it to
    /// answer PING on its plain port.
    ///
    /// # Panics
    /// As [`TestRedis::start`], or if the certificates cannot be made.
    pub async fn start_tls() -> Self {
        Self::try_start_with(true)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn try_start_with(tls: bool) -> Result<Self, String> {
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
                tls: None,
            };
            if tls {
                let port = free_port().map_err(|e| format!("no free port: {e}"))?;
                me.tls = Some((port, TestCerts::generate()?));
            }
            match me.spawn().await {
                Ok(()) => return Ok(me),
                Err(e) => last = e,
            }
        }
        Err(format!("could not start redis-server: {last}"))
    }

    async fn spawn(&mut self) -> Result<(), String> {
        let mut command = Command::new("redis-server");
        if let Some((port, certs)) = &self.tls {
            command
                .arg("--tls-port")
                .arg(port.to_string())
                .arg("--tls-cert-file")
                .arg(certs.server_cert())
                .arg("--tls-key-file")
                .arg(certs.server_key())
                .arg("--tls-ca-cert-file")
                .arg(certs.ca_file())
                .args(["--tls-auth-clients", "no"]);
        }
        let child = command
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

    /// The TLS port of a server from [`TestRedis::start_tls`].
    ///
    /// # Panics
    /// If the server was started without TLS.
    #[must_use]
    pub fn tls_port(&self) -> u16 {
        self.tls.as_ref().expect("started with start_tls").0
    }

    /// The CA that signed the certificate of a server from [`TestRedis::start_tls`].
    ///
    /// # Panics
    /// If the server was started without TLS.
    #[must_use]
    pub fn ca_file(&self) -> PathBuf {
        self.tls
            .as_ref()
            .expect("started with start_tls")
            .1
            .ca_file()
    }

    /// `rediss://127.0.0.1:<tls port>/?ca_file=<its CA>`.
    ///
    /// # Panics
    /// If the server was started without TLS.
    #[must_use]
    pub fn tls_url(&self) -> String {
        tls_url(self.tls_port(), &self.ca_file())
    }

    /// A connected fred client as the default user.
    pub async fn client(&self) -> fred::prelude::Client {
        client(&self.url()).await
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

/// A connected fred client for `url` (e.g. `redis://user:pw@127.0.0.1:port`).
///
/// # Panics
/// If the URL is bad or the server does not accept the connection.
pub async fn client(url: &str) -> fred::prelude::Client {
    use fred::prelude::*;
    let c = Builder::from_config(Config::from_url(url).expect("url"))
        .build()
        .expect("client");
    c.init().await.expect("connect");
    c
}
