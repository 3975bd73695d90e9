//! Every scenario on the Redis Streams backend, plus what only Redis can do: claim
//! entries of a dead consumer, dead-letter undecodable bytes, route responses between
//! nodes.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use fred::prelude::*;
use switchboard::actors::WorkerPoolHandle;
use switchboard::bus::{Bus, BusConfig, BusError, RedisBusConfig};
use switchboard::handler::HandlerSet;
use switchboard::model::{
    Command, Envelope, EnvelopeId, PostMessage, RestResponse, RestResult, TenantId,
};

use crate::redis_server::TestRedis;
use crate::scenarios;
use crate::support::{Guard, bus_config, eventually, message, start_pool, tenant};

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

async fn raw_client(server: &TestRedis) -> Client {
    let client = Client::new(Config::from_url(&server.url()).unwrap(), None, None, None);
    client.init().await.unwrap();
    client
}

/// Node `node-a` publishes `envs`, takes them all and "dies" without acking any:
/// they stay pending on a consumer that is gone.
async fn orphan(server: &TestRedis, envs: &[Envelope]) {
    // A cap above what it holds per tenant, so node a can hold them all at once.
    let mut cfg_a = bus_config(3, 10, 1000);
    cfg_a.node_id = "node-a".into();
    let a = Bus::redis(cfg_a, redis_config(server)).await.unwrap();
    for env in envs {
        a.publish(env.clone()).await.unwrap();
    }
    let mut taken = Vec::new();
    while taken.len() < envs.len() {
        taken.push(
            tokio::time::timeout(Duration::from_secs(10), a.next())
                .await
                .unwrap()
                .unwrap(),
        );
    }
    drop(taken);
    a.close().await;
}

/// [`orphan`] of `n` envelopes for tenant 0.
async fn orphan_entries(server: &TestRedis, n: usize) {
    let envs: Vec<Envelope> = (0..n).map(|_| message(&tenant(0), "orphan")).collect();
    orphan(server, &envs).await;
}

/// Node `node-b` (claiming on demand if `on_demand`), with two workers counting what
/// they handle of `tenants`.
async fn claiming_node(
    server: &TestRedis,
    tenants: &[TenantId],
    on_demand: bool,
) -> (Bus, WorkerPoolHandle, Arc<DashMap<EnvelopeId, u32>>) {
    let mut cfg_b = bus_config(3, 4, 1000);
    cfg_b.node_id = "node-b".into();
    let b = Bus::redis(cfg_b, redis_config(server)).await.unwrap();
    if on_demand {
        b.claim_on_demand(Duration::from_secs(3600));
    }
    let (pool, handled) = counting_pool_of(&b, tenants).await;
    (b, pool, handled)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_consumers_entries_are_claimed_and_handled() {
    let server = TestRedis::start().await;
    orphan_entries(&server, 5).await;
    let (b, pool, handled) = claiming_node(&server, &[tenant(0)], false).await;
    eventually(
        Duration::from_secs(30),
        "node b claimed and handled all five",
        || {
            let n = handled.len();
            async move { n == 5 }
        },
    )
    .await;
    pool.shutdown().await;
    b.close().await;
}

/// A claim sweep covers every stream of every tenant (many per command): a dead
/// node's entries spread over sixty tenants are all claimed and each handled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_claims_a_dead_nodes_entries_across_many_tenants() {
    let server = TestRedis::start().await;
    let tenants: Vec<_> = (0..60).map(tenant).collect();
    let envs: Vec<Envelope> = (0..2 * tenants.len())
        .map(|i| message(&tenants[i % tenants.len()], &format!("orphan {i}")))
        .collect();
    orphan(&server, &envs).await;
    let (b, pool, handled) = claiming_node(&server, &tenants, false).await;
    eventually(
        Duration::from_secs(60),
        "node b claimed and handled every orphan",
        || {
            let n = handled.len();
            async move { n == 120 }
        },
    )
    .await;
    for env in &envs {
        assert_eq!(
            handled.get(&env.id).map(|n| *n),
            Some(1),
            "handled once: {}",
            env.id
        );
    }
    pool.shutdown().await;
    b.close().await;
}

