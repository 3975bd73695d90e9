//! Redis over TLS (`rediss://`): the bus and the vault's Redis backend against a
//! throwaway `redis-server` that serves TLS with a certificate signed by a CA made for
//! it (`?ca_file=` in the URL). A wrong CA and a plain-text port are refused with an
//! error, never a plain-text fallback; and what crosses the wire is encrypted: a
//! recording proxy sees a canary in the traffic of `redis://` and never in that of
//! `rediss://`.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use switchboard::bus::{Bus, BusConfig, RedisBusConfig};
use switchboard::model::{Envelope, Event, Payload, SocialMessageCreated, TenantId, UserRef};
use switchboard::vault::VaultKeys;
use switchboard::vault::{
    Capability, RedisBackend, RedisOptions, SecretKind, VaultConfig, VaultError, VaultHandle,
    VaultKey,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use common::redis::{TestCerts, TestRedis, tls_url};

/// A value that must cross the wire only encrypted.
const CANARY: &str = "canary-5d1c0e77-ONLY-EVER-ENCRYPTED";

/// Every connection attempt here ends (in success or an error) well within this.
const BOUND: Duration = Duration::from_secs(30);

fn tenant() -> TenantId {
    TenantId::parse("discord", "duck").expect("valid tenant")
}

fn message(content: &str) -> Envelope {
    let msg = SocialMessageCreated {
        message_id: "1234567890".into(),
        channel_id: "222222222222222222".into(),
        guild_id: Some("111111111111111111".into()),
        author: UserRef {
            id: "333".into(),
            name: "mallard".into(),
            display_name: None,
            bot: false,
        },
        content: content.into(),
        attachments: vec![],
        mentions: vec![],
        reply_to: None,
        timestamp_ms: 0,
        from_self: false,
    };
    Envelope::new(
        "promethean",
        &tenant(),
        Payload::Event(Event::SocialMessageCreated(msg)),
    )
    .expect("valid envelope")
}

fn bus_config(url: String, prefix: &str) -> RedisBusConfig {
    RedisBusConfig {
        block: Duration::from_millis(100),
        ..RedisBusConfig::new(url, prefix)
    }
}

async fn connect_bus(url: String, prefix: &str) -> Result<Bus, String> {
    tokio::time::timeout(
        BOUND,
        Bus::redis(BusConfig::default(), bus_config(url, prefix)),
    )
    .await
    .map_err(|_| format!("no answer within {BOUND:?}"))?
    .map_err(|e| switchboard::Report(&e).to_string())
}

/// Publishes an envelope carrying `content` and waits for its delivery.
async fn round_trip(bus: &Bus, content: &str) {
    bus.register_tenant(&tenant()).await.expect("register");
    let envelope = message(content);
    let id = envelope.id;
    bus.publish(envelope).await.expect("publish");
    let delivery = tokio::time::timeout(Duration::from_secs(10), bus.next())
        .await
        .expect("delivered within 10 s")
        .expect("bus open");
    assert_eq!(delivery.envelope.id, id);
    bus.ack(delivery).await.expect("ack");
}

async fn connect_vault(
    url: String,
    prefix: &str,
    key: &VaultKey,
) -> Result<RedisBackend, VaultError> {
    let options = RedisOptions::new(url, format!("{prefix}:vault"));
    tokio::time::timeout(
        BOUND,
        RedisBackend::connect(&options, &VaultKeys::full(key)),
    )
    .await
    .expect("connect ends within the bound")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_publishes_and_delivers_over_rediss() {
    let server = TestRedis::start_tls().await;
    let bus = connect_bus(server.tls_url(), server.prefix())
        .await
        .expect("bus over rediss://");
    round_trip(&bus, "over tls").await;
    bus.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vaults_redis_backend_works_over_rediss() {
    let server = TestRedis::start_tls().await;
    let key = VaultKey::from_bytes([42; 32]);
    let backend = connect_vault(server.tls_url(), server.prefix(), &key)
        .await
        .expect("vault over rediss://");
    let vault = VaultHandle::spawn(VaultConfig::default(), &VaultKeys::full(&key), backend)
        .await
        .expect("vault starts");
    vault
        .publish_tenant(
            "discord",
            "duck",
            [(
                "bot_token",
                SecretString::from(CANARY),
                SecretKind::ProviderCredential,
            )],
        )
        .await
        .expect("publish over TLS");
    let duck = TenantId::parse("discord", "duck").expect("tenant");
    let rest = vault.rest_scope(&duck);
    let path = || "discord/duck/bot_token".parse().expect("path");
    let lease = rest
        .lease(path(), Capability::ProviderRest, None)
        .await
        .expect("lease over TLS");
    assert!(
        lease.secret().expect("live").expose_secret() == CANARY,
        "the leased value is not the published one"
    );
    lease.release().await.expect("release");
    vault.stop();

    // The same server, read in plain text on its other port: the TLS client wrote there.
    let plain = connect_vault(server.url(), server.prefix(), &key)
        .await
        .expect("vault over redis://");
    let vault = VaultHandle::spawn(VaultConfig::default(), &VaultKeys::full(&key), plain)
        .await
        .expect("vault starts");
    let lease = vault
        .rest_scope(&duck)
        .lease(path(), Capability::ProviderRest, None)
        .await
        .expect("the secret written over TLS");
    assert!(lease.secret().expect("live").expose_secret() == CANARY);
    lease.release().await.expect("release");
    vault.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_from_another_ca_is_refused() {
    let server = TestRedis::start_tls().await;
    let other = TestCerts::generate().expect("certificates");
    let url = tls_url(server.tls_port(), &other.ca_file());

    let err = connect_bus(url.clone(), server.prefix())
        .await
        .expect_err("a bus trusting another CA must not connect");
    // Both CAs have the same name: rustls finds the issuer and the signature fails.
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    let key = VaultKey::from_bytes([42; 32]);
    let err = connect_vault(url, server.prefix(), &key)
        .await
        .expect_err("a vault trusting another CA must not connect")
        .to_string();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_to_a_plain_text_port_is_refused() {
    let server = TestRedis::start_tls().await;
    // The right CA, but the server's plain-text port.
    let url = tls_url(server.port(), &server.ca_file());
    connect_bus(url.clone(), server.prefix())
        .await
        .expect_err("rediss:// must not talk plain text");
    let key = VaultKey::from_bytes([42; 32]);
    connect_vault(url, server.prefix(), &key)
        .await
        .expect_err("rediss:// must not talk plain text");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_ca_file_is_an_error_naming_it() {
    let server = TestRedis::start_tls().await;
    let url = format!(
        "rediss://127.0.0.1:{}/?ca_file=/nonexistent/redis-ca.pem",
        server.tls_port()
    );
    let err = connect_bus(url.clone(), server.prefix())
        .await
        .expect_err("no CA, no connection");
    assert!(err.contains("/nonexistent/redis-ca.pem"), "{err}");
    let key = VaultKey::from_bytes([42; 32]);
    let err = connect_vault(url, server.prefix(), &key)
        .await
        .expect_err("no CA, no connection")
        .to_string();
    assert!(err.contains("/nonexistent/redis-ca.pem"), "{err}");

    // `ca_file` on a plain URL is refused, not ignored.
    let err = connect_bus(
        format!("{}/?ca_file={}", server.url(), server.ca_file().display()),
        server.prefix(),
    )
    .await
    .expect_err("ca_file asks for TLS; redis:// cannot give it");
    assert!(err.contains("ca_file"), "{err}");
}

/// One proxied connection's bytes, each direction apart.
#[derive(Default)]
struct Conversation {
    to_server: Vec<u8>,
    to_client: Vec<u8>,
}

/// A TCP proxy on a free port to `upstream` that records every byte.
struct Recorder {
    port: u16,
    conversations: Arc<Mutex<Vec<Arc<Mutex<Conversation>>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    async fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let conversations = Arc::new(Mutex::new(Vec::new()));
        let all = conversations.clone();
        let task = tokio::spawn(async move {
            // Dropping the set (when this task is aborted) aborts every pump.
            let mut pumps = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                let conversation = Arc::new(Mutex::new(Conversation::default()));
                all.lock().expect("lock").push(conversation.clone());
                let (client_rx, client_tx) = client.into_split();
                let (server_rx, server_tx) = server.into_split();
                let c = conversation.clone();
                pumps.spawn(pump(client_rx, server_tx, move |b| {
                    c.lock().expect("lock").to_server.extend_from_slice(b);
                }));
                pumps.spawn(pump(server_rx, client_tx, move |b| {
                    conversation
                        .lock()
                        .expect("lock")
                        .to_client
                        .extend_from_slice(b);
                }));
            }
        });
        Self {
            port,
            conversations,
            task,
        }
    }

    /// `(to_server, to_client)` of every connection so far.
    fn recorded(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.conversations
            .lock()
            .expect("lock")
            .iter()
            .map(|c| {
                let c = c.lock().expect("lock");
                (c.to_server.clone(), c.to_client.clone())
            })
            .collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut record: impl FnMut(&[u8]),
) {
    let mut buf = vec![0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        record(&buf[..n]);
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_wire_rediss_is_encrypted_and_redis_is_not() {
    let server = TestRedis::start_tls().await;

    // Control: over redis:// the recorder does see the canary, so the check below
    // can fail.
    let plain = Recorder::start(server.port()).await;
    let bus = connect_bus(format!("redis://127.0.0.1:{}", plain.port), server.prefix())
        .await
        .expect("bus over redis://");
    round_trip(&bus, CANARY).await;
    bus.close().await;
    let seen = plain.recorded();
    // Published on one connection, read back on another.
    assert!(
        seen.iter().any(|(up, _)| contains(up, CANARY.as_bytes())),
        "redis:// publishes should carry the envelope in plain text"
    );
    assert!(
        seen.iter()
            .any(|(_, down)| contains(down, CANARY.as_bytes())),
        "redis:// reads should carry the envelope in plain text"
    );

    let tls = Recorder::start(server.tls_port()).await;
    let bus = connect_bus(tls_url(tls.port, &server.ca_file()), server.prefix())
        .await
        .expect("bus over rediss://");
    round_trip(&bus, CANARY).await;
    bus.close().await;
    let seen = tls.recorded();
    assert!(!seen.is_empty(), "the bus connected through the recorder");
    for (up, down) in &seen {
        // Every connection opens with a TLS handshake record (content type 22).
        assert_eq!(up.first(), Some(&0x16), "not a TLS ClientHello");
        assert_eq!(down.first(), Some(&0x16), "not a TLS ServerHello");
        assert!(
            !contains(up, CANARY.as_bytes()),
            "canary in plain text upstream"
        );
        assert!(
            !contains(down, CANARY.as_bytes()),
            "canary in plain text downstream"
        );
        assert!(
            !contains(up, b"XADD") && !contains(up, b"xadd"),
            "a command in plain text"
        );
    }
}
