//! Gateway dispatch throughput of the Discord emulator.
//!
//! What is timed: for each batch of `iters` events, injecting `iters` guild messages
//! through `SimHandle::inject_message` (build the Discord message object, assign a
//! sequence number, buffer it for RESUME, serialise it, optionally compress it with
//! `zstd-stream`, write it to the WebSocket) **and** reading all `iters` `MESSAGE_CREATE`
//! frames off the socket with a raw tokio-tungstenite client (frames are counted, not
//! parsed or decompressed). Emulator and client share
//! one current-thread Tokio runtime, so the figure is events per second on **one core**,
//! server and client together. Setup (bind, connect, IDENTIFY, READY, `GUILD_CREATE`) is
//! outside the timed loop.
//!
//! Run: `cargo bench --bench sim_dispatch`.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use switchboard::sim::{
    GuildConfig, InjectMessage, Sim, SimConfig, SimHandle, SimUser, TenantConfig,
};
use tokio_tungstenite::tungstenite::Message;

const GUILD: u64 = 1 << 22;
const CHANNEL: u64 = 900_000_000_000_000_001;
const TOKEN: &str = "bench-token";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn setup(zstd: bool) -> (SimHandle, Ws) {
    let mut config = SimConfig::default().tenant(
        TenantConfig::new("bench", TOKEN, 11, 12).guild(GuildConfig::new(
            GUILD,
            "bench",
            &[(CHANNEL, "general")],
        )),
    );
    config.heartbeat_interval = Duration::from_secs(3600);
    config.replay_buffer = 1_000;
    let sim = Sim::start(config, "127.0.0.1:0").await.expect("start");
    let mut url = format!("{}/?v=10&encoding=json", sim.gateway_url());
    if zstd {
        url.push_str("&compress=zstd-stream");
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    ws.next().await.expect("hello").expect("hello");
    let identify = json!({"op": 2, "d": {"token": TOKEN, "intents": (1 << 9) | (1 << 15),
        "properties": {"os": "linux", "browser": "bench", "device": "bench"}}});
    ws.send(Message::Text(identify.to_string().into()))
        .await
        .expect("identify");
    // READY and GUILD_CREATE.
    for _ in 0..2 {
        ws.next().await.expect("frame").expect("frame");
    }
    (sim, ws)
}

fn dispatch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("sim_dispatch");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(5));
    for zstd in [false, true] {
        let (sim, ws) = rt.block_on(setup(zstd));
        let ws = tokio::sync::Mutex::new(ws);
        let author = SimUser {
            id: 42,
            username: "alice".into(),
            bot: false,
        };
        let name = if zstd {
            "message_create_zstd_stream"
        } else {
            "message_create_json"
        };
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let sim = &sim;
                let ws = &ws;
                let author = author.clone();
                async move {
                    let mut ws = ws.lock().await;
                    let start = Instant::now();
                    let mut received = 0;
                    let mut sent = 0;
                    // Inject in slices so the socket is read while the server writes.
                    while received < iters {
                        let upto = (sent + 256).min(iters);
                        while sent < upto {
                            sim.inject_message(InjectMessage::guild(
                                GUILD,
                                CHANNEL,
                                author.clone(),
                                "hello",
                            ))
                            .expect("inject");
                            sent += 1;
                        }
                        while received < sent {
                            match ws.next().await {
                                Some(Ok(Message::Text(_) | Message::Binary(_))) => received += 1,
                                Some(Ok(_)) => {}
                                other => panic!("connection ended: {other:?}"),
                            }
                        }
                    }
                    start.elapsed()
                }
            });
        });
        drop(ws);
        rt.block_on(sim.shutdown());
    }
    group.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