/// In a cluster the bus claims on demand: one sweep a claim time after it starts
/// (a node that died before this one joined never leaves its view, so its entries
/// are taken then), then none while nobody says a node left (no per-tenant sweep),
/// and one more once `claim_soon` is called (the cluster calls it when a node leaves
/// its view).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_claims_wait_for_a_lost_node() {
    let server = TestRedis::start().await;
    orphan_entries(&server, 3).await;
    let (b, pool, handled) = claiming_node(&server, &[tenant(0)], true).await;
    // The dead node's entries are claimed by the first sweep.
    eventually(
        Duration::from_secs(30),
        "claimed and handled by the sweep after the start",
        || {
            let n = handled.len();
            async move { n == 3 }
        },
    )
    .await;
    let raw = raw_client(&server).await;
    let sweeps = || async {
        let info: String = raw
            .custom(fred::cmd!("INFO"), vec!["commandstats"])
            .await
            .unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("cmdstat_xautoclaim:calls="))
            .and_then(|rest| rest.split(',').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let after_start = sweeps().await;
    assert!(after_start > 0, "the sweep after the start ran");
    // Past several claim times (1.5 s) with no lost node: no further sweep.
    let swept_again = tokio::time::timeout(Duration::from_secs(4), async {
        loop {
            if sweeps().await > after_start {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(swept_again.is_err(), "no claim sweep without a lost node");
    b.claim_soon();
    eventually(Duration::from_secs(30), "a sweep after claim_soon", || {
        let s = sweeps();
        async move { s.await > after_start }
    })
    .await;
    pool.shutdown().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_rereads_its_own_pending_entries() {
    let server = TestRedis::start().await;
    let mut cfg = bus_config(3, 4, 1000);
    cfg.node_id = "node-same".into();
    let slow_claim = RedisBusConfig {
        claim_idle: Duration::from_secs(3600),
        ..redis_config(&server)
    };
    let a = Bus::redis(cfg.clone(), slow_claim.clone()).await.unwrap();
    a.publish(message(&tenant(0), "pending")).await.unwrap();
    let taken = tokio::time::timeout(Duration::from_secs(10), a.next())
        .await
        .unwrap()
        .unwrap();
    drop(taken);
    a.close().await;

    let again = Bus::redis(cfg, slow_claim).await.unwrap();
    let d = tokio::time::timeout(Duration::from_secs(10), again.next())
        .await
        .expect("the pending entry is re-read at start, long before any claim")
        .unwrap();
    assert_eq!(d.envelope.tenant_id(), tenant(0));
    again.ack(d).await.unwrap();
    again.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_entries_are_dead_lettered_and_workers_keep_going() {
    let server = TestRedis::start().await;
    let bus = Bus::redis(bus_config(3, 4, 1000), redis_config(&server))
        .await
        .unwrap();
    let handled = Arc::new(DashMap::new());
    let mut set = HandlerSet::new();
    set.add(
        &tenant(0),
        Arc::new(crate::scenarios::CountingPublic::new(handled.clone())),
    );
    let pool = start_pool(&bus, set, 2).await;
    // Create the tenant's streams, write garbage straight into its inbox, then
    // publish (which rings the doorbell for the stream).
    bus.register_tenant(&tenant(0)).await.unwrap();
    let good = message(&tenant(0), "good");
    let good_id = good.id;
    let client = raw_client(&server).await;
    let key = format!("{}:{{discord:t0}}:inbox:message", server.prefix());
    let _: String = client
        .xadd(
            &key,
            false,
            None::<()>,
            "*",
            vec![("e", Value::Bytes(vec![0xc1, 0xff, 0x00].into()))],
        )
        .await
        .unwrap();
    bus.publish(good).await.unwrap();
    eventually(
        Duration::from_secs(30),
        "garbage dead-lettered, good handled",
        || {
            let dead = bus.stats().dead_lettered;
            let ok = handled.contains_key(&good_id);
            async move { dead == 1 && ok }
        },
    )
    .await;
    let dead = bus.dead_letters(10).await.unwrap();
    assert!(
        dead[0].error.contains("undecodable entry"),
        "{}",
        dead[0].error
    );
    assert_eq!(dead[0].raw.as_deref(), Some(&[0xc1_u8, 0xff, 0x00][..]));
    assert_eq!(bus.stats().decode_errors, 1);
    // And a later envelope is still handled.
    let later = message(&tenant(0), "later");
    let later_id = later.id;
    bus.publish(later).await.unwrap();
    eventually(Duration::from_secs(30), "later handled", || {
        let ok = handled.contains_key(&later_id);
        async move { ok }
    })
    .await;
    pool.shutdown().await;
    bus.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_reach_the_node_that_asked() {
    let server = TestRedis::start().await;
    let mut cfg_a = bus_config(3, 4, 1000);
    cfg_a.node_id = "asker".into();
    let mut cfg_b = bus_config(3, 4, 1000);
    cfg_b.node_id = "server".into();
    let asker = Bus::redis(cfg_a, redis_config(&server)).await.unwrap();
    let serving = Bus::redis(cfg_b, redis_config(&server)).await.unwrap();
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let responder = {
        let serving = serving.clone();
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(req) = serving.next_request(&tenant(3)).await {
                seen.lock()
                    .unwrap()
                    .insert(req.envelope.reply_to.clone().unwrap_or_default());
                let answer = RestResponse::success(200, RestResult::Empty);
                serving.respond(req, answer).await.unwrap();
            }
        })
    };
    let counter = Arc::new(AtomicU64::new(0));
    for i in 0..20 {
        let cmd = Command::PostMessage(PostMessage {
            channel_id: "1".into(),
            content: format!("n{i}"),
            reply_to: None,
            embeds: vec![],
            allowed_mentions: None,
            nonce: None,
        });
        let req = Envelope::request("promethean", &tenant(3), cmd, "ignored").unwrap();
        let corr = req.id;
        let reply = asker.request(req, Duration::from_secs(10)).await.unwrap();
        assert_eq!(reply.corr, Some(corr));
        counter.fetch_add(1, Ordering::Relaxed);
    }
    assert_eq!(counter.load(Ordering::Relaxed), 20);
    assert_eq!(*seen.lock().unwrap(), HashSet::from(["asker".to_owned()]));
    responder.abort();
    asker.close().await;
    serving.close().await;
}

fn post(content: &str) -> Envelope {
    let cmd = Command::PostMessage(PostMessage {
        channel_id: "1".into(),
        content: content.into(),
        reply_to: None,
        embeds: vec![],
        allowed_mentions: None,
        nonce: None,
    });
    Envelope::request("promethean", &tenant(5), cmd, "ignored").unwrap()
}

/// A command for a tenant whose requests the publishing node serves costs one write:
/// its doorbell rings in memory, not on the shared ring. When that node stops serving
/// the tenant (a node paused past its lease, while another took the tenant over),
/// the node serving it now gets every such command, each once, and the answers reach
/// the node that asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_served_here_rings_in_memory_and_reaches_the_next_holder() {
    use futures_util::FutureExt;
    let server = TestRedis::start().await;
    let t = tenant(5);
    let mut cfg_b = bus_config(3, 4, 1000);
    cfg_b.node_id = "holder".into();
    let holder = Bus::redis(cfg_b, redis_config(&server)).await.unwrap();
    let answered: Arc<DashMap<String, u32>> = Arc::default();
    let responder = {
        let (holder, answered, t) = (holder.clone(), Arc::clone(&answered), t.clone());
        tokio::spawn(async move {
            while let Some(req) = holder.next_request(&t).await {
                if let switchboard::model::Payload::Command(Command::PostMessage(p)) =
                    &req.envelope.payload
                {
                    *answered.entry(p.content.clone()).or_default() += 1;
                }
                let answer = RestResponse::success(200, RestResult::Empty);
                holder.respond(req, answer).await.unwrap();
            }
        })
    };
    // The paused node still serves the tenant, with room for one request at a time
    // (one poll subscribes it: the tenant is registered, so nothing waits on Redis).
    let mut cfg_a = bus_config(3, 4, 1000);
    cfg_a.node_id = "paused".into();
    cfg_a.request_queue_bound = 1;
    let paused = Bus::redis(cfg_a, redis_config(&server)).await.unwrap();
    paused.register_tenant(&t).await.unwrap();
    assert!(paused.next_request(&t).now_or_never().is_none());
    let mut replies = Vec::new();
    let commands = monitored(
        &server,
        Box::pin(async {
            for i in 0..3 {
                let pending = paused
                    .submit(post(&format!("m{i}")), Duration::from_secs(30))
                    .await
                    .unwrap();
                replies.push(pending);
            }
        }),
    )
    .await;
    let ring = format!("{}:ring\"", server.prefix());
    let writes: Vec<&String> = commands
        .iter()
        .filter(|l| l.contains("\"XADD\"") && l.contains(":rest\""))
        .collect();
    assert_eq!(writes.len(), 3, "one write per command: {commands:?}");
    let rings: Vec<&String> = commands
        .iter()
        .filter(|l| l.contains("\"XADD\"") && l.contains(&ring))
        .collect();
    assert!(
        rings.is_empty(),
        "served here: no ring on {ring}: {rings:?}"
    );
    // It stops serving the tenant: what it fetched goes back, and the stream rings.
    paused.stop_requests(&t).await;
    for pending in replies {
        let reply = pending.wait().await.expect("answered by the holder");
        assert!(reply.corr.is_some());
    }
    let mut seen: Vec<(String, u32)> = answered
        .iter()
        .map(|e| (e.key().clone(), *e.value()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("m0".to_owned(), 1),
            ("m1".to_owned(), 1),
            ("m2".to_owned(), 1)
        ],
        "each command served once, by the holder"
    );
    responder.abort();
    paused.close().await;
    holder.close().await;
}

/// Node `node-a`, serving tenant 5's requests (one poll subscribes it), fenced at 3.
async fn serving_node(server: &TestRedis) -> Bus {
    use futures_util::FutureExt;
    let t = tenant(5);
    let mut config = bus_config(3, 4, 1000);
    config.node_id = "node-a".into();
    let node = Bus::redis(config, redis_config(server)).await.unwrap();
    node.register_tenant(&t).await.unwrap();
    node.claim_fence(&t, 3).await.unwrap();
    assert!(node.next_request(&t).now_or_never().is_none());
    node
}

/// A dispatch of tenant 5 published live on `node` and taken as a worker would,
/// and the command its handler sends (caused by it).
async fn in_hand(node: &Bus, text: &str) -> (switchboard::bus::Delivery, Envelope) {
    node.publish_live(message(&tenant(5), text), 3)
        .await
        .unwrap();
    let delivery = tokio::time::timeout(Duration::from_secs(30), node.next())
        .await
        .expect("delivered")
        .expect("bus open");
    let mut command = post(text);
    command.causation = Some(delivery.envelope.id);
    (delivery, command)
}

/// The ids of tenant 5's inbox entries pending in the `workers` group.
async fn pending_ids(raw: &Client, server: &TestRedis) -> Vec<String> {
    let inbox = format!("{}:{{discord:t5}}:inbox:message", server.prefix());
    let reply: Value = raw
        .custom(
            fred::cmd!("XPENDING"),
            vec![inbox.as_str(), "workers", "-", "+", "100"],
        )
        .await
        .unwrap();
    first_of_each(reply)
}

/// A command a handler sends while its delivery is in hand, for a tenant whose
/// requests this node serves, reaches the `RestActor`'s queue without a write. The
/// delivery's entry stays pending until the command is answered (a later publish,
/// which carries every queued acknowledgement, leaves it alone), and is
/// acknowledged then. A command handed back unanswered (the node stops serving the
/// tenant) is written to the request stream before its cause is acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_served_here_holds_its_cause_pending_until_answered() {
    let server = TestRedis::start().await;
    let node = serving_node(&server).await;
    let raw = raw_client(&server).await;
    let inbox = format!("{}:{{discord:t5}}:inbox:message", server.prefix());
    let rest = format!("{}:{{discord:t5}}:rest", server.prefix());
    let (delivery, command) = in_hand(&node, "first").await;
    let mut reply = None;
    let commands = monitored(
        &server,
        Box::pin(async {
            reply = Some(node.submit(command, Duration::from_secs(30)).await.unwrap());
        }),
    )
    .await;
    let writes: Vec<&String> = commands
        .iter()
        .filter(|l| l.contains(&format!("{rest}\"")))
        .collect();
    assert!(writes.is_empty(), "served without a write: {writes:?}");
    let cause = pending_ids(&raw, &server).await;
    assert_eq!(cause.len(), 1, "the cause is pending");
    node.ack(delivery).await.unwrap();
    // A publish carries every queued acknowledgement: the cause's is not queued yet.
    let (next, _) = in_hand(&node, "second").await;
    node.ack(next).await.unwrap();
    assert!(
        entry_ids(&raw, &inbox).await.contains(&cause[0]),
        "still pending while its command is unanswered"
    );
    let request = tokio::time::timeout(Duration::from_secs(30), node.next_request(&tenant(5)))
        .await
        .expect("the command is queued here")
        .expect("bus open");
    assert!(matches!(
        &request.envelope.payload,
        switchboard::model::Payload::Command(Command::PostMessage(p)) if p.content == "first"
    ));
    node.respond(request, RestResponse::success(200, RestResult::Empty))
        .await
        .unwrap();
    reply.expect("submitted").wait().await.expect("answered");
    eventually(
        Duration::from_secs(30),
        "the cause acknowledged",
        || async { !entry_ids(&raw, &inbox).await.contains(&cause[0]) },
    )
    .await;
    // Handed back unanswered: written to the request stream first.
    let (delivery, command) = in_hand(&node, "handed back").await;
    let _unanswered = node.submit(command, Duration::from_secs(30)).await.unwrap();
    node.ack(delivery).await.unwrap();
    assert!(entry_ids(&raw, &rest).await.is_empty());
    node.stop_requests(&tenant(5)).await;
    assert_eq!(
        entry_ids(&raw, &rest).await.len(),
        1,
        "written when handed back"
    );
    eventually(
        Duration::from_secs(30),
        "its cause acknowledged",
        || async { pending_ids(&raw, &server).await.is_empty() },
    )
    .await;
    node.close().await;
}

/// A command still unanswered when its node goes away leaves its cause pending
/// (handled, but never acknowledged), and another node claims and handles it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cause_whose_command_went_unanswered_is_handled_again_elsewhere() {
    let server = TestRedis::start().await;
    let node = serving_node(&server).await;
    let raw = raw_client(&server).await;
    let (delivery, command) = in_hand(&node, "lost").await;
    let lost = delivery.envelope.id;
    let _unanswered = node.submit(command, Duration::from_secs(30)).await.unwrap();
    node.ack(delivery).await.unwrap();
    node.close().await;
    assert_eq!(
        pending_ids(&raw, &server).await.len(),
        1,
        "the cause stays pending"
    );
    let (other, pool, handled) =
        claiming_node(&server, std::slice::from_ref(&tenant(5)), false).await;
    eventually(Duration::from_secs(30), "node b handled the cause", || {
        let n = handled.get(&lost).map_or(0, |n| *n);
        async move { n == 1 }
    })
    .await;
    pool.shutdown().await;
    other.close().await;
}

/// A live dispatch (`publish_live`, under a claimed fence) is handled without an
/// idempotency lookup; the same envelope published again as a possible repeat
/// (`publish_fenced`, as a RESUME replays it) is looked up and skipped, since its
/// handler finished it. Once a newer fence is claimed the older owner is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_dispatch_skips_the_idempotency_lookup_and_a_replay_does_not() {
    let server = TestRedis::start().await;
    let bus = Bus::redis(bus_config(1, 4, 1000), redis_config(&server))
        .await
        .unwrap();
    let t = tenant(0);
    let (pool, handled) = counting_pool(&bus, &t).await;
    bus.claim_fence(&t, 7).await.unwrap();
    let env = message(&t, "live");
    let mark = format!(":done:{}:counting\"", env.id);
    let lookups = |commands: &[String]| {
        commands
            .iter()
            .filter(|l| l.contains("\"EXISTS\"") && l.contains(&mark))
            .count()
    };
    let live = monitored(
        &server,
        Box::pin(async {
            bus.publish_live(env.clone(), 7).await.unwrap();
            eventually(Duration::from_secs(30), "the live dispatch handled", || {
                let n = handled.get(&env.id).map_or(0, |n| *n);
                async move { n == 1 }
            })
            .await;
        }),
    )
    .await;
    assert_eq!(lookups(&live), 0, "no lookup for a first publish: {live:?}");
    eventually(Duration::from_secs(30), "its mark written", || {
        let (bus, t, id) = (bus.clone(), t.clone(), env.id);
        async move { bus.is_done(&t, id, "counting").await.unwrap_or(false) }
    })
    .await;

    let replay = monitored(
        &server,
        Box::pin(async {
            bus.publish_fenced(env.clone(), 7).await.unwrap();
            eventually(Duration::from_secs(30), "the replay settled", || {
                let acked = bus.stats().acked;
                async move { acked == 2 }
            })
            .await;
        }),
    )
    .await;
    assert_eq!(
        lookups(&replay),
        1,
        "a possible repeat is looked up: {replay:?}"
    );
    assert_eq!(
        handled.get(&env.id).map(|n| *n),
        Some(1),
        "the replay ran no handler"
    );

    // A newer owner claims its fence: the older one can publish nothing more.
    bus.claim_fence(&t, 9).await.unwrap();
    assert!(matches!(
        bus.publish_live(message(&t, "late"), 7).await,
        Err(BusError::Fenced { .. })
    ));
    assert!(matches!(
        bus.claim_fence(&t, 8).await,
        Err(BusError::Fenced { .. })
    ));
    pool.shutdown().await;
    bus.close().await;
}

/// Two workers on `bus` running a handler for `t` that counts how often each
/// envelope was handled.
async fn counting_pool(
    bus: &Bus,
    t: &TenantId,
) -> (WorkerPoolHandle, Arc<DashMap<EnvelopeId, u32>>) {
    counting_pool_of(bus, std::slice::from_ref(t)).await
}

/// [`counting_pool`] for each of `tenants`, one count for all.
async fn counting_pool_of(
    bus: &Bus,
    tenants: &[TenantId],
) -> (WorkerPoolHandle, Arc<DashMap<EnvelopeId, u32>>) {
    let handled: Arc<DashMap<EnvelopeId, u32>> = Arc::default();
    let mut set = HandlerSet::new();
    for t in tenants {
        set.add(
            t,
            Arc::new(crate::scenarios::CountingPublic::new(handled.clone())),
        );
    }
    (start_pool(bus, set, 2).await, handled)
}

/// Whether `line` (a `MONITOR` line) is a command a Lua script ran.
fn in_script(line: &str) -> bool {
    line.contains(" lua]")
}

/// A live dispatch whose node has room for the tenant is taken by the publish
/// itself: the script that writes it reads it for this node's workers, so nothing
/// rings the doorbell and the fetcher reads nothing — one round trip per event —
/// and each is handled once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_its_node_has_room_for_is_taken_by_the_publish() {
    let server = TestRedis::start().await;
    let bus = Bus::redis(bus_config(1, 4, 1000), redis_config(&server))
        .await
        .unwrap();
    let t = tenant(0);
    let (pool, handled) = counting_pool(&bus, &t).await;
    bus.claim_fence(&t, 3).await.unwrap();
    let ring = format!("{}:ring\"", server.prefix());
    let publish_and_handle = |envs: Vec<Envelope>| {
        let (bus, handled) = (bus.clone(), handled.clone());
        async move {
            for env in envs {
                bus.publish_live(env.clone(), 3).await.unwrap();
                eventually(Duration::from_secs(30), "the dispatch handled", || {
                    let n = handled.get(&env.id).map_or(0, |n| *n);
                    async move { n == 1 }
                })
                .await;
            }
        }
    };
    // The bus marks every stream dirty when it starts (its safety sweep), and a dirty
    // stream is left to the fetcher: wait until a publish is taken.
    eventually(Duration::from_secs(30), "a publish taken", || {
        let (server, ring, run) = (
            &server,
            ring.clone(),
            Box::pin(publish_and_handle(vec![message(&t, "warm")])),
        );
        async move {
            let commands = monitored(server, run).await;
            !commands
                .iter()
                .any(|l| l.contains("\"XADD\"") && l.contains(&ring))
        }
    })
    .await;
    let envs: Vec<Envelope> = (0..3).map(|i| message(&t, &format!("m{i}"))).collect();
    let commands = monitored(&server, Box::pin(publish_and_handle(envs.clone()))).await;
    let rings: Vec<&String> = commands
        .iter()
        .filter(|l| l.contains("\"XADD\"") && l.contains(&ring))
        .collect();
    assert!(rings.is_empty(), "taken: no ring: {rings:?}");
    let reads = |lua: bool| {
        commands
            .iter()
            .filter(|l| {
                l.contains("\"XREADGROUP\"") && l.contains(":inbox:") && in_script(l) == lua
            })
            .count()
    };
    assert_eq!(reads(true), 3, "each publish takes its entry: {commands:?}");
    assert_eq!(reads(false), 0, "the fetcher reads nothing: {commands:?}");
    for env in &envs {
        assert_eq!(handled.get(&env.id).map(|n| *n), Some(1));
    }
    pool.shutdown().await;
    bus.close().await;
}

