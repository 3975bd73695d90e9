//! Bus throughput and latency, each next to a baseline measured in the same run.
//!
//! - `bus_memory/*`: publish N envelopes (`bus`: with `publish_batch`;
//!   `bus_one_by_one`: one `publish` each), take and ack each through the fair
//!   scheduler (one consumer task), vs. `baseline_mpsc`: the same envelopes through a
//!   bare bounded tokio mpsc channel. Timed: from the first publish to the last ack/recv.
//! - `bus_redis/*`: the same through the Redis Streams backend (`publish_batch`, fetch,
//!   batched acks), vs. `baseline/fred_pipelined`: bare fred XADD / XREADGROUP / XACK
//!   loops in pipelined batches of 100. Needs `redis-server` on PATH (a throwaway
//!   instance is started) or `SWITCHBOARD_BENCH_REDIS_URL`; skipped otherwise.
//! - After the criterion groups, a latency run prints p50/p99/p999 of publish→receive
//!   for one envelope at a time on the in-process bus and the mpsc baseline.
//! - Then a fairness run: a quiet tenant publishing one envelope every 2 ms, alone
//!   (its baseline) and behind a flooding tenant's backlog of 40,000, through 4
//!   consumers that each spend 50 µs per envelope, on both backends (the default
//!   per-tenant in-flight cap of 4). It prints the quiet tenant's publish→delivery
//!   p50/p99 both ways and their ratio.
//!
//! Setup (building envelopes, starting Redis) is outside the timed sections. The
//! bench runs on the daemon's allocator (mimalloc), baselines included.

#[path = "../tests/common/redis.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use fred::prelude::*;
use fred::types::streams::XReadResponse;
use switchboard::bus::{Bus, BusConfig, RedisBusConfig, SchedulerConfig};
use switchboard::model::{Envelope, Event, MemberLeft, Payload, TenantId, UserRef, encode};

/// The daemon binary's allocator: the bus measured as the daemon runs it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn envelopes(n: usize, tenants: usize) -> Vec<Envelope> {
    (0..n)
        .map(|i| {
            let t = TenantId::parse("discord", &format!("t{}", i % tenants)).unwrap();
            let ev = Event::MemberLeft(MemberLeft {
                guild_id: "111111111111111111".into(),
                user: UserRef {
                    id: i.to_string(),
                    name: "mallard".into(),
                    display_name: None,
                    bot: false,
                },
            });
            Envelope::new("promethean", &t, Payload::Event(ev)).unwrap()
        })
        .collect()
}

fn config() -> BusConfig {
    BusConfig {
        scheduler: SchedulerConfig {
            max_in_flight_per_tenant: 1 << 20,
            queue_bound_per_tenant: 1 << 20,
            quantum: 1,
        },
        ..BusConfig::default()
    }
}

/// How the benchmark publishes.
#[derive(Clone, Copy)]
enum Publish {
    /// One `publish_batch` call.
    Batch,
    /// One `publish` call per envelope.
    OneByOne,
}

async fn through_bus(bus: &Bus, envs: Vec<Envelope>, how: Publish) {
    let n = envs.len();
    let consumer = {
        let bus = bus.clone();
        tokio::spawn(async move {
            for _ in 0..n {
                let d = bus.next().await.expect("delivery");
                bus.ack(d).await.expect("ack");
            }
        })
    };
    match how {
        Publish::Batch => bus.publish_batch(envs).await.expect("publish"),
        Publish::OneByOne => {
            for e in envs {
                bus.publish(e).await.expect("publish");
            }
        }
    }
    consumer.await.expect("consumer");
}

async fn through_mpsc(envs: Vec<Envelope>) {
    let n = envs.len();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Envelope>(1024);
    let consumer = tokio::spawn(async move {
        for _ in 0..n {
            std::hint::black_box(rx.recv().await.expect("recv"));
        }
    });
    for e in envs {
        tx.send(e).await.expect("send");
    }
    consumer.await.expect("consumer");
}

fn memory(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut g = c.benchmark_group("bus_memory");
    for tenants in [1usize, 20] {
        let n = 10_000;
        g.throughput(Throughput::Elements(n as u64));
        for (name, how) in [
            ("bus", Publish::Batch),
            ("bus_one_by_one", Publish::OneByOne),
        ] {
            g.bench_with_input(BenchmarkId::new(name, tenants), &tenants, |b, &tenants| {
                b.to_async(&rt).iter_custom(|iters| async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let bus = Bus::memory(config());
                        let envs = envelopes(n, tenants);
                        let start = Instant::now();
                        through_bus(&bus, envs, how).await;
                        total += start.elapsed();
                        bus.close().await;
                    }
                    total
                });
            });
        }
        g.bench_with_input(
            BenchmarkId::new("baseline_mpsc", tenants),
            &tenants,
            |b, &tenants| {
                b.to_async(&rt).iter_custom(|iters| async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let envs = envelopes(n, tenants);
                        let start = Instant::now();
                        through_mpsc(envs).await;
                        total += start.elapsed();
                    }
                    total
                });
            },
        );
    }
    g.finish();
}

