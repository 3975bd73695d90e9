//! Vault benchmarks.
//!
//! What is timed:
//! - `vault/cached_read`: `Lease::secret()` on a live lease — the read path of every
//!   access-layer request (state and expiry checks, no actor round trip). Target: well
//!   under 1 µs.
//! - `vault/memory_grant`: `ScopedVault::lease` (a REST actor's scope, minted before
//!   the clock starts) on the memory backend, end to end
//!   (policy check, actor round trip, backend grant, handle with its renewer task).
//! - `vault/redis_grant`: the same on the Redis backend over loopback (one Lua script,
//!   one round trip). Target: p99 under 1 ms. After criterion's estimate, 5,000 more
//!   grants are timed one by one and p50/p90/p99/max printed, next to a bare Redis
//!   `PING` on the same connection as the loopback baseline.
//!
//! Leases granted inside a timed batch are kept alive until the batch ends, so a
//! release never runs inside the timed section. Redis: `SWITCHBOARD_BENCH_REDIS_URL`
//! if set, else a throwaway `redis-server` on a free port; skipped with a message if
//! neither is available. Run: `cargo bench --bench vault`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use fred::prelude::ClientLike as _;
use secrecy::{ExposeSecret, SecretString};
use switchboard::vault::VaultKeys;
use switchboard::vault::{
    Capability, Lease, MemoryBackend, RedisBackend, RedisOptions, ScopedVault, SecretKind,
    SecretPath, TenantId, VaultConfig, VaultHandle, VaultKey,
};
use tokio::runtime::Runtime;

#[path = "../tests/common/redis.rs"]
mod redis;

fn config() -> VaultConfig {
    VaultConfig {
        quota_per_principal: 1_000_000,
        ..VaultConfig::default()
    }
}

async fn seeded(vault: &VaultHandle) {
    vault
        .publish_tenant(
            "discord",
            "duck",
            [(
                "bot_token",
                SecretString::from("bench-token"),
                SecretKind::ProviderCredential,
            )],
        )
        .await
        .expect("publish");
}

fn token_path() -> SecretPath {
    "discord/duck/bot_token".parse().expect("valid path")
}

/// The REST actor's scope for `discord/duck`, minted once, outside the timed loop.
fn scope(vault: &VaultHandle) -> ScopedVault {
    vault.rest_scope(&TenantId::parse("discord", "duck").expect("valid tenant"))
}

async fn grant(who: &ScopedVault) -> Lease {
    who.lease(token_path(), Capability::ProviderRest, None)
        .await
        .expect("grant")
}

/// Times `iters` grants, keeping the leases alive until the clock stops.
async fn timed_grants(vault: &VaultHandle, iters: u64) -> Duration {
    let who = scope(vault);
    let mut held = Vec::with_capacity(iters as usize);
    let start = Instant::now();
    for _ in 0..iters {
        held.push(grant(&who).await);
    }
    let elapsed = start.elapsed();
    drop(held);
    // The releases are queued before this call: wait for them outside the timing.
    let _ = vault.stats().await;
    elapsed
}

fn bench_cached_read(c: &mut Criterion, rt: &Runtime) {
    let (vault, lease) = rt.block_on(async {
        let vault = VaultHandle::memory(config()).await.expect("vault");
        seeded(&vault).await;
        let lease = grant(&scope(&vault)).await;
        (vault, lease)
    });
    c.bench_function("vault/cached_read", |b| {
        b.iter(|| black_box(lease.secret().expect("live lease").expose_secret().len()));
    });
    drop(lease);
    vault.stop();
}

fn bench_memory_grant(c: &mut Criterion, rt: &Runtime) {
    let vault = rt.block_on(async {
        let vault = VaultHandle::spawn(config(), &VaultKeys::generate(), MemoryBackend::default())
            .await
            .expect("vault");
        seeded(&vault).await;
        vault
    });
    c.bench_function("vault/memory_grant", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let vault = vault.clone();
            async move { timed_grants(&vault, iters).await }
        });
    });
    let samples = rt.block_on(async {
        let who = scope(&vault);
        let mut samples = Vec::with_capacity(SAMPLES);
        let mut held = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let start = Instant::now();
            held.push(grant(&who).await);
            samples.push(start.elapsed());
        }
        drop(held);
        let _ = vault.stats().await;
        samples
    });
    report("vault/memory_grant", samples);
    vault.stop();
}

fn bench_redis_grant(c: &mut Criterion, rt: &Runtime) {
    let (url, _server) = match rt.block_on(redis::TestRedis::for_bench()) {
        Ok(found) => found,
        Err(e) => {
            println!("vault/redis_grant: skipped ({e}; or set SWITCHBOARD_BENCH_REDIS_URL)");
            return;
        }
    };
    let prefix = format!("bench{:08x}", rand::random::<u32>());
    let (vault, client) = rt.block_on(async {
        let key = VaultKey::generate();
        let backend =
            RedisBackend::connect(&RedisOptions::new(url, prefix), &VaultKeys::full(&key))
                .await
                .expect("connect to redis");
        let client = backend.client().clone();
        let vault = VaultHandle::spawn(config(), &VaultKeys::full(&key), backend)
            .await
            .expect("vault");
        seeded(&vault).await;
        (vault, client)
    });
    c.bench_function("vault/redis_grant", |b| {
        b.to_async(rt).iter_custom(|iters| {
            let vault = vault.clone();
            async move { timed_grants(&vault, iters).await }
        });
    });

    // Percentiles, which criterion does not report; a bare PING over the same
    // connection is the baseline (what loopback and the scheduler cost by themselves).
    let (grants, pings) = rt.block_on(async {
        let who = scope(&vault);
        let mut grants = Vec::with_capacity(SAMPLES);
        let mut pings = Vec::with_capacity(SAMPLES);
        let mut held = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let start = Instant::now();
            held.push(grant(&who).await);
            grants.push(start.elapsed());
            let start = Instant::now();
            let _: () = client.ping(None).await.expect("ping");
            pings.push(start.elapsed());
        }
        drop(held);
        let _ = vault.stats().await;
        (grants, pings)
    });
    report("vault/redis_grant", grants);
    report("redis PING baseline", pings);
    vault.stop();
}

const SAMPLES: usize = 5000;

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 - 1.0) * p) as usize];
    println!(
        "{what} latency over {} calls: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}",
        samples.len(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        samples[samples.len() - 1],
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut c = Criterion::default().configure_from_args();
    bench_cached_read(&mut c, &rt);
    bench_memory_grant(&mut c, &rt);
    bench_redis_grant(&mut c, &rt);
    c.final_summary();
}