/// The ids of the entries in stream `key`.
async fn entry_ids(raw: &Client, key: &str) -> Vec<String> {
    let entries: Value = raw
        .custom(fred::cmd!("XRANGE"), vec![key, "-", "+"])
        .await
        .unwrap();
    first_of_each(entries)
}

/// The entry ids of an `XRANGE` or extended `XPENDING` reply (each item's first
/// element).
fn first_of_each(reply: Value) -> Vec<String> {
    reply
        .into_array()
        .into_iter()
        .filter_map(|e| e.into_array().into_iter().next()?.into_string())
        .collect()
}

/// A settled delivery's acknowledgement rides on the next publish script: with
/// the ack batcher's linger far away, a handled dispatch's entry is acknowledged
/// and deleted by a later publish of the node, inside that publish's script (no
/// script of its own), even by a publish refused for a stale fence; what is still
/// queued when the bus closes is written then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_ride_on_the_next_publish() {
    let server = TestRedis::start().await;
    let config = RedisBusConfig {
        ack_linger: Duration::from_secs(600),
        ..redis_config(&server)
    };
    let bus = Bus::redis(bus_config(1, 4, 1000), config).await.unwrap();
    let t = tenant(0);
    let (pool, handled) = counting_pool(&bus, &t).await;
    bus.claim_fence(&t, 3).await.unwrap();
    let raw = raw_client(&server).await;
    let key = format!("{}:{{discord:t0}}:inbox:message", server.prefix());
    let first = message(&t, "first");
    bus.publish_live(first.clone(), 3).await.unwrap();
    eventually(
        Duration::from_secs(30),
        "the first dispatch handled",
        || {
            let n = handled.get(&first.id).map_or(0, |n| *n);
            async move { n == 1 }
        },
    )
    .await;
    let held = entry_ids(&raw, &key).await;
    assert_eq!(held.len(), 1, "handled, not yet acknowledged: {held:?}");
    let next = AtomicU64::new(0);
    let commands = monitored(
        &server,
        Box::pin(eventually(
            Duration::from_secs(30),
            "the first entry settled by a publish",
            || async {
                let env = message(&t, &format!("m{}", next.fetch_add(1, Ordering::Relaxed)));
                bus.publish_live(env, 3).await.unwrap();
                !entry_ids(&raw, &key).await.contains(&held[0])
            },
        )),
    )
    .await;
    // Each top-level command with the commands its script ran.
    let mut scripts: Vec<Vec<&String>> = Vec::new();
    for line in &commands {
        match scripts.last_mut() {
            Some(script) if in_script(line) => script.push(line),
            _ => scripts.push(vec![line]),
        }
    }
    let acking: Vec<&Vec<&String>> = scripts
        .iter()
        .filter(|s| s.iter().any(|l| in_script(l) && l.contains("\"XACK\"")))
        .collect();
    assert!(
        !acking.is_empty(),
        "an acknowledgement written: {commands:?}"
    );
    for script in &acking {
        assert!(
            script
                .iter()
                .any(|l| in_script(l) && l.contains("\"XADD\"") && l.contains(&key)),
            "acknowledged only by a publish: {script:?}"
        );
    }
    // A publish refused for a stale fence still settles what it carries.
    let last = entry_ids(&raw, &key).await;
    assert!(!last.is_empty());
    eventually(
        Duration::from_secs(30),
        "settled by a refused publish",
        || async {
            let refused = bus.publish_live(message(&t, "stale"), 2).await;
            assert!(
                matches!(refused, Err(BusError::Fenced { .. })),
                "{refused:?}"
            );
            entry_ids(&raw, &key)
                .await
                .iter()
                .all(|id| !last.contains(id))
        },
    )
    .await;
    assert_eq!(entry_ids(&raw, &key).await, Vec::<String>::new());
    // The batcher writes what is queued when the bus closes.
    let closing = message(&t, "closing");
    bus.publish_live(closing.clone(), 3).await.unwrap();
    eventually(Duration::from_secs(30), "the last dispatch handled", || {
        let n = handled.get(&closing.id).map_or(0, |n| *n);
        async move { n == 1 }
    })
    .await;
    pool.shutdown().await;
    bus.close().await;
    assert_eq!(entry_ids(&raw, &key).await, Vec::<String>::new());
}