async fn fred_client(url: &str) -> Client {
    let c = Client::new(Config::from_url(url).expect("url"), None, None, None);
    c.init().await.expect("connect");
    c
}

/// Bare fred: XADD in pipelines of 100, XREADGROUP COUNT 100, XACK in pipelines.
async fn fred_pipelined(url: &str, key: &str, envs: &[Vec<u8>]) {
    let writer = fred_client(url).await;
    let reader = fred_client(url).await;
    let _: Result<Value, _> = writer.xgroup_create(key, "g", "0", true).await;
    let n = envs.len();
    let consume = {
        let key = key.to_owned();
        tokio::spawn(async move {
            let mut got = 0;
            while got < n {
                let resp: XReadResponse<String, String, String, fred::bytes::Bytes> = reader
                    .xreadgroup_map("g", "c", Some(100), Some(1000), false, key.as_str(), ">")
                    .await
                    .expect("read");
                let ids: Vec<String> = resp.into_values().flatten().map(|(id, _)| id).collect();
                got += ids.len();
                if !ids.is_empty() {
                    let p = reader.pipeline();
                    let _: Value = p.xack(key.as_str(), "g", ids.clone()).await.expect("queue");
                    let _: Value = p.xdel(key.as_str(), ids).await.expect("queue");
                    let _: Vec<Value> = p.all().await.expect("ack");
                }
            }
        })
    };
    for chunk in envs.chunks(100) {
        let p = writer.pipeline();
        for e in chunk {
            let _: Value = p
                .xadd(
                    key,
                    false,
                    None::<()>,
                    "*",
                    vec![("e", Value::Bytes(e.clone().into()))],
                )
                .await
                .expect("queue");
        }
        let _: Vec<Value> = p.all().await.expect("xadd");
    }
    consume.await.expect("consumer");
}

fn redis(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (url, _server) = match rt.block_on(redis_server::TestRedis::for_bench()) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("bus_redis: skipped ({e})");
            return;
        }
    };
    let mut g = c.benchmark_group("bus_redis");
    g.sample_size(10);
    let n = 5_000;
    g.throughput(Throughput::Elements(n as u64));
    for tenants in [20usize, 1000] {
        g.bench_function(format!("bus_{tenants}_tenants"), |b| {
            let url = url.clone();
            b.to_async(&rt).iter_custom(|iters| {
                let url = url.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for i in 0..iters {
                        let prefix = format!("bench{}{i}", rand::random::<u32>());
                        let bus = Bus::redis(config(), RedisBusConfig::new(url.clone(), prefix))
                            .await
                            .expect("bus");
                        // Tenants exist before their traffic, as in a running node.
                        for t in 0..tenants {
                            let id = TenantId::parse("discord", &format!("t{t}")).unwrap();
                            bus.register_tenant(&id).await.expect("register");
                        }
                        let envs = envelopes(n, tenants);
                        let start = Instant::now();
                        through_bus(&bus, envs, Publish::Batch).await;
                        total += start.elapsed();
                        bus.close().await;
                    }
                    total
                }
            });
        });
    }
    g.bench_function("baseline_fred_pipelined", |b| {
        let url = url.clone();
        b.to_async(&rt).iter_custom(|iters| {
            let url = url.clone();
            async move {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let key = format!("benchraw{}{i}", rand::random::<u32>());
                    let envs: Vec<Vec<u8>> = envelopes(n, 20)
                        .iter()
                        .map(|e| encode(e).expect("encode"))
                        .collect();
                    let start = Instant::now();
                    fred_pipelined(&url, &key, &envs).await;
                    total += start.elapsed();
                }
                total
            }
        });
    });
    g.finish();
}

fn percentiles(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "latency {name}: p50 {:?}  p99 {:?}  p999 {:?}  ({} samples)",
        at(0.5),
        at(0.99),
        at(0.999),
        samples.len()
    );
}

