//! Every worker-group scenario on the Redis Streams backend, plus what only Redis
//! does: a group's entries wait in the stream for that group (however far the
//! others are), and a dead node's entries are claimed by another node of the same
//! group.

use std::time::Duration;

use fred::prelude::*;
use switchboard::bus::{Bus, BusConfig, DEFAULT_GROUP, RedisBusConfig};
use switchboard::model::Priority;

use crate::common::eventually;
use crate::common::redis::TestRedis;
use crate::scenarios;
use crate::support::{
    Counting, Guard, INDEXER, WAIT, group_config, message, serving, start_group_pool, tenant,
};

fn redis_config(server: &TestRedis) -> RedisBusConfig {
    RedisBusConfig {
        claim_idle: Duration::from_millis(1500),
        block: Duration::from_millis(100),
        ..RedisBusConfig::new(server.url(), server.prefix())
    }
}

async fn make(config: BusConfig) -> (Bus, Guard) {
    let server = TestRedis::start().await;
    let bus = Bus::redis(config, redis_config(&server))
        .await
        .expect("redis bus");
    (bus, Box::new(server))
}

scenarios::all!(make);

/// A node running only the groups `only`.
async fn node(server: &TestRedis, name: &str, only: &[&str]) -> Bus {
    let mut cfg = group_config(3);
    cfg.node_id = name.to_owned();
    // Room for a node to hold every envelope of one tenant at once.
    cfg.scheduler.max_in_flight_per_tenant = 10;
    cfg.consume_groups = Some(only.iter().map(|g| (*g).to_owned()).collect());
    Bus::redis(cfg, redis_config(server)).await.unwrap()
}

fn inbox(server: &TestRedis) -> String {
    format!(
        "{}:{{discord:t0}}:inbox:{}",
        server.prefix(),
        Priority::Message.as_str()
    )
}

/// With only the bot group running, acked entries stay in the stream for the
/// indexer group (its lag is theirs), and leave it once the indexer — started
/// later, on another node — is done with them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_stay_until_every_group_is_done() {
    let server = TestRedis::start().await;
    let client = server.client().await;
    let a = node(&server, "node-bot", &[DEFAULT_GROUP]).await;
    let bot = Counting::default();
    let bot_pool = start_group_pool(&a, DEFAULT_GROUP, serving(1, bot.clone()), 2).await;
    let n = 20;
    for _ in 0..n {
        a.publish(message(&tenant(0), "keep me")).await.unwrap();
    }
    eventually(WAIT, || {
        let (handled, _) = bot.once_each();
        async move { handled == n }
    })
    .await;
    // The bot group's acks have been written (its pending count is back to zero).
    eventually(WAIT, || {
        let a = a.clone();
        async move {
            let b = a.backlog().await.unwrap();
            b.groups[0].lag() == 0 && b.groups[0].pending() == 0
        }
    })
    .await;
    let len: u64 = client.xlen(inbox(&server)).await.unwrap();
    assert_eq!(
        len, n as u64,
        "acked by the bot group, kept for the indexer"
    );
    let backlog = a.backlog().await.unwrap();
    assert_eq!(backlog.groups[1].group, INDEXER);
    assert_eq!(backlog.groups[1].lag(), n as u64, "the indexer's own lag");

    let b = node(&server, "node-indexer", &[INDEXER]).await;
    let indexer = Counting::default();
    let idx_pool = start_group_pool(&b, INDEXER, serving(1, indexer.clone()), 2).await;
    eventually(WAIT, || {
        let (handled, _) = indexer.once_each();
        async move { handled == n }
    })
    .await;
    eventually(WAIT, || {
        let client = client.clone();
        let key = inbox(&server);
        async move { client.xlen::<u64, _>(key).await.unwrap() == 0 }
    })
    .await;
    assert_eq!(bot.once_each(), (n, true));
    assert_eq!(indexer.once_each(), (n, true));
    bot_pool.shutdown().await;
    idx_pool.shutdown().await;
    a.close().await;
    b.close().await;
}

/// An indexer node takes five envelopes and dies holding them: another indexer
/// node claims and handles them; the bot group, meanwhile, handles them once on
/// its own. Nothing lost, nothing twice, and the stream ends empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_group_nodes_entries_are_claimed_by_its_group() {
    let server = TestRedis::start().await;
    let client = server.client().await;
    let n = 5;
    let dying = node(&server, "node-dying", &[INDEXER]).await;
    let idx = dying.group(INDEXER).unwrap();
    for _ in 0..n {
        dying.publish(message(&tenant(0), "orphan")).await.unwrap();
    }
    let mut taken = Vec::new();
    while taken.len() < n {
        let d = tokio::time::timeout(WAIT, dying.next_for(idx))
            .await
            .unwrap()
            .unwrap();
        taken.push(d);
    }
    // Dies without settling anything: the entries stay pending on its consumer.
    drop(taken);
    dying.close().await;

    let c = node(&server, "node-c", &[DEFAULT_GROUP, INDEXER]).await;
    let (bot, indexer) = (Counting::default(), Counting::default());
    let bot_pool = start_group_pool(&c, DEFAULT_GROUP, serving(1, bot.clone()), 2).await;
    let idx_pool = start_group_pool(&c, INDEXER, serving(1, indexer.clone()), 2).await;
    eventually(WAIT, || {
        let done = indexer.once_each().0 == n && bot.once_each().0 == n;
        async move { done }
    })
    .await;
    eventually(WAIT, || {
        let client = client.clone();
        let key = inbox(&server);
        async move { client.xlen::<u64, _>(key).await.unwrap() == 0 }
    })
    .await;
    assert_eq!(
        indexer.once_each(),
        (n, true),
        "claimed and handled once each"
    );
    assert_eq!(bot.once_each(), (n, true), "the bot group, once each");
    let info: String = client
        .custom(fred::cmd!("INFO"), vec!["commandstats"])
        .await
        .unwrap();
    assert!(
        info.contains("cmdstat_xautoclaim"),
        "the entries were claimed (XAUTOCLAIM ran)"
    );
    bot_pool.shutdown().await;
    idx_pool.shutdown().await;
    c.close().await;
}