/// A batch over many tenants is one pipeline that rings the doorbell once, after
/// its writes, naming every stream it wrote; each envelope is then delivered once,
/// each tenant's in the order published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_many_tenants_rings_once() {
    let server = TestRedis::start().await;
    let bus = Bus::redis(bus_config(1, 1000, 1000), redis_config(&server))
        .await
        .unwrap();
    let tenants: Vec<_> = (0..8).map(tenant).collect();
    for t in &tenants {
        bus.register_tenant(t).await.unwrap();
    }
    let envs: Vec<Envelope> = (0..40)
        .map(|i| message(&tenants[i % tenants.len()], &format!("m{i}")))
        .collect();
    let commands = monitored(
        &server,
        Box::pin({
            let (bus, envs) = (bus.clone(), envs.clone());
            async move { bus.publish_batch(envs).await.unwrap() }
        }),
    )
    .await;
    let ring = format!("{}:ring\"", server.prefix());
    let xadds: Vec<&String> = commands
        .iter()
        .filter(|l| l.contains("\"XADD\"") && !in_script(l))
        .collect();
    let rings: Vec<usize> = (0..xadds.len())
        .filter(|&i| xadds[i].contains(&ring))
        .collect();
    assert_eq!(xadds.len(), 41, "every envelope, then one ring: {xadds:?}");
    assert_eq!(rings, [40], "one ring, after the writes: {xadds:?}");
    for t in &tenants {
        assert!(
            xadds[40].contains(&format!(":{}}}:inbox:", t.tenant)),
            "the ring names {t}: {}",
            xadds[40]
        );
    }
    let mut got: HashMap<String, Vec<EnvelopeId>> = HashMap::new();
    for _ in 0..envs.len() {
        let d = tokio::time::timeout(Duration::from_secs(30), bus.next())
            .await
            .expect("every envelope delivered")
            .unwrap();
        got.entry(d.envelope.tenant_id().to_string())
            .or_default()
            .push(d.envelope.id);
        bus.ack(d).await.unwrap();
    }
    for t in &tenants {
        let sent: Vec<EnvelopeId> = envs
            .iter()
            .filter(|e| e.tenant_id() == *t)
            .map(|e| e.id)
            .collect();
        assert_eq!(
            got.get(&t.to_string()),
            Some(&sent),
            "{t}: each once, in order"
        );
    }
    bus.close().await;
}

