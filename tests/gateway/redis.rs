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
