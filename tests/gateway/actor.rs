//! The gateway actor end to end: injected messages reach the bus on the tenant's
//! topic, self and bot authors are tagged, `allow` and the handlers' interest filter,
//! raw payloads, health.

use switchboard::actors::gateway::{SessionStore, ShardStatus, TenantState};
use switchboard::config::Shards;
use switchboard::handler::{Interest, InterestCell};
use switchboard::model::{Event, Payload};
use switchboard::providers::discord::interactions::InteractionTokens;
use switchboard::sim::{InjectMessage, SimUser};

use crate::support::{
    CHAN_A, CHAN_A2, CHAN_B, Collector, DUCK_BOT, DUCK_TOKEN, GUILD_A, GUILD_B, LONG,
    MESSAGE_INTENTS, args, eventually, start_ready, start_sim, tenant, user, vault,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_the_bus_on_the_tenant_topic_with_authors_tagged() {
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let tokens = InteractionTokens::new();
    let mut t = tenant(&sim, "duck", MESSAGE_INTENTS, Shards::Fixed(1));
    t.publish_raw = true;
    let gw = start_ready(args(t, &bus.bus, &vault, &tokens, &SessionStore::memory())).await;

    let human = sim
        .inject_message(InjectMessage::guild(
            GUILD_A,
            CHAN_A,
            user(42, "alice"),
            "!ping",
        ))
        .expect("inject");
    let me = SimUser {
        id: DUCK_BOT,
        username: "duck-bot".into(),
        bot: true,
    };
    let own = sim
        .inject_message(InjectMessage::guild(GUILD_A, CHAN_A, me, "pong"))
        .expect("inject");
    let other_bot = SimUser {
        id: 77,
        username: "robot".into(),
        bot: true,
    };
    let robot = sim
        .inject_message(InjectMessage::guild(GUILD_A, CHAN_A, other_bot, "beep"))
        .expect("inject");

    let got = bus.wait_messages("duck", 3).await;
    assert_eq!(
        got,
        vec![
            (human.to_string(), "!ping".to_owned(), false, false),
            (own.to_string(), "pong".to_owned(), true, true),
            (robot.to_string(), "beep".to_owned(), false, true),
        ]
    );
    let events: Vec<_> = bus
        .all()
        .into_iter()
        .filter(|e| matches!(e.payload, Payload::Event(_)))
        .collect();
    assert!(events.iter().all(|e| {
        e.topic.to_string() == "promethean.p.discord.t.duck.events.social_message_created"
    }));
    // Raw payloads ride along on `raw.message_create`.
    eventually(LONG, || async {
        bus.all()
            .iter()
            .filter(|e| e.topic.to_string() == "promethean.p.discord.t.duck.raw.message_create")
            .count()
            == 3
    })
    .await;

    let h = gw.health();
    assert_eq!(h.state, TenantState::Running);
    assert_eq!(h.shards.len(), 1);
    let s = &h.shards[0];
    assert_eq!((s.id, s.total, s.status), (0, 1, ShardStatus::Ready));
    assert_eq!(s.identifies, 1);
    assert!(s.events_in >= 4, "READY, GUILD_CREATEs and messages: {s:?}");
    assert!(s.last_sequence.is_some());
    assert_eq!(s.published, 6);

    gw.stop().await;
    assert_eq!(gw.state(), TenantState::Stopped);
    assert_eq!(gw.health().shards[0].status, ShardStatus::Stopped);
    bus.close().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_messages_no_handler_wants_are_not_published_until_the_interest_changes() {
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let mut t = tenant(&sim, "duck", MESSAGE_INTENTS, Shards::Fixed(1));
    t.publish_raw = true;
    let interest = InterestCell::new(Interest::ALL.without_own_messages());
    let mut a = args(
        t,
        &bus.bus,
        &vault,
        &InteractionTokens::new(),
        &SessionStore::memory(),
    );
    a.interest = interest.clone();
    let gw = start_ready(a).await;
    let me = || SimUser {
        id: DUCK_BOT,
        username: "duck-bot".into(),
        bot: true,
    };
    let say = |who: SimUser, text: &str| {
        sim.inject_message(InjectMessage::guild(GUILD_A, CHAN_A, who, text))
            .expect("inject")
    };
    say(me(), "pong 1");
    let human = say(user(42, "alice"), "!ping");
    // One shard handles its dispatches in order: once the human's message is on
    // the bus, the bot's own before it was judged.
    assert_eq!(
        bus.wait_messages("duck", 1).await,
        vec![(human.to_string(), "!ping".to_owned(), false, false)]
    );
    let raws = || {
        bus.all()
            .iter()
            .filter(|e| matches!(e.payload, Payload::Raw(_)))
            .count()
    };
    // The raw payloads of both are published: raw consumers are not handlers.
    eventually(LONG, || async { raws() == 2 }).await;
    let s = &gw.health().shards[0];
    assert_eq!((s.filtered, s.published), (1, 3), "{s:?}");

    // Now a handler wants the bot's own messages: the running gateway publishes them.
    interest.set(Interest::ALL);
    let own = say(me(), "pong 2");
    let got = bus.wait_messages("duck", 2).await;
    assert_eq!(got[1], (own.to_string(), "pong 2".to_owned(), true, true));
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(gw.health().shards[0].filtered, 1);
    gw.stop().await;
    bus.close().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_lists_filter_channels_guilds_and_direct_messages() {
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let mut t = tenant(&sim, "duck", MESSAGE_INTENTS, Shards::Fixed(2));
    t.allow.guilds = vec![GUILD_A.to_string(), GUILD_B.to_string()];
    t.allow.channels = vec![CHAN_A.to_string(), CHAN_B.to_string()];
    let gw = start_ready(args(
        t,
        &bus.bus,
        &vault,
        &InteractionTokens::new(),
        &SessionStore::memory(),
    ))
    .await;

    let inject = |g, c, text: &str| {
        sim.inject_message(InjectMessage::guild(g, c, user(42, "alice"), text))
            .expect("inject")
    };
    inject(GUILD_A, CHAN_A2, "outside allow");
    sim.inject_message(InjectMessage::dm("duck", user(42, "alice"), "a DM"))
        .expect("dm");
    let a = inject(GUILD_A, CHAN_A, "allowed on shard 0");
    let b = inject(GUILD_B, CHAN_B, "allowed on shard 1");

    let mut got: Vec<_> = bus
        .wait_messages("duck", 2)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    got.sort();
    let mut want = vec![a.to_string(), b.to_string()];
    want.sort();
    assert_eq!(got, want);
    // The filtered ones were seen (counted), not published.
    eventually(LONG, || async {
        gw.health().shards.iter().map(|s| s.filtered).sum::<u64>() == 2
    })
    .await;
    assert_eq!(bus.messages("duck").len(), 2);
    assert!(bus.all().iter().all(|e| !matches!(&e.payload,
        Payload::Event(Event::SocialMessageCreated(m)) if m.channel_id == CHAN_A2.to_string())));
    let h = gw.health();
    assert_eq!(
        h.shards.iter().map(|s| (s.id, s.total)).collect::<Vec<_>>(),
        [(0, 2), (1, 2)]
    );

    gw.stop().await;
    bus.close().await;
    sim.shutdown().await;
}