/// Tenants whose consumer groups a node has just created have nothing of its own
/// pending from before, so its fetcher reads no pending list of theirs (`XREADGROUP
/// … 0`) before their first traffic: a node creating a thousand tenants does not
/// read four thousand empty lists. (A node that finds the groups already there
/// does re-read them: `a_restarted_node_rereads_its_own_pending_entries`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reads_no_pending_list_of_groups_it_created() {
    let server = TestRedis::start().await;
    let bus = Bus::redis(bus_config(1, 1000, 1000), redis_config(&server))
        .await
        .unwrap();
    let tenants: Vec<_> = (0..6).map(tenant).collect();
    let envs: Vec<Envelope> = (0..12)
        .map(|i| message(&tenants[i % tenants.len()], &format!("m{i}")))
        .collect();
    let commands = monitored(
        &server,
        Box::pin({
            let (bus, tenants, n) = (bus.clone(), tenants.clone(), envs.len());
            async move {
                for t in &tenants {
                    bus.register_tenant(t).await.unwrap();
                }
                // A batch rings: the fetcher wakes, lists the new tenants, then
                // reads; every delivery below comes after that listing.
                bus.publish_batch(envs).await.unwrap();
                for _ in 0..n {
                    let d = tokio::time::timeout(Duration::from_secs(30), bus.next())
                        .await
                        .expect("every envelope delivered")
                        .unwrap();
                    bus.ack(d).await.unwrap();
                }
            }
        }),
    )
    .await;
    let reads: Vec<&String> = commands
        .iter()
        .filter(|l| l.contains("\"XREADGROUP\"") && !in_script(l))
        .collect();
    assert!(
        reads.iter().any(|l| l.ends_with("\">\"")),
        "the fetcher read the new entries: {reads:?}"
    );
    let pending: Vec<&&String> = reads.iter().filter(|l| l.ends_with("\"0\"")).collect();
    assert!(pending.is_empty(), "pending lists read: {pending:?}");
    bus.close().await;
}

