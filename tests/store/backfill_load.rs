//! A measurement, not a check (ignored by default): the bot's `!ping` → `pong`
//! latency idle and while a 5,000-message backfill runs in a worker group of its
//! own, on both backends. Prints p50/p99/max of both phases and their ratio, the
//! backfill's duration and rows per second, and the emulator's 429 count; asserts
//! the backfill ends with exactly 5,000 rows and no 429.
//!
//! `cargo nextest run --release --test store backfill_load --run-ignored only --no-capture`

use std::time::{Duration, Instant};

use switchboard::sim::{DEMO_CHANNELS, DEMO_GUILD, InjectMessage, SimHandle, SimUser};
use switchboard::store::indexer::BackfillRequest;

use crate::support::{TestDb, publish, registry_yaml, start_runtime, start_sim, tenant, until};

const HISTORY: u64 = 5_000;
const HISTORY_ROWS: i64 = 5_000;
/// Pings per phase, one every 1.2 s (within the channel's 5 per 5 s for replies).
const PINGS: usize = 25;

fn user(id: u64, name: &str) -> SimUser {
    SimUser {
        id,
        username: name.into(),
        bot: false,
    }
}

/// Posts `!ping` and waits for the bot's `pong`: the round trip.
async fn ping(sim: &SimHandle, n: usize) -> Duration {
    let channel = DEMO_CHANNELS[0];
    let before = sim.channel_messages(channel).len();
    let started = Instant::now();
    sim.inject_message(InjectMessage::guild(
        DEMO_GUILD,
        channel,
        user(5, "pinger"),
        "!ping",
    ))
    .unwrap();
    loop {
        let msgs = sim.channel_messages(channel);
        if msgs[before..]
            .iter()
            .any(|m| m.tenant.is_some() && m.content == "pong")
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "ping {n} unanswered"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn phase(sim: &SimHandle) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(PINGS);
    for n in 0..PINGS {
        let t = Instant::now();
        lat.push(ping(sim, n).await);
        tokio::time::sleep(Duration::from_millis(1200).saturating_sub(t.elapsed())).await;
    }
    lat.sort();
    lat
}

fn pct(v: &[Duration], p: f64) -> f64 {
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i].as_secs_f64() * 1000.0
}

async fn backfill_load(db: &TestDb) {
    let extra = "  groups:\n    indexer: { workers: 2, handlers: [backfill] }\n";
    let yaml = registry_yaml(db, extra, &[("bl", Some("[ping]"))]);
    let sim = start_sim(&yaml, |_| {}).await;
    let history = DEMO_CHANNELS[1];
    for n in 0..HISTORY {
        sim.inject_message(InjectMessage::guild(
            DEMO_GUILD,
            history,
            user(77, "historian"),
            &format!("old {n}"),
        ))
        .unwrap();
    }
    let runtime = start_runtime(&sim, &yaml, |b| b).await;
    let bl = tenant("bl");
    // Warm-up: the first round trips open connections and fill caches.
    for n in 0..3 {
        ping(&sim, n).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let idle = phase(&sim).await;
    let store = runtime.store_for(&bl).unwrap();
    let started = Instant::now();
    let request = BackfillRequest {
        channel: history.to_string(),
        limit: None,
    };
    publish(&runtime, &bl, switchboard::model::Event::Job(request.job())).await;
    let busy = phase(&sim).await;
    until(Duration::from_secs(600), "5,000 rows", || async {
        store.messages_count().await.unwrap() == HISTORY_ROWS
    })
    .await;
    let took = started.elapsed().as_secs_f64();
    let limited: u64 = sim
        .stats()
        .tenants
        .values()
        .map(switchboard::sim::TenantStats::ratelimited)
        .sum();
    eprintln!(
        "{}: ping→pong idle p50 {:.1} ms p99 {:.1} ms max {:.1} ms | during backfill p50 {:.1} ms p99 {:.1} ms max {:.1} ms | p99 ratio {:.2} | backfill {HISTORY} rows in {took:.1} s ({:.0} rows/s) | 429s {limited}",
        db.name(),
        pct(&idle, 0.5),
        pct(&idle, 0.99),
        pct(&idle, 1.0),
        pct(&busy, 0.5),
        pct(&busy, 0.99),
        pct(&busy, 1.0),
        pct(&busy, 0.99) / pct(&idle, 0.99),
        HISTORY as f64 / took,
    );
    assert_eq!(store.messages_count().await.unwrap(), HISTORY_ROWS);
    assert_eq!(limited, 0, "the backfill respected the rate limits");
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}

mod backfill_while_pinging {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement; run with --run-ignored"]
    async fn sqlite() {
        super::backfill_load(&crate::support::TestDb::sqlite()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement; run with --run-ignored"]
    async fn postgres() {
        super::backfill_load(&crate::support::TestDb::postgres().await).await;
    }
}
