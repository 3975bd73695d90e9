//! Shared helpers: the emulator configuration used by the tests, twilight shards and
//! clients pointed at it, a raw WebSocket client, and bounded polling.

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::sim::{
    GuildConfig, PrivilegedIntents, Sim, SimConfig, SimHandle, SimUser, TenantConfig,
};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use twilight_gateway::{ConfigBuilder, EventTypeFlags, Intents, Shard, ShardId};

/// Guild on shard 0 of 2 (`(id >> 22) % 2 == 0`).
pub(crate) const GUILD_A: u64 = 2 << 22;
/// Guild on shard 1 of 2.
pub(crate) const GUILD_B: u64 = 3 << 22;
/// Channel in `GUILD_A`.
pub(crate) const CHAN_A: u64 = 900_000_000_000_000_001;
/// Channel in `GUILD_B`.
pub(crate) const CHAN_B: u64 = 900_000_000_000_000_002;

pub(crate) const DUCK_TOKEN: &str = "duck-token.secret";
pub(crate) const GOOSE_TOKEN: &str = "goose-token.secret";
pub(crate) const DUCK_APP: u64 = 500_000_000_000_000_001;
pub(crate) const DUCK_BOT: u64 = 600_000_000_000_000_001;
pub(crate) const GOOSE_APP: u64 = 500_000_000_000_000_002;
pub(crate) const GOOSE_BOT: u64 = 600_000_000_000_000_002;

/// Generous bound for anything on two loaded cores.
pub(crate) const LONG: Duration = Duration::from_secs(30);

/// Two tenants: `duck` (every privileged intent, guilds A and B) and `goose` (no
/// privileged intent, guild A only). Small windows so tests run fast.
pub(crate) fn config() -> SimConfig {
    let mut c = SimConfig::default()
        .tenant(
            TenantConfig::new("duck", DUCK_TOKEN, DUCK_APP, DUCK_BOT)
                .guild(GuildConfig::new(GUILD_A, "pond", &[(CHAN_A, "general")]))
                .guild(GuildConfig::new(GUILD_B, "lake", &[(CHAN_B, "general")])),
        )
        .tenant(
            TenantConfig::new("goose", GOOSE_TOKEN, GOOSE_APP, GOOSE_BOT)
                .privileged(PrivilegedIntents::default())
                .guild(GuildConfig::new(GUILD_A, "pond", &[(CHAN_A, "general")])),
        );
    c.heartbeat_interval = Duration::from_secs(5);
    c.rate_limits.global_limit = 10_000;
    c
}

/// Starts an emulator on an ephemeral port.
pub(crate) async fn start(config: SimConfig) -> SimHandle {
    Sim::start(config, "127.0.0.1:0")
        .await
        .expect("emulator starts")
}

/// A user for injected messages.
pub(crate) fn user(id: u64, name: &str) -> SimUser {
    SimUser {
        id,
        username: name.to_owned(),
        bot: false,
    }
}

/// twilight 0.18 needs a process-wide rustls provider before the first shard.
pub(crate) fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A twilight shard pointed at the emulator.
pub(crate) fn shard(sim: &SimHandle, token: &str, intents: Intents, id: u32, total: u32) -> Shard {
    install_crypto();
    let config = ConfigBuilder::new(token.to_owned(), intents)
        .proxy_url(sim.gateway_url())
        .build();
    Shard::with_config(ShardId::new(id, total), config)
}

/// The intents most tests use.
pub(crate) fn message_intents() -> Intents {
    Intents::GUILDS | Intents::GUILD_MESSAGES | Intents::DIRECT_MESSAGES | Intents::MESSAGE_CONTENT
}

/// Polls `check` until it returns `true`, at most `timeout`.
pub(crate) async fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Awaits `fut` at most `timeout`, failing the test otherwise.
pub(crate) async fn within<T>(timeout: Duration, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {timeout:?}"))
}

/// One gateway payload as JSON with its `t` and `s`, read from a twilight shard
/// (already decompressed). `None` on a close frame (its code in `Err`).
pub(crate) async fn next_payload(shard: &mut Shard) -> Result<Value, Option<u16>> {
    loop {
        match within(LONG, shard.next()).await {
            Some(Ok(twilight_gateway::Message::Text(t))) => {
                return Ok(serde_json::from_str(&t).expect("gateway JSON"));
            }
            Some(Ok(twilight_gateway::Message::Close(frame))) => {
                return Err(frame.map(|f| f.code));
            }
            Some(Err(_)) => {}
            None => panic!("the shard stopped for good"),
        }
    }
}