fn latency() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let bus = Bus::memory(config());
        let mut samples = Vec::with_capacity(20_000);
        for e in envelopes(20_000, 20) {
            let start = Instant::now();
            bus.publish(e).await.expect("publish");
            let d = bus.next().await.expect("delivery");
            samples.push(start.elapsed());
            bus.ack(d).await.expect("ack");
        }
        percentiles("bus_memory publish->next", samples);
        bus.close().await;

        let (tx, mut rx) = tokio::sync::mpsc::channel::<Envelope>(1024);
        let mut samples = Vec::with_capacity(20_000);
        for e in envelopes(20_000, 20) {
            let start = Instant::now();
            tx.send(e).await.expect("send");
            std::hint::black_box(rx.recv().await);
            samples.push(start.elapsed());
        }
        percentiles("baseline_mpsc send->recv", samples);
    });
}

/// The quiet tenant's publish→delivery latencies, with `flood` envelopes of another
/// tenant queued ahead of it.
async fn quiet_latencies(bus: &Bus, flood: usize) -> Vec<Duration> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    const QUIET: usize = 200;
    let started: Arc<dashmap::DashMap<String, Instant>> = Arc::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Duration>();
    let done = Arc::new(AtomicBool::new(false));
    let quiet = TenantId::parse("discord", "quiet").unwrap();
    let flooder = TenantId::parse("discord", "flood").unwrap();
    for t in [&quiet, &flooder] {
        bus.register_tenant(t).await.expect("register");
    }
    let mut consumers = Vec::new();
    for _ in 0..4 {
        let (bus, started, tx, done) = (
            bus.clone(),
            Arc::clone(&started),
            tx.clone(),
            Arc::clone(&done),
        );
        consumers.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let Ok(Some(d)) =
                    tokio::time::timeout(Duration::from_millis(100), bus.next()).await
                else {
                    continue;
                };
                if let Some((_, at)) = started.remove(&d.envelope.id.to_string()) {
                    let _ = tx.send(at.elapsed());
                }
                // The handler's work.
                let spin = Instant::now();
                while spin.elapsed() < Duration::from_micros(50) {
                    std::hint::spin_loop();
                }
                bus.ack(d).await.expect("ack");
            }
        }));
    }
    let mut flood_envs = envelopes(flood, 1);
    for e in &mut flood_envs {
        *e = Envelope::new("promethean", &flooder, e.payload.clone()).unwrap();
    }
    if flood > 0 {
        bus.publish_batch(flood_envs).await.expect("flood");
    }
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    for e in envelopes(QUIET, 1) {
        tick.tick().await;
        let e = Envelope::new("promethean", &quiet, e.payload).unwrap();
        started.insert(e.id.to_string(), Instant::now());
        bus.publish(e).await.expect("publish");
    }
    let mut samples = Vec::with_capacity(QUIET);
    while samples.len() < QUIET {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some(d)) => samples.push(d),
            _ => break,
        }
    }
    done.store(true, Ordering::Relaxed);
    for c in consumers {
        let _ = c.await;
    }
    samples
}

fn p(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    samples[((samples.len() as f64 * q) as usize).min(samples.len().saturating_sub(1))]
}

fn fairness() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let server = redis_server::TestRedis::try_start().await.ok();
        for backend in ["memory", "redis"] {
            let mut figures = Vec::new();
            for flood in [0usize, 40_000] {
                let bus = match (backend, &server) {
                    ("memory", _) => Bus::memory(BusConfig::default()),
                    (_, Some(s)) => {
                        let prefix = format!("fair{}", rand::random::<u32>());
                        Bus::redis(BusConfig::default(), RedisBusConfig::new(s.url(), prefix))
                            .await
                            .expect("bus")
                    }
                    _ => {
                        eprintln!("fairness on redis: skipped (no redis-server)");
                        break;
                    }
                };
                let mut samples = quiet_latencies(&bus, flood).await;
                bus.close().await;
                if samples.is_empty() {
                    println!("fairness {backend} flood {flood}: no samples");
                    continue;
                }
                let (p50, p99) = (p(&mut samples, 0.5), p(&mut samples, 0.99));
                println!(
                    "fairness {backend}: quiet tenant behind a backlog of {flood}: p50 {p50:?}  p99 {p99:?}  ({} samples)",
                    samples.len()
                );
                figures.push(p99);
            }
            if let [alone, behind] = figures[..] {
                println!(
                    "fairness {backend}: p99 behind the flood / alone = {:.2}",
                    behind.as_secs_f64() / alone.as_secs_f64()
                );
            }
        }
    });
}

criterion_group!(benches, memory, redis);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Only under `cargo bench` (which passes `--bench`): not when a test runner lists
    // or smoke-tests the benchmarks.
    if std::env::args().any(|a| a == "--bench") {
        latency();
        fairness();
    }
}