/// Every worker group has its consumer group on every inbox stream, created at
/// registration (`workers` for the default, `workers:<name>` for the others).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_group_has_its_consumer_group() {
    let server = TestRedis::start().await;
    let client = server.client().await;
    let a = node(&server, "node-a", &[]).await;
    a.register_tenant(&tenant(0)).await.unwrap();
    let groups: Vec<Vec<Value>> = client.xinfo_groups(inbox(&server)).await.unwrap();
    let mut names: Vec<String> = groups
        .into_iter()
        .filter_map(|g| {
            g.chunks(2)
                .find(|kv| kv[0].as_str().as_deref() == Some("name"))
                .and_then(|kv| kv[1].as_string())
        })
        .collect();
    names.sort();
    assert_eq!(names, ["workers", "workers:indexer"]);
    a.close().await;
}

/// Redis loses its data (`FLUSHALL`): the `NOGROUP` recovery re-creates every
/// worker group's consumer group, and both groups go on handling every envelope.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_groups_consumer_group_is_recreated_after_redis_lost_its_data() {
    let server = TestRedis::start().await;
    let client = server.client().await;
    let bus = node(&server, "node-a", &[DEFAULT_GROUP, INDEXER]).await;
    bus.register_tenant(&tenant(0)).await.unwrap();
    let (bot, indexer) = (Counting::default(), Counting::default());
    let bot_pool = start_group_pool(&bus, DEFAULT_GROUP, serving(1, bot.clone()), 2).await;
    let idx_pool = start_group_pool(&bus, INDEXER, serving(1, indexer.clone()), 2).await;
    for _ in 0..5 {
        bus.publish(message(&tenant(0), "before")).await.unwrap();
    }
    eventually(WAIT, || {
        let done = bot.once_each().0 == 5 && indexer.once_each().0 == 5;
        async move { done }
    })
    .await;
    let _: () = client.flushall(false).await.unwrap();
    for _ in 0..5 {
        bus.publish(message(&tenant(0), "after")).await.unwrap();
    }
    eventually(WAIT, || {
        let done = bot.once_each().0 == 10 && indexer.once_each().0 == 10;
        async move { done }
    })
    .await;
    assert_eq!(bot.once_each(), (10, true));
    assert_eq!(indexer.once_each(), (10, true));
    bot_pool.shutdown().await;
    idx_pool.shutdown().await;
    bus.close().await;
}

/// Not a check but a measurement (`cargo nextest run --test groups --run-ignored
/// only measure --no-capture`): 5,000 envelopes across 20 tenants published in one
/// batch and drained with acks, by the default group alone and by two groups at once
/// (acks through `ACK_DEL`). Prints both times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run explicitly"]
async fn measure_one_group_vs_two() {
    let server = TestRedis::start().await;
    let n = 5_000;
    let tenants = 20;
    for groups in [Vec::new(), vec![INDEXER.to_owned()]] {
        let mut cfg = group_config(3);
        cfg.scheduler.max_in_flight_per_tenant = 1 << 20;
        cfg.scheduler.queue_bound_per_tenant = 1 << 20;
        cfg.groups = groups.clone();
        let prefix = format!("{}{}", server.prefix(), groups.len());
        let bus = Bus::redis(cfg, RedisBusConfig::new(server.url(), prefix))
            .await
            .unwrap();
        for t in 0..tenants {
            bus.register_tenant(&tenant(t)).await.unwrap();
        }
        let envs: Vec<_> = (0..n).map(|i| message(&tenant(i % tenants), "m")).collect();
        let start = std::time::Instant::now();
        let consumers: Vec<_> = bus
            .group_names()
            .iter()
            .map(|name| {
                let bus = bus.clone();
                let id = bus.group(name).unwrap();
                tokio::spawn(async move {
                    for _ in 0..n {
                        let d = bus.next_for(id).await.unwrap();
                        bus.ack(d).await.unwrap();
                    }
                })
            })
            .collect();
        bus.publish_batch(envs).await.unwrap();
        for c in consumers {
            c.await.unwrap();
        }
        let drained = start.elapsed();
        println!(
            "groups {}: {n} envelopes, {tenants} tenants: {drained:?} ({:.0}/s per group)",
            groups.len() + 1,
            n as f64 / drained.as_secs_f64()
        );
        bus.close().await;
    }
}