/// The doorbell's safety sweep (when a node starts, then every half minute) finds
/// an entry whose ring was lost, and reads nothing else: an empty stream is left
/// alone (marked, it would take nothing at publish until a fetcher had read it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_reads_only_streams_holding_entries() {
    let server = TestRedis::start().await;
    let tenants: Vec<_> = (0..8).map(tenant).collect();
    let first = Bus::redis(bus_config(1, 1000, 1000), redis_config(&server))
        .await
        .unwrap();
    for t in &tenants {
        first.register_tenant(t).await.unwrap();
    }
    first.close().await;
    // An entry written with no ring: the ring was lost.
    let unrung = message(&tenants[5], "unrung");
    let key = format!("{}:{{discord:t5}}:inbox:message", server.prefix());
    let client = raw_client(&server).await;
    let _: String = client
        .xadd(
            &key,
            false,
            None::<()>,
            "*",
            vec![(
                "e",
                Value::Bytes(switchboard::model::encode(&unrung).unwrap().into()),
            )],
        )
        .await
        .unwrap();
    let commands = monitored(
        &server,
        Box::pin({
            let cfg = redis_config(&server);
            async move {
                let bus = Bus::redis(bus_config(1, 1000, 1000), cfg).await.unwrap();
                let d = tokio::time::timeout(Duration::from_secs(30), bus.next())
                    .await
                    .expect("the sweep found the unrung entry")
                    .unwrap();
                assert_eq!(d.envelope.id, unrung.id);
                bus.ack(d).await.unwrap();
                bus.close().await;
            }
        }),
    )
    .await;
    let new_reads: Vec<&String> = commands
        .iter()
        .filter(|l| l.contains("\"XREADGROUP\"") && !in_script(l) && l.ends_with("\">\""))
        .collect();
    assert!(!new_reads.is_empty(), "the fetcher read new entries");
    let streams_read: HashSet<&str> = new_reads
        .iter()
        .flat_map(|l| l.split('"'))
        .filter(|w| w.contains(":inbox:") || w.ends_with(":rest"))
        .collect();
    assert_eq!(
        streams_read,
        HashSet::from([key.as_str()]),
        "only the stream holding an entry was read"
    );
}

