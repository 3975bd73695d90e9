//! The bucket gate across a hand-over of the tenant's REST actor (a restart, another
//! node taking over), on the Redis bus: the next holder starts where the last one
//! stopped, so a window the last holder spent costs no 429.
//!
//! Each scenario spends a 3-per-4 s message window with one holder, then a new
//! holder — with a fresh [`BucketMemory`], as a restarted daemon or another node has
//! — sends into the same channel inside that window. Without the memory its first
//! request would probe straight into the spent window and meet a 429.

use std::time::Duration;

use fred::prelude::*;
use switchboard::actors::rest::{BucketMemory, BudgetConfig, RestConfig};
use switchboard::bus::{Bus, BusConfig, RedisBusConfig};
use switchboard::model::{RestResponse, TenantId};

use crate::redis_server::TestRedis;
use crate::support::{DUCK_APP, DUCK_TOKEN, World, channel, limit, post, sim_config};

const ROUTE: &str = "POST /channels/{channel_id}/messages";
const WINDOW: Duration = Duration::from_secs(4);

/// A world on a throwaway Redis bus whose message route allows 3 per [`WINDOW`].
async fn world(redis: &TestRedis) -> World {
    let mut config = sim_config(true);
    limit(&mut config, ROUTE, 3, WINDOW);
    let mut w = World::new(
        Some(config),
        &[("duck", DUCK_TOKEN)],
        BudgetConfig::default(),
    )
    .await;
    w.bus = Bus::redis(
        BusConfig::default(),
        RedisBusConfig::new(redis.url(), redis.prefix()),
    )
    .await
    .expect("Redis bus");
    w
}

fn ok(r: &RestResponse) {
    assert!(r.ok, "{r:?}");
}

/// Spends the window with the first holder and stops it cleanly.
async fn spend_and_stop(w: &mut World) {
    let api = w.api();
    w.start("duck", DUCK_APP, &api, RestConfig::default()).await;
    for n in 0..3 {
        ok(&w
            .request("duck", post(channel(0), &format!("first holder {n}")))
            .await);
    }
    let (rest, join) = w.rest.remove("duck").expect("started");
    rest.stop().await;
    let _ = join.await;
}

/// The next holder must be running while the window is still spent, or the
/// scenario proves nothing (starting an in-process actor takes milliseconds).
fn meaningful(spent: std::time::Instant) {
    assert!(
        spent.elapsed() < WINDOW,
        "the hand-over took longer than the window ({:?})",
        spent.elapsed()
    );
}

fn ratelimited(w: &World) -> u64 {
    let s = w.sim().stats().tenant("duck");
    s.ratelimited_bucket + s.ratelimited_global + s.ratelimited_shared
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_hand_over_keeps_the_spent_window() {
    let redis = TestRedis::start().await;
    let mut w = world(&redis).await;
    spend_and_stop(&mut w).await;
    let spent = std::time::Instant::now();

    // The next holder (fresh memory: it reads what the last one handed over).
    let api = w.api();
    w.start("duck", DUCK_APP, &api, RestConfig::default()).await;
    meaningful(spent);
    ok(&w.request("duck", post(channel(0), "next holder")).await);
    assert_eq!(ratelimited(&w), 0, "the next holder waited for the window");
    // The state was taken: a second holder after this one would be careful.
    let client = redis.client().await;
    let key = BucketMemory::redis_key(redis.prefix(), &TenantId::parse("discord", "duck").unwrap());
    let fields: Vec<String> = client.hkeys(&key).await.expect("HKEYS");
    assert_eq!(fields, vec!["layout".to_owned()], "state is read once");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_holder_died_the_next_one_waits_out_the_window() {
    let redis = TestRedis::start().await;
    let mut w = world(&redis).await;
    spend_and_stop(&mut w).await;
    // What a killed holder leaves behind: the layout it saved as it learned, and no
    // state (that is written only by a clean stop).
    let client = redis.client().await;
    let key = BucketMemory::redis_key(redis.prefix(), &TenantId::parse("discord", "duck").unwrap());
    let removed: u64 = client.hdel(&key, "state").await.expect("HDEL");
    assert_eq!(removed, 1, "the clean stop had saved the state");
    let spent = std::time::Instant::now();

    let api = w.api();
    w.start("duck", DUCK_APP, &api, RestConfig::default()).await;
    meaningful(spent);
    ok(&w.request("duck", post(channel(0), "next holder")).await);
    assert_eq!(ratelimited(&w), 0, "the next holder was careful");
    w.shutdown().await;
}
