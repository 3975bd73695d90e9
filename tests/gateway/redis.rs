//! The session store on a real Redis: a gateway on one "daemon" stores its session,
//! a gateway on another resumes it.

use switchboard::actors::gateway::SessionStore;
use switchboard::config::Shards;
use switchboard::model::TenantId;
use switchboard::providers::discord::interactions::InteractionTokens;
use switchboard::sim::InjectMessage;

use crate::common::redis::TestRedis;
use crate::support::{
    CHAN_A, Collector, DUCK_TOKEN, GUILD_A, LONG, MESSAGE_INTENTS, args, inject, start_ready,
    start_sim, tenant, user, vault,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_daemon_resumes_a_session_stored_in_redis() {
    let redis = TestRedis::start().await;
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let t = tenant(&sim, "duck", MESSAGE_INTENTS, Shards::Fixed(1));
    let tokens = InteractionTokens::new();

    let store_a = SessionStore::redis(&redis.url(), redis.prefix())
        .await
        .expect("redis");
    let a = start_ready(args(t.clone(), &bus.bus, &vault, &tokens, &store_a)).await;
    let first = sim
        .inject_message(InjectMessage::guild(
            GUILD_A,
            CHAN_A,
            user(42, "alice"),
            "one",
        ))
        .expect("inject");
    bus.wait_messages("duck", 1).await;
    a.stop().await;

    let store_b = SessionStore::redis(&redis.url(), redis.prefix())
        .await
        .expect("redis");
    let id = TenantId::parse("discord", "duck").expect("id");
    let stored = store_b
        .load(&id, 0)
        .await
        .expect("load")
        .expect("stored in redis");
    assert!(stored.sequence > 0);
    assert_eq!(
        SessionStore::redis_key(redis.prefix(), &id, 0),
        format!("{}:{{discord:duck}}:gateway:session:0", redis.prefix())
    );
    let missed = sim
        .inject_message(InjectMessage::guild(
            GUILD_A,
            CHAN_A,
            user(42, "alice"),
            "two",
        ))
        .expect("inject");
    let b = start_ready(args(t, &bus.bus, &vault, &tokens, &store_b)).await;
    let got = bus.wait_messages("duck", 2).await;
    assert_eq!(
        got.into_iter().map(|m| m.0).collect::<Vec<_>>(),
        [first.to_string(), missed.to_string()]
    );
    let stats = sim.stats().tenant("duck");
    assert_eq!((stats.identifies, stats.resumes), (1, 1));
    b.stop().await;
    store_b.clear(&id, 0).await.expect("clear");
    assert!(store_b.load(&id, 0).await.expect("load").is_none());
    bus.close().await;
    sim.shutdown().await;
}

/// Duck on a Redis bus (`bus`) with its sessions in the same Redis: the server, the
/// emulator, the bus, the vault, the tenant, its id and the session store.
struct OnRedis {
    redis: TestRedis,
    sim: switchboard::sim::SimHandle,
    bus: switchboard::bus::Bus,
    vault: switchboard::vault::VaultHandle,
    t: switchboard::config::TenantConfig,
    id: TenantId,
    store: SessionStore,
}

async fn on_redis(bus: switchboard::bus::BusConfig) -> OnRedis {
    let redis = TestRedis::start().await;
    let sim = start_sim().await;
    let bus = switchboard::bus::Bus::redis(
        bus,
        switchboard::bus::RedisBusConfig::new(redis.url(), redis.prefix()),
    )
    .await
    .expect("redis bus");
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let t = tenant(&sim, "duck", MESSAGE_INTENTS, Shards::Fixed(1));
    let id = TenantId::parse("discord", "duck").expect("id");
    let store = SessionStore::redis(&redis.url(), redis.prefix())
        .await
        .expect("redis");
    OnRedis {
        redis,
        sim,
        bus,
        vault,
        t,
        id,
        store,
    }
}

/// Fenced ownership: once a newer owner's fence is on record, a gateway that still
/// believes it holds the tenant (paused past its lease, partitioned) has its
/// publishes and session saves refused in Redis, and stands down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_owners_writes_are_refused_and_it_stands_down() {
    use std::time::Duration;
    use switchboard::actors::gateway::GatewayExit;
    use switchboard::bus::{BusConfig, fence_key};
    use switchboard::model::{Event, Payload};

    let OnRedis {
        redis,
        sim,
        bus,
        vault,
        t,
        id,
        store,
    } = on_redis(BusConfig::default()).await;
    let gw = start_ready(args(t, &bus, &vault, &InteractionTokens::new(), &store)).await;
    let say = |text: &str| inject(&sim, text);
    let next_text = || async {
        loop {
            let d = tokio::time::timeout(Duration::from_secs(30), bus.next())
                .await
                .expect("a delivery")
                .expect("bus open");
            let text = match &d.envelope.payload {
                Payload::Event(Event::SocialMessageCreated(m)) => Some(m.content.clone()),
                _ => None,
            };
            bus.ack(d).await.expect("ack");
            if let Some(text) = text {
                return text;
            }
        }
    };
    say("one");
    assert_eq!(next_text().await, "one");

    // A newer owner writes its (higher) fence.
    let raw = fred::prelude::Client::new(
        fred::prelude::Config::from_url(&redis.url()).expect("url"),
        None,
        None,
        None,
    );
    fred::prelude::ClientLike::init(&raw)
        .await
        .expect("connect");
    let key = fence_key(redis.prefix(), &id);
    let current: u64 = fred::prelude::KeysInterface::get::<Option<String>, _>(&raw, &key)
        .await
        .expect("get")
        .expect("the owner recorded its fence")
        .parse()
        .expect("a number");
    let () =
        fred::prelude::KeysInterface::set(&raw, &key, (current + 1).to_string(), None, None, false)
            .await
            .expect("set");

    say("two");
    crate::support::eventually(crate::support::LONG, || async { gw.exit().is_some() }).await;
    assert!(
        matches!(gw.exit(), Some(GatewayExit::LeaseLost(r)) if r.contains("stale owner")),
        "{:?}",
        gw.exit()
    );
    // "two" never reached the inbox.
    gw.stop().await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), bus.next())
            .await
            .is_err(),
        "a stale owner's event was published"
    );
    bus.close().await;
    sim.shutdown().await;
}