/// A node takes at publish only what its own queue has room for: the rest rings the
/// doorbell and another node's workers handle it; what the full node took is handed
/// back when it closes. Every dispatch is handled exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_full_node_cannot_take_rings_and_another_node_handles_it() {
    let server = TestRedis::start().await;
    let t = tenant(1);
    // No workers here, and room for two of the tenant's deliveries (half the bound).
    let mut full_cfg = bus_config(3, 4, 4);
    full_cfg.node_id = "full".into();
    let full = Bus::redis(full_cfg, redis_config(&server)).await.unwrap();
    let mut helper_cfg = bus_config(3, 4, 1000);
    helper_cfg.node_id = "helper".into();
    let helper = Bus::redis(helper_cfg, redis_config(&server)).await.unwrap();
    let (pool, handled) = counting_pool(&helper, &t).await;
    full.claim_fence(&t, 5).await.unwrap();
    let envs: Vec<Envelope> = (0..6).map(|i| message(&t, &format!("m{i}"))).collect();
    for env in &envs {
        full.publish_live(env.clone(), 5).await.unwrap();
    }
    // At most two wait on the full node: the other four reach the helper.
    eventually(
        Duration::from_secs(30),
        "the rest handled by the helper",
        || {
            let n = handled.len();
            async move { n >= 4 }
        },
    )
    .await;
    let held = full.stats().scheduler.waiting;
    assert!(held <= 2, "the full node holds at most its room: {held}");
    assert_eq!(handled.len() + held, envs.len(), "each delivered once");
    // Closing, the full node hands what it took back: the helper handles it.
    full.close().await;
    eventually(Duration::from_secs(30), "all handled", || {
        let n = handled.len();
        async move { n == 6 }
    })
    .await;
    for env in &envs {
        assert_eq!(handled.get(&env.id).map(|n| *n), Some(1), "handled once");
    }
    pool.shutdown().await;
    helper.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_is_namespaced_by_prefix_and_tenant() {
    let server = TestRedis::start().await;
    let bus = Bus::redis(bus_config(1, 4, 1000), redis_config(&server))
        .await
        .unwrap();
    let pool = start_pool(&bus, HandlerSet::new(), 1).await;
    bus.publish(message(&tenant(5), "x")).await.unwrap();
    eventually(
        Duration::from_secs(30),
        "dead-lettered (no handlers)",
        || {
            let n = bus.stats().dead_lettered;
            async move { n == 1 }
        },
    )
    .await;
    let client = raw_client(&server).await;
    let keys: Vec<String> = client.custom(fred::cmd!("KEYS"), vec!["*"]).await.unwrap();
    let prefix = server.prefix();
    for k in &keys {
        assert!(k.starts_with(&format!("{prefix}:")), "{k}");
        let rest = &k[prefix.len() + 1..];
        assert!(
            rest.starts_with("{discord:t5}:")
                || rest == "tenants"
                || rest == "dlq"
                || rest == "ring"
                || rest.starts_with("node:"),
            "unexpected key {k}"
        );
    }
    assert!(
        keys.iter()
            .any(|k| k.ends_with("{discord:t5}:inbox:message")),
        "{keys:?}"
    );
    pool.shutdown().await;
    bus.close().await;
}

/// A batch publisher waits while a stream it writes is past `stream_soft_limit`, and
/// goes on once consumers have drained it (acked entries are deleted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_publishers_wait_while_a_stream_is_past_its_soft_limit() {
    let server = TestRedis::start().await;
    let mut cfg_a = bus_config(3, 1000, 10_000);
    cfg_a.node_id = "publisher".into();
    cfg_a.consume_inbox = false;
    let limited = RedisBusConfig {
        stream_soft_limit: 100,
        ..redis_config(&server)
    };
    let a = Bus::redis(cfg_a, limited).await.unwrap();
    let t = tenant(0);
    let batch = |n: usize| {
        (0..n)
            .map(|i| message(&t, &format!("m{i}")))
            .collect::<Vec<_>>()
    };
    a.publish_batch(batch(150)).await.unwrap();

    let mut blocked = tokio::spawn({
        let a = a.clone();
        let more = batch(10);
        async move { a.publish_batch(more).await }
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut blocked)
            .await
            .is_err(),
        "150 entries are past the limit of 100: the publisher must wait"
    );

    let mut cfg_b = bus_config(3, 1000, 10_000);
    cfg_b.node_id = "consumer".into();
    let b = Bus::redis(cfg_b, redis_config(&server)).await.unwrap();
    for _ in 0..160 {
        let d = tokio::time::timeout(Duration::from_secs(20), b.next())
            .await
            .expect("the consumer drains the stream")
            .unwrap();
        b.ack(d).await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(20), blocked)
        .await
        .expect("the publisher resumes once the stream is drained")
        .unwrap()
        .unwrap();
    a.close().await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_reports_lag_pending_and_dead_letters_per_tenant() {
    let server = TestRedis::start().await;
    // A publisher that consumes nothing, so entries stay undelivered until the
    // consumer node starts.
    let mut cfg = bus_config(3, 4, 1000);
    cfg.node_id = "publisher".into();
    cfg.consume_inbox = false;
    let publisher = Bus::redis(cfg, redis_config(&server)).await.unwrap();
    let per_tenant = [(tenant(0), 6_u64), (tenant(1), 3_u64)];
    for (t, n) in &per_tenant {
        for i in 0..*n {
            publisher
                .publish(message(t, &format!("m{i}")))
                .await
                .unwrap();
        }
    }
    let figures = |b: &switchboard::bus::BusBacklog| -> Vec<(u64, u64)> {
        per_tenant
            .iter()
            .map(|(t, _)| {
                let tb = b.tenant(t).expect("tenant in the backlog");
                (tb.lag, tb.pending)
            })
            .collect()
    };
    let before = publisher.backlog().await.unwrap();
    assert_eq!(figures(&before), vec![(6, 0), (3, 0)], "{before:?}");
    assert_eq!(before.dead_letters, 0);

    // A consumer node fetches everything (its queues have room): lag becomes pending.
    let mut cfg = bus_config(3, 4, 1000);
    cfg.node_id = "consumer".into();
    let consumer = Bus::redis(cfg, redis_config(&server)).await.unwrap();
    eventually(Duration::from_secs(30), "all entries delivered", || {
        let publisher = publisher.clone();
        async move {
            publisher
                .backlog()
                .await
                .is_ok_and(|b| figures(&b) == vec![(0, 6), (0, 3)])
        }
    })
    .await;

    // Ack three of t0's, ack one of t1's and dead-letter another; hold the rest.
    let (mut acked0, mut settled1) = (0, 0);
    let mut held = Vec::new();
    while acked0 < 3 || settled1 < 2 {
        let d = tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .expect("a delivery")
            .expect("bus open");
        if d.envelope.tenant_id() == tenant(0) && acked0 < 3 {
            acked0 += 1;
            consumer.ack(d).await.unwrap();
        } else if d.envelope.tenant_id() == tenant(1) && settled1 == 0 {
            settled1 += 1;
            consumer.ack(d).await.unwrap();
        } else if d.envelope.tenant_id() == tenant(1) && settled1 == 1 {
            settled1 += 1;
            consumer
                .reject(d, "test: no retry fixes this")
                .await
                .unwrap();
        } else {
            held.push(d);
        }
    }
    eventually(
        Duration::from_secs(30),
        "acks and the dead letter reflected",
        || {
            let publisher = publisher.clone();
            async move {
                publisher
                    .backlog()
                    .await
                    .is_ok_and(|b| figures(&b) == vec![(0, 3), (0, 1)] && b.dead_letters == 1)
            }
        },
    )
    .await;
    // The consumer node sees the same figures once it knows the tenants.
    for (t, _) in &per_tenant {
        consumer.register_tenant(t).await.unwrap();
    }
    assert_eq!(
        figures(&consumer.backlog().await.unwrap()),
        vec![(0, 3), (0, 1)]
    );
    drop(held);
    consumer.close().await;
    publisher.close().await;
}

