//! Backend-independent worker-group scenarios; each backend module instantiates
//! them with `all!`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use switchboard::bus::{Bus, BusConfig, DEFAULT_GROUP};
use switchboard::model::EnvelopeId;

use crate::common::eventually;
use crate::support::{
    Counting, Gated, Guard, INDEXER, WAIT, group_config, message, serving, start_group_pool, tenant,
};

/// Defines one `#[tokio::test]` per scenario for a backend constructor `$make`.
macro_rules! all {
    ($make:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn each_group_sees_each_event_once() {
            $crate::scenarios::each_group_sees_each_event_once($make).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_failure_is_retried_and_dead_lettered_in_its_group_only() {
            $crate::scenarios::a_failure_is_retried_and_dead_lettered_in_its_group_only($make)
                .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_blocked_group_does_not_delay_another() {
            $crate::scenarios::a_blocked_group_does_not_delay_another($make).await;
        }
    };
}
pub(crate) use all;

/// Two groups, several tenants, single publishes and batches: each group's handler
/// (the same handler name in both) handles each envelope exactly once.
pub(crate) async fn each_group_sees_each_event_once<F, Fut>(make: F)
where
    F: Fn(BusConfig) -> Fut,
    Fut: Future<Output = (Bus, Guard)>,
{
    let (bus, _guard) = make(group_config(3)).await;
    let tenants = 4;
    // As the runtime does at start.
    for i in 0..tenants {
        bus.register_tenant(&tenant(i)).await.unwrap();
    }
    let (bot, indexer) = (Counting::default(), Counting::default());
    let bot_pool = start_group_pool(&bus, DEFAULT_GROUP, serving(tenants, bot.clone()), 3).await;
    let idx_pool = start_group_pool(&bus, INDEXER, serving(tenants, indexer.clone()), 2).await;
    let mut n = 0;
    for i in 0..100 {
        bus.publish(message(&tenant(i % tenants), "one"))
            .await
            .unwrap();
        n += 1;
    }
    let batch: Vec<_> = (0..200)
        .map(|i| message(&tenant(i % tenants), "batch"))
        .collect();
    n += batch.len();
    bus.publish_batch(batch).await.unwrap();
    // Settled by both groups (a redelivery, skipped by the idempotency marks, would
    // be acked twice: the handler counts below are the exactness check).
    eventually(WAIT, || {
        let s = bus.stats();
        let done = s.groups.iter().all(|g| g.acked >= n as u64)
            && bot.once_each().0 == n
            && indexer.once_each().0 == n;
        async move { done }
    })
    .await;
    assert_eq!(bot.once_each(), (n, true), "the bot group, once each");
    assert_eq!(
        indexer.once_each(),
        (n, true),
        "the indexer group, once each"
    );
    let stats = bus.stats();
    let names: Vec<&str> = stats.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, [DEFAULT_GROUP, INDEXER]);
    assert!(
        stats
            .groups
            .iter()
            .all(|g| g.retried == 0 && g.dead_lettered == 0)
    );
    // Nothing is left behind for either group.
    eventually(WAIT, || {
        let bus = bus.clone();
        async move {
            let b = bus.backlog().await.unwrap();
            b.groups.len() == 2 && b.groups.iter().all(|g| g.lag() == 0 && g.pending() == 0)
        }
    })
    .await;
    bot_pool.shutdown().await;
    idx_pool.shutdown().await;
    bus.close().await;
}

/// Each group fails a different envelope for good: each is retried and
/// dead-lettered in its own group only (the other group ran it once), and a replay
/// of a dead letter goes back to its group alone.
pub(crate) async fn a_failure_is_retried_and_dead_lettered_in_its_group_only<F, Fut>(make: F)
where
    F: Fn(BusConfig) -> Fut,
    Fut: Future<Output = (Bus, Guard)>,
{
    let max = 3;
    let (bus, _guard) = make(group_config(max)).await;
    for i in 0..2 {
        bus.register_tenant(&tenant(i)).await.unwrap();
    }
    let (bot, indexer) = (
        Counting::failing("bot-poison"),
        Counting::failing("idx-poison"),
    );
    let bot_pool = start_group_pool(&bus, DEFAULT_GROUP, serving(2, bot.clone()), 2).await;
    let idx_pool = start_group_pool(&bus, INDEXER, serving(2, indexer.clone()), 2).await;
    let (bot_poison, idx_poison) = (
        message(&tenant(1), "bot-poison"),
        message(&tenant(0), "idx-poison"),
    );
    let (bot_id, idx_id) = (bot_poison.id, idx_poison.id);
    bus.publish(bot_poison).await.unwrap();
    bus.publish(idx_poison).await.unwrap();
    for i in 0..10 {
        bus.publish(message(&tenant(i % 2), "fine")).await.unwrap();
    }
    eventually(WAIT, || {
        let s = bus.stats();
        let done = s
            .groups
            .iter()
            .all(|g| g.dead_lettered == 1 && g.acked >= 11);
        async move { done }
    })
    .await;
    let attempts = |c: &Counting, id| c.attempts.get(&id).map(|a| *a);
    for g in &bus.stats().groups {
        assert_eq!(
            (g.retried, g.dead_lettered),
            (u64::from(max) - 1, 1),
            "group {}: its own poison retried, then dead-lettered",
            g.name
        );
    }
    assert_eq!(
        attempts(&bot, bot_id),
        Some(max),
        "the bot retried its poison"
    );
    assert_eq!(
        attempts(&indexer, bot_id),
        Some(1),
        "the indexer ran it once"
    );
    assert_eq!(
        attempts(&indexer, idx_id),
        Some(max),
        "the indexer retried its poison"
    );
    assert_eq!(attempts(&bot, idx_id), Some(1), "the bot ran it once");
    let mut dead: Vec<(String, String)> = bus
        .dead_letters(10)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.group, d.id))
        .collect();
    dead.sort();
    let groups: Vec<&str> = dead.iter().map(|(g, _)| g.as_str()).collect();
    assert_eq!(
        groups,
        [DEFAULT_GROUP, INDEXER],
        "each letter names its group"
    );

    replays_go_back_to_their_group(&bus, &bot, &indexer, &dead, (bot_id, idx_id), max).await;
    bot_pool.shutdown().await;
    idx_pool.shutdown().await;
    bus.close().await;
}

