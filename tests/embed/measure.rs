//! Figures, not assertions (ignored by default): fetch throughput from the
//! emulator's CDN, embedder throughput against the local server, the rate limiter's
//! cost. Run: `cargo nextest run --test embed --run-ignored only measure --no-capture`
//! (a debug build unless `--release`).

use std::time::{Duration, Instant};

use secrecy::SecretString;
use switchboard::TenantId;
use switchboard::config::EmbeddingsConfig;
use switchboard::embed::{Embedder, OpenAiEmbedder, TenantRateLimiter};
use switchboard::handler::{FetchLimits, HttpFetcher};
use switchboard::sim::{InjectMessage, SimAttachment};

use crate::common::embed_server::EmbedServer;
use crate::support::{CHANNEL, GUILD, alice, sim};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement"]
async fn measure_fetch_throughput() {
    let sim = sim().await;
    let mib = vec![0xabu8; 1 << 20];
    for _ in 0..20 {
        sim.inject_message_with_attachments(
            InjectMessage::guild(GUILD, CHANNEL, alice(), "f"),
            vec![SimAttachment::new(
                "f.bin",
                "application/octet-stream",
                mib.clone(),
            )],
        )
        .unwrap();
    }
    let urls: Vec<String> = sim
        .all_channel_messages(CHANNEL)
        .iter()
        .map(|m| {
            m.message["attachments"][0]["url"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let fetcher = HttpFetcher::new(FetchLimits::default()).unwrap();
    let mut each = Vec::new();
    let started = Instant::now();
    for _ in 0..10 {
        for u in &urls {
            let t = Instant::now();
            assert_eq!(fetcher.fetch(u).await.unwrap().bytes.len(), 1 << 20);
            each.push(t.elapsed());
        }
    }
    let total = started.elapsed();
    each.sort();
    println!(
        "fetch: {} × 1 MiB sequential in {total:?}: {:.0} MiB/s, p50 {:?}, p99 {:?}",
        each.len(),
        each.len() as f64 / total.as_secs_f64(),
        each[each.len() / 2],
        each[each.len() * 99 / 100]
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement"]
async fn measure_embedder_throughput() {
    let server = EmbedServer::start().await;
    let embedder = OpenAiEmbedder::new(&EmbeddingsConfig {
        url: server.url().to_owned(),
        model: "m".into(),
        secret: "k".into(),
        dimension: None,
        batch: 64,
        rate_per_sec: 100_000,
        burst: None,
        max_retries: 0,
        timeout_ms: 30_000,
    })
    .unwrap();
    let texts: Vec<String> = (0..10_000)
        .map(|i| format!("message {i}: the quick brown fox jumps over the lazy dog"))
        .collect();
    let tenant = TenantId::parse("discord", "duck").unwrap();
    let started = Instant::now();
    let v = embedder
        .embed(&tenant, &SecretString::from("k"), &texts)
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(v.len(), 10_000);
    println!(
        "embed: 10,000 texts in {} requests of ≤64 in {took:?}: {:.0} texts/s",
        server.requests(),
        10_000.0 / took.as_secs_f64()
    );
}

#[test]
#[ignore = "a measurement"]
fn measure_rate_limiter_reserve() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let limiter = TenantRateLimiter::new(u32::MAX, u32::MAX);
    let tenants: Vec<TenantId> = (0..100)
        .map(|i| TenantId::parse("discord", &format!("t{i}")).unwrap())
        .collect();
    let n = 1_000_000;
    let started = Instant::now();
    for i in 0..n {
        assert_eq!(limiter.reserve(&tenants[i % 100]), Duration::ZERO);
    }
    println!(
        "rate limiter: {:?} per reserve over 100 tenants",
        started.elapsed() / n as u32
    );
}