/// Cost follows work: a retry rings the bus's doorbell (one member per retry, scored
/// by when it is due), the mover reads only what is due there and clears the rings
/// it handled; idle, the doorbell is empty and the mover reads nothing per tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_ring_the_doorbell_and_the_mover_clears_it() {
    let server = TestRedis::start().await;
    let bus = Bus::redis(bus_config(4, 4, 1000), redis_config(&server))
        .await
        .expect("bus");
    let t = tenant(0);
    let raw = raw_client(&server).await;
    let key = format!("{}:retry:due", server.prefix());
    let rings = || async {
        let v: Vec<String> = raw
            .zrange(&key, 0, -1, None, false, None, false)
            .await
            .unwrap();
        v
    };
    bus.publish(message(&t, "x")).await.expect("publish");
    for attempt in 0..3 {
        let d = bus.next().await.expect("a delivery");
        assert_eq!(d.envelope.attempt, attempt);
        bus.fail(d, "boom").await.expect("fail");
        let now = rings().await;
        // Rung for this retry (unless the mover already took it).
        assert!(
            now.is_empty() || now.iter().all(|m| m.starts_with("discord/t0|")),
            "{now:?}"
        );
    }
    let d = bus.next().await.expect("the last attempt");
    assert_eq!(d.envelope.attempt, 3);
    bus.ack(d).await.expect("ack");
    eventually(Duration::from_secs(10), "the doorbell is empty", || {
        let rings = &rings;
        async move { rings().await.is_empty() }
    })
    .await;
    bus.close().await;
}

/// Idle cost on Redis (a measurement, ignored in the test run; run with
/// `IDLE_TENANTS=500 cargo test --test bus idle_redis_commands -- --ignored --nocapture`):
/// a bus with N registered tenants and nothing to do, its Redis commands per second
/// by command over `IDLE_WINDOW_SECS` (default 5; 65 covers every periodic sweep).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement"]
async fn idle_redis_commands() {
    let n: usize = std::env::var("IDLE_TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let server = TestRedis::start().await;
    let bus = Bus::redis(
        BusConfig::default(),
        RedisBusConfig::new(server.url(), server.prefix()),
    )
    .await
    .expect("bus");
    if std::env::var_os("IDLE_ON_DEMAND").is_some() {
        // As a node in a cluster runs it.
        bus.claim_on_demand(Duration::from_secs(300));
    }
    for i in 0..n {
        bus.register_tenant(&tenant(i)).await.expect("register");
    }
    let raw = raw_client(&server).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats = || async {
        let info: String = raw
            .custom(fred::cmd!("INFO"), vec!["commandstats"])
            .await
            .unwrap();
        info.lines()
            .filter_map(|l| {
                let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = rest
                    .split(',')
                    .next()?
                    .strip_prefix("calls=")?
                    .parse::<u64>()
                    .ok()?;
                Some((name.to_owned(), calls))
            })
            .collect::<std::collections::BTreeMap<String, u64>>()
    };
    let window: u64 = std::env::var("IDLE_WINDOW_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let before = stats().await;
    tokio::time::sleep(Duration::from_secs(window)).await;
    let after = stats().await;
    let mut total = 0;
    for (name, calls) in &after {
        let d = calls - before.get(name).copied().unwrap_or(0);
        if d > 0 {
            println!("idle {n} tenants: {name} {:.1}/s", d as f64 / window as f64);
            total += d;
        }
    }
    println!(
        "idle {n} tenants: total {:.1} commands/s over {window} s",
        total as f64 / window as f64
    );
    bus.close().await;
}

/// Every command Redis runs while `run` runs, as `MONITOR` prints them.
async fn monitored<F: std::future::Future<Output = ()>>(server: &TestRedis, run: F) -> Vec<String> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", server.port()))
        .await
        .expect("connect");
    conn.write_all(b"MONITOR\r\n").await.expect("monitor");
    let mut lines = BufReader::new(conn).lines();
    let ok = lines.next_line().await.expect("read").expect("line");
    assert_eq!(ok, "+OK");
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let done = line.contains("\"monitor-end\"");
            seen.push(line);
            if done {
                break;
            }
        }
        seen
    });
    run.await;
    // A marker command ends the capture once Redis has run everything before it.
    let raw = raw_client(server).await;
    let _: Value = raw
        .custom(fred::cmd!("ECHO"), vec!["monitor-end"])
        .await
        .expect("echo");
    tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("monitor ended")
        .expect("reader")
}

/// Cost follows work: with 200 registered tenants and traffic on one, no command
/// Redis runs names another tenant's key — idle tenants are not polled (the
/// fetcher reads only streams that rang on the work doorbell).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tenants_are_not_polled() {
    let server = TestRedis::start().await;
    let bus = Bus::redis(bus_config(3, 8, 1000), redis_config(&server))
        .await
        .unwrap();
    bus.claim_on_demand(Duration::from_secs(300));
    for i in 0..200 {
        bus.register_tenant(&tenant(i)).await.unwrap();
    }
    let busy = tenant(0);
    // Warm up: the fetcher has listed the tenants and re-read their pending entries.
    bus.publish(message(&busy, "warm")).await.unwrap();
    let d = tokio::time::timeout(Duration::from_secs(30), bus.next())
        .await
        .expect("delivered")
        .expect("open");
    bus.ack(d).await.unwrap();
    let commands = monitored(
        &server,
        Box::pin(async {
            for i in 0..20 {
                bus.publish(message(&busy, &format!("m{i}"))).await.unwrap();
                let d = tokio::time::timeout(Duration::from_secs(30), bus.next())
                    .await
                    .expect("delivered")
                    .expect("open");
                bus.ack(d).await.unwrap();
            }
        }),
    )
    .await;
    let reads = commands
        .iter()
        .filter(|l| l.contains("\"XREADGROUP\""))
        .count();
    assert!(reads >= 1, "the busy tenant was read: {commands:?}");
    let idle: Vec<&String> = commands
        .iter()
        .filter(|l| (1..200).any(|i| l.contains(&format!("{{discord:t{i}}}"))))
        .collect();
    assert!(idle.is_empty(), "idle tenants were touched: {idle:?}");
    bus.close().await;
}