/// Interaction tokens in a cluster: one node's gateway keeps a token, another node's
/// REST side reads it; in Redis it is sealed (no plaintext, bound to its key), it
/// expires with Discord's 15 minutes, and another vault key opens nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interaction_tokens_are_shared_sealed_and_expiring() {
    use fred::prelude::{Client, ClientLike, Config, KeysInterface};
    use secrecy::{ExposeSecret, SecretString};
    use switchboard::providers::discord::interactions::{
        INTERACTION_TOKEN_TTL, InteractionTokens, SharedTokenStore,
    };
    use switchboard::vault::{TokenSealer, VaultKey};

    let redis = TestRedis::start().await;
    let key = VaultKey::generate();
    let url = redis.url();
    let store = |k: &VaultKey| SharedTokenStore::redis(&url, redis.prefix(), TokenSealer::new(k));
    let id = TenantId::parse("discord", "duck").expect("id");
    let node_a = InteractionTokens::shared(store(&key).await.expect("a"), id.clone());
    let node_b = InteractionTokens::shared(store(&key).await.expect("b"), id.clone());
    let canary = "interaction-token-canary-7f3a";
    node_a.put("1234", "5678", SecretString::from(canary)).await;
    let got = node_b.fetch("1234").await.expect("node b reads it");
    assert_eq!((got.0.expose_secret(), got.1.as_str()), (canary, "5678"));
    assert!(node_b.fetch("9999").await.is_none());

    let raw = Client::new(
        Config::from_url(&redis.url()).expect("url"),
        None,
        None,
        None,
    );
    raw.init().await.expect("connect");
    let redis_key = store(&key).await.expect("c").key(&id, "1234");
    let value: Vec<u8> = raw.get(&redis_key).await.expect("get");
    assert!(
        !value.windows(canary.len()).any(|w| w == canary.as_bytes()),
        "no plaintext token in Redis"
    );
    let ttl: i64 = raw.pttl(&redis_key).await.expect("pttl");
    let max = INTERACTION_TOKEN_TTL.as_millis() as i64;
    assert!(
        ttl > max - 60_000 && ttl <= max,
        "expires with Discord's 15 minutes: {ttl}"
    );

    let other = InteractionTokens::shared(store(&VaultKey::generate()).await.expect("d"), id);
    assert!(
        other.fetch("1234").await.is_none(),
        "another key opens nothing"
    );
}

/// Live dispatches go out as first publishes (inbox entry field `n`: their first
/// delivery skips the idempotency lookup); what a RESUME replays does not, so a
/// replayed message that a handler finished is looked up, and skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_live_dispatches_are_first_publishes_not_what_resume_replays() {
    use switchboard::bus::BusConfig;

    // Nobody consumes the inbox: its entries stay in the stream to be read back.
    let on = on_redis(BusConfig {
        consume_inbox: false,
        ..BusConfig::default()
    })
    .await;
    let (redis, sim, bus, vault, id, store) =
        (&on.redis, &on.sim, &on.bus, &on.vault, &on.id, &on.store);
    let tokens = InteractionTokens::new();
    let client = redis.client().await;
    let stream = format!("{}:{{discord:duck}}:inbox:message", redis.prefix());
    // Whether each message entry, in stream order, is marked as a first publish.
    let firsts = || async {
        use fred::prelude::StreamsInterface;
        let entries: fred::types::Value = client
            .xrange(stream.as_str(), "-", "+", None)
            .await
            .expect("xrange");
        entries
            .into_array()
            .into_iter()
            .map(|entry| {
                let fields = entry.into_array().pop().map(fred::types::Value::into_array);
                fields
                    .unwrap_or_default()
                    .iter()
                    .step_by(2)
                    .any(|k| k.as_str().as_deref() == Some("n"))
            })
            .collect::<Vec<bool>>()
    };
    let say = |text: &str| inject(sim, text);
    // The first `n` entries' marks, once there are `n`.
    let entries = |n: usize| {
        let firsts = &firsts;
        crate::common::eventually_some(LONG, move || async move {
            let seen = firsts().await;
            (seen.len() >= n).then_some(seen)
        })
    };

    let first = start_ready(args(on.t.clone(), bus, vault, &tokens, store)).await;
    say("one");
    say("two");
    assert_eq!(entries(2).await, [true, true], "live: first publishes");
    first.stop().await;

    // As after a `kill -9` between two saves: RESUME replays both messages.
    let mut stored = store.load(id, 0).await.expect("load").expect("stored");
    stored.sequence -= 2;
    store.save(id, 0, &stored).await.expect("save");
    let second = start_ready(args(on.t.clone(), bus, vault, &tokens, store)).await;
    assert_eq!(entries(4).await.len(), 4, "both replayed");
    say("three");
    assert_eq!(
        entries(5).await,
        [true, true, false, false, true],
        "replays are possible repeats; what follows RESUMED is live"
    );
    assert_eq!(sim.stats().tenant("duck").resumes, 1, "replayed by RESUME");
    second.stop().await;
    bus.close().await;
    on.sim.shutdown().await;
}
