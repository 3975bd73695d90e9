//! Backfill: 1,000 injected messages paged with `FetchHistory` (limit 100) under the
//! per-tenant backfill cap, with zero 429s in both Scope modes.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::join_all;
use switchboard::actors::rest::{BudgetConfig, RestConfig};
use switchboard::model::{Command, FetchHistory, RestResult, SocialMessageCreated};
use switchboard::sim::InjectMessage;

use crate::support::{DUCK_APP, DUCK_TOKEN, GUILD, World, channel, limit, sim_config, user};

const ROUTE: &str = "GET /channels/{channel_id}/messages";
const CHANS: u64 = 4;
const PER_CHANNEL: u64 = 250;
const CAP: usize = 2;

async fn page(w: &World, chan: u64, before: Option<String>) -> Vec<SocialMessageCreated> {
    let r = w
        .request(
            "duck",
            Command::FetchHistory(FetchHistory {
                channel_id: chan.to_string(),
                before,
                after: None,
                limit: 100,
            }),
        )
        .await;
    match r.result {
        Some(RestResult::History(p)) => p,
        _ => panic!("not a page: {r:?}"),
    }
}

async fn backfill(scope_on_2xx: bool) {
    let mut c = sim_config(scope_on_2xx);
    limit(&mut c, ROUTE, 5, Duration::from_millis(250));
    let mut w = World::new(Some(c), &[("duck", DUCK_TOKEN)], BudgetConfig::default()).await;
    for i in 0..CHANS {
        for n in 0..PER_CHANNEL {
            w.sim()
                .inject_message(InjectMessage::guild(
                    GUILD,
                    channel(i),
                    user(42, "mallard"),
                    &format!("old {n}"),
                ))
                .expect("injected");
        }
    }
    let api = w.api();
    let config = RestConfig {
        backfill_concurrency: CAP,
        ..RestConfig::default()
    };
    w.start("duck", DUCK_APP, &api, config).await;

    // Noise: many first pages at once, beyond both the cap and the buckets.
    let noise = join_all((0..CHANS * 6).map(|i| page(&w, channel(i % CHANS), None)));
    // The backfill proper: every channel paged to its start, concurrently.
    let walks = join_all((0..CHANS).map(|i| {
        let w = &w;
        async move {
            let mut seen = Vec::new();
            let mut before = None;
            loop {
                let p = page(w, channel(i), before.clone()).await;
                if p.is_empty() {
                    return seen;
                }
                before = p.last().map(|m| m.message_id.clone());
                seen.extend(p);
            }
        }
    }));
    let (noise, walks) = tokio::join!(noise, walks);
    assert!(noise.iter().all(|p| p.len() == 100));
    let mut total = 0;
    for (i, seen) in walks.iter().enumerate() {
        let ids: HashSet<_> = seen.iter().map(|m| m.message_id.as_str()).collect();
        assert_eq!(ids.len() as u64, PER_CHANNEL, "channel {i}");
        assert!(seen.iter().all(|m| m.author.id == "42" && !m.from_self));
        total += ids.len();
    }
    assert_eq!(total, 1_000);
    let stats = w.sim().stats().tenant("duck");
    let health = w.rest("duck").health();
    println!(
        "backfill scope_on_2xx={scope_on_2xx}: {total} messages, {} requests, \
         emulator 429s {}, peak concurrency {} (cap {CAP})",
        stats.requests,
        stats.ratelimited(),
        health.backfill_peak
    );
    assert_eq!(stats.ratelimited(), 0);
    assert_eq!(health.ratelimited, 0);
    assert!(health.backfill_peak as usize <= CAP);
    assert_eq!(health.backfill_peak as usize, CAP, "the cap was reached");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_without_scope_on_2xx() {
    backfill(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_with_scope_on_2xx() {
    backfill(true).await;
}