/// Reads dispatches until one of type `t` arrives; returns it.
pub(crate) async fn next_dispatch(shard: &mut Shard, t: &str) -> Value {
    loop {
        if let Ok(p) = next_payload(shard).await
            && p["op"] == 0
            && p["t"] == t
        {
            // Also check that twilight-model accepts it.
            let parsed = twilight_gateway::parse(p.to_string(), EventTypeFlags::all());
            assert!(
                matches!(parsed, Ok(Some(_))),
                "twilight rejects {t}: {parsed:?}"
            );
            return p;
        }
    }
}

/// A raw WebSocket client (no twilight).
pub(crate) struct RawWs {
    pub(crate) ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    pub(crate) zstd: Option<zstd::stream::raw::Decoder<'static>>,
}

/// What a raw client read.
#[derive(Debug)]
pub(crate) enum Frame {
    Json(Value),
    Close(Option<u16>),
}

impl RawWs {
    /// Connects; `zstd` asks for `compress=zstd-stream`.
    pub(crate) async fn connect(sim: &SimHandle, zstd: bool) -> Self {
        let mut url = format!("{}/?v=10&encoding=json", sim.gateway_url());
        if zstd {
            url.push_str("&compress=zstd-stream");
        }
        let (ws, _) = within(LONG, tokio_tungstenite::connect_async(url))
            .await
            .expect("websocket connects");
        let zstd = zstd.then(|| zstd::stream::raw::Decoder::new().expect("decoder"));
        Self { ws, zstd }
    }

    /// Sends a JSON payload.
    pub(crate) async fn send(&mut self, v: &Value) {
        self.ws
            .send(WsMessage::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    /// Sends IDENTIFY.
    pub(crate) async fn identify(&mut self, token: &str, intents: u64, shard: Option<[u32; 2]>) {
        let mut d = json!({"token": token, "intents": intents,
            "properties": {"os": "linux", "browser": "raw", "device": "raw"}});
        if let Some(s) = shard {
            d["shard"] = json!(s);
        }
        self.send(&json!({"op": 2, "d": d})).await;
    }

    /// The next frame (text or decompressed binary), or the close code.
    pub(crate) async fn next(&mut self) -> Frame {
        loop {
            match within(LONG, self.ws.next()).await {
                Some(Ok(WsMessage::Text(t))) => {
                    assert!(
                        self.zstd.is_none(),
                        "text frame on a zstd-stream connection"
                    );
                    return Frame::Json(serde_json::from_str(t.as_str()).expect("JSON"));
                }
                Some(Ok(WsMessage::Binary(b))) => {
                    let dec = self
                        .zstd
                        .as_mut()
                        .expect("binary frame without compression");
                    return Frame::Json(serde_json::from_slice(&inflate(dec, &b)).expect("JSON"));
                }
                Some(Ok(WsMessage::Close(f))) => return Frame::Close(f.map(|f| u16::from(f.code))),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Frame::Close(None),
            }
        }
    }

    /// The next JSON payload (panics on close).
    pub(crate) async fn json(&mut self) -> Value {
        match self.next().await {
            Frame::Json(v) => v,
            Frame::Close(c) => panic!("connection closed ({c:?})"),
        }
    }

    /// Reads until the connection closes; returns the close code.
    pub(crate) async fn close_code(&mut self) -> Option<u16> {
        loop {
            if let Frame::Close(c) = self.next().await {
                return c;
            }
        }
    }
}

fn inflate(dec: &mut zstd::stream::raw::Decoder<'static>, data: &[u8]) -> Vec<u8> {
    use zstd::stream::raw::{InBuffer, Operation, OutBuffer};
    let mut out = Vec::new();
    let mut input = InBuffer::around(data);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let mut output = OutBuffer::around(&mut buf[..]);
        dec.run(&mut input, &mut output).expect("zstd frame");
        let n = output.pos();
        out.extend_from_slice(&buf[..n]);
        if input.pos() >= data.len() && n < buf.len() {
            return out;
        }
    }
}

/// A plain-HTTP client for the REST and control APIs.
pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::new()
}

/// A twilight-http client pointed at the emulator.
pub(crate) fn twilight_http(sim: &SimHandle, token: &str) -> twilight_http::Client {
    install_crypto();
    twilight_http::Client::builder()
        .token(token.to_owned())
        .proxy(sim.api_host(), true)
        .build()
}
