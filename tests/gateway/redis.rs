//! The session store on a real Redis: a gateway on one "daemon" stores its session,
//! a gateway on another resumes it.

use switchboard::actors::gateway::SessionStore;
use switchboard::config::Shards;
use switchboard::model::TenantId;
use switchboard::providers::discord::interactions::InteractionTokens;
use switchboard::sim::InjectMessage;

use crate::common::redis::TestRedis;
use crate::support::{
    CHAN_A, Collector, DUCK_TOKEN, GUILD_A, MESSAGE_INTENTS, args, start_ready, start_sim, tenant,
    user, vault,
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

/// Fenced ownership: once a newer owner's fence is on record, a gateway that still
/// believes it holds the tenant (paused past its lease, partitioned) has its
/// publishes and session saves refused in Redis, and stands down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_owners_writes_are_refused_and_it_stands_down() {
    use std::time::Duration;
    use switchboard::actors::gateway::GatewayExit;
    use switchboard::bus::{Bus, BusConfig, RedisBusConfig, fence_key};
    use switchboard::model::{Event, Payload};

    let redis = TestRedis::start().await;
    let sim = start_sim().await;
    let bus = Bus::redis(
        BusConfig::default(),
        RedisBusConfig::new(redis.url(), redis.prefix()),
    )
    .await
    .expect("redis bus");
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let t = tenant(&sim, "duck", MESSAGE_INTENTS, Shards::Fixed(1));
    let id = TenantId::parse("discord", "duck").expect("id");
    let store = SessionStore::redis(&redis.url(), redis.prefix())
        .await
        .expect("redis");
    let gw = start_ready(args(t, &bus, &vault, &InteractionTokens::new(), &store)).await;
    let say = |text: &str| {
        sim.inject_message(InjectMessage::guild(
            GUILD_A,
            CHAN_A,
            user(42, "alice"),
            text,
        ))
        .expect("inject")
    };
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