/// Replays the dead letters `dead` (group, id) with the handlers fixed: each is
/// handled again by its own group only.
async fn replays_go_back_to_their_group(
    bus: &Bus,
    bot: &Counting,
    indexer: &Counting,
    dead: &[(String, String)],
    (bot_id, idx_id): (EnvelopeId, EnvelopeId),
    max: u32,
) {
    let attempts = |c: &Counting, id| c.attempts.get(&id).map(|a| *a);
    // Replayed, each goes back to its own group only.
    bot.fail_poison.store(false, Ordering::SeqCst);
    indexer.fail_poison.store(false, Ordering::SeqCst);
    for (_, id) in dead {
        assert!(bus.replay_dead_letter(id).await.unwrap());
    }
    eventually(WAIT, || {
        let ok = bot.handled.contains_key(&bot_id) && indexer.handled.contains_key(&idx_id);
        async move { ok }
    })
    .await;
    // Wait until neither group has anything left to see, then check that neither
    // saw the other's replay.
    eventually(WAIT, || {
        let bus = bus.clone();
        async move {
            let b = bus.backlog().await.unwrap();
            b.groups.iter().all(|g| g.lag() == 0 && g.pending() == 0)
        }
    })
    .await;
    assert_eq!(
        attempts(bot, bot_id),
        Some(max + 1),
        "the bot's replay, once"
    );
    assert_eq!(
        attempts(indexer, bot_id),
        Some(1),
        "no replay in the indexer"
    );
    assert_eq!(
        attempts(indexer, idx_id),
        Some(max + 1),
        "the indexer's replay, once"
    );
    assert_eq!(attempts(bot, idx_id), Some(1), "no replay in the bot group");
    assert_eq!(bot.once_each(), (12, true));
    assert_eq!(indexer.once_each(), (12, true));
}

/// The indexer's handler is blocked: the bot group still handles every envelope
/// (asserted while the indexer is stuck), then the indexer catches up.
pub(crate) async fn a_blocked_group_does_not_delay_another<F, Fut>(make: F)
where
    F: Fn(BusConfig) -> Fut,
    Fut: Future<Output = (Bus, Guard)>,
{
    let (bus, _guard) = make(group_config(3)).await;
    for i in 0..3 {
        bus.register_tenant(&tenant(i)).await.unwrap();
    }
    let (open, gate) = tokio::sync::watch::channel(false);
    let slow = Gated {
        gate,
        entered: Arc::new(AtomicU64::new(0)),
        done: Arc::new(AtomicU64::new(0)),
    };
    let bot = Counting::default();
    let bot_pool = start_group_pool(&bus, DEFAULT_GROUP, serving(3, bot.clone()), 2).await;
    let idx_pool = start_group_pool(&bus, INDEXER, serving(3, slow.clone()), 2).await;
    let n = 60;
    for i in 0..n {
        bus.publish(message(&tenant(i % 3), "hello")).await.unwrap();
    }
    eventually(WAIT, || {
        let (handled, _) = bot.once_each();
        async move { handled == n }
    })
    .await;
    // The indexer's fetcher reads on its own schedule: it may not have handed its
    // first envelope over yet when the bot group is done.
    let entered = slow.entered.clone();
    eventually(WAIT, || {
        let entered = entered.clone();
        async move { entered.load(Ordering::SeqCst) >= 1 }
    })
    .await;
    assert_eq!(
        slow.done.load(Ordering::SeqCst),
        0,
        "the indexer is still blocked while the bot group finished all {n}"
    );
    assert_eq!(bot.once_each(), (n, true));
    open.send_replace(true);
    eventually(WAIT, || {
        let done = slow.done.load(Ordering::SeqCst);
        async move { done == n as u64 }
    })
    .await;
    bot_pool.shutdown().await;
    idx_pool.shutdown().await;
    bus.close().await;
}
