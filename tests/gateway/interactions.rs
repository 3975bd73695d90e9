//! Interactions and member events through the actor: tokens go to
//! `InteractionTokens` and never onto the bus; member, edit and delete events
//! arrive on their topics.

use secrecy::ExposeSecret;
use serde_json::json;
use switchboard::actors::gateway::SessionStore;
use switchboard::commands::{AppCommand, OptionDef};
use switchboard::config::Shards;
use switchboard::model::{Event, InteractionKind, Payload, encode};
use switchboard::providers::discord::interactions::InteractionTokens;
use switchboard::sim::{
    self, InjectInteraction, InjectMessage, MemberEvent, MessageDeletion, MessageEdit,
};

use crate::support::{
    CHAN_A, Collector, DUCK_APP, DUCK_TOKEN, GUILD_A, LONG, args, eventually, start_ready,
    start_sim, tenant, user, vault,
};

/// Registers duck's command in guild A: the emulator refuses unregistered ones.
fn register(sim: &switchboard::sim::SimHandle, command: AppCommand) {
    sim.register_commands(DUCK_APP, Some(GUILD_A), &[command])
        .expect("registered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interaction_tokens_stay_in_the_access_layer() {
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let tokens = InteractionTokens::new();
    let mut t = tenant(
        &sim,
        "duck",
        &["guilds", "guild_messages", "guild_members"],
        Shards::Fixed(1),
    );
    t.publish_raw = true;
    let gw = start_ready(args(t, &bus.bus, &vault, &tokens, &SessionStore::memory())).await;

    let kinds = [
        sim::InteractionKind::SlashCommand {
            name: "roll".into(),
            options: vec![json!({"type": 4, "name": "sides", "value": 20})],
        },
        sim::InteractionKind::Button {
            custom_id: "ok".into(),
            message_id: None,
        },
        sim::InteractionKind::Select {
            custom_id: "pick".into(),
            values: vec!["a".into(), "b".into()],
            message_id: None,
        },
    ];
    register(
        &sim,
        AppCommand::slash("roll", "Roll").option(OptionDef::integer("sides", "Sides")),
    );
    let mut injected = Vec::new();
    for kind in kinds {
        injected.push(
            sim.inject_interaction(&InjectInteraction {
                tenant: "duck".into(),
                guild_id: Some(GUILD_A),
                channel_id: Some(CHAN_A),
                user: user(42, "alice"),
                kind,
            })
            .expect("inject"),
        );
    }
    let interactions = || {
        bus.all()
            .into_iter()
            .filter_map(|e| match e.payload {
                Payload::Event(Event::InteractionCreated(i)) => Some(i),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    eventually(LONG, || async { interactions().len() == 3 }).await;
    let got = interactions();
    assert_eq!(
        got.iter().map(|i| i.kind).collect::<Vec<_>>(),
        [
            InteractionKind::Command,
            InteractionKind::Component,
            InteractionKind::Component
        ]
    );
    assert_eq!(got[0].command_name.as_deref(), Some("roll"));
    assert_eq!(got[2].values, ["a", "b"]);

    for (inj, ev) in injected.iter().zip(&got) {
        assert_eq!(ev.interaction_id, inj.id.to_string());
        let (token, app) = tokens.get(&ev.interaction_id).expect("token kept");
        assert_eq!(token.expose_secret(), inj.token);
        assert_eq!(app, DUCK_APP.to_string());
    }
    // Nothing on the bus carries a token, in any encoding (raw publishing is on).
    sim.inject_message(InjectMessage::guild(
        GUILD_A,
        CHAN_A,
        user(42, "alice"),
        "hi",
    ))
    .expect("inject");
    bus.wait_messages("duck", 1).await;
    for env in bus.all() {
        let bytes = encode(&env).expect("encode");
        let debug = format!("{env:?}");
        for inj in &injected {
            let needle = inj.token.as_bytes();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "token in {}",
                env.topic
            );
            assert!(!debug.contains(&inj.token));
        }
        assert_ne!(
            env.topic.name(),
            "interaction_create",
            "no raw interactions"
        );
    }
    gw.stop().await;
    bus.close().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_edit_and_delete_events_arrive_on_their_topics() {
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let t = tenant(
        &sim,
        "duck",
        &[
            "guilds",
            "guild_messages",
            "message_content",
            "guild_members",
        ],
        Shards::Fixed(1),
    );
    let gw = start_ready(args(
        t,
        &bus.bus,
        &vault,
        &InteractionTokens::new(),
        &SessionStore::memory(),
    ))
    .await;
    let id = sim
        .inject_message(InjectMessage::guild(
            GUILD_A,
            CHAN_A,
            user(42, "alice"),
            "typo",
        ))
        .expect("inject");
    sim.edit_message(&MessageEdit {
        channel_id: CHAN_A,
        message_id: id,
        content: "fixed".into(),
    })
    .expect("edit");
    sim.delete_message(&MessageDeletion {
        channel_id: CHAN_A,
        message_id: id,
    })
    .expect("delete");
    sim.member_event(MemberEvent::Add {
        guild_id: GUILD_A,
        user: user(43, "bob"),
    })
    .expect("add");
    sim.member_event(MemberEvent::Update {
        guild_id: GUILD_A,
        user_id: 43,
        roles: None,
        nick: Some("bobby".into()),
    })
    .expect("update");
    sim.member_event(MemberEvent::Remove {
        guild_id: GUILD_A,
        user_id: 43,
    })
    .expect("remove");

    // The bus serves member events before messages (priority classes); within a
    // class the order is the gateway's.
    let class = |prefix: &'static str| {
        bus.all()
            .into_iter()
            .filter(|e| e.topic.name().starts_with(prefix))
            .collect::<Vec<_>>()
    };
    eventually(LONG, || async { bus.all().len() == 6 }).await;
    let names = |v: &[switchboard::model::Envelope]| {
        v.iter()
            .map(|e| e.topic.name().to_owned())
            .collect::<Vec<_>>()
    };
    let messages = class("social_");
    let members = class("member_");
    assert_eq!(
        names(&messages),
        [
            "social_message_created",
            "social_message_updated",
            "social_message_deleted"
        ]
    );
    assert_eq!(
        names(&members),
        ["member_joined", "member_updated", "member_left"]
    );
    let Payload::Event(Event::SocialMessageUpdated(u)) = &messages[1].payload else {
        panic!()
    };
    assert_eq!(u.content.as_deref(), Some("fixed"));
    let Payload::Event(Event::MemberUpdated(m)) = &members[1].payload else {
        panic!()
    };
    assert_eq!(
        (m.user.id.as_str(), m.nick.as_deref()),
        ("43", Some("bobby"))
    );
    gw.stop().await;
    bus.close().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_reaches_the_logs() {
    let logs = crate::common::capture_logs();
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("duck", DUCK_TOKEN), ("goose", "wrong-goose-token")]).await;
    let tokens = InteractionTokens::new();
    let duck = start_ready(args(
        tenant(
            &sim,
            "duck",
            &["guilds", "guild_messages"],
            Shards::Fixed(1),
        ),
        &bus.bus,
        &vault,
        &tokens,
        &SessionStore::memory(),
    ))
    .await;
    let goose = switchboard::actors::gateway::GatewayHandle::start(
        args(
            tenant(&sim, "goose", &["guilds"], Shards::Auto),
            &bus.bus,
            &vault,
            &InteractionTokens::new(),
            &SessionStore::memory(),
        ),
        None,
    )
    .await;
    // `shards: auto` asks GET /gateway/bot first, which refuses the token (401).
    assert!(
        matches!(
            goose,
            Err(switchboard::actors::gateway::GatewayError::Unauthorized)
        ),
        "{goose:?}"
    );
    register(&sim, AppCommand::slash("ping", "Ping"));
    let inj = sim
        .inject_interaction(&InjectInteraction {
            tenant: "duck".into(),
            guild_id: Some(GUILD_A),
            channel_id: Some(CHAN_A),
            user: user(42, "alice"),
            kind: sim::InteractionKind::Button {
                custom_id: "ok".into(),
                message_id: None,
            },
        })
        .expect("inject");
    eventually(LONG, || async { tokens.get(&inj.id.to_string()).is_some() }).await;
    sim.fault("duck", sim::Fault::Close { code: 4000 }, None)
        .expect("fault");
    eventually(LONG, || async { duck.health().shards[0].resumes == 1 }).await;
    duck.stop().await;
    // The emulator's own WebSocket library (tungstenite, server side) traces every
    // frame it receives, IDENTIFY included: that is the emulator's side of the wire,
    // not ours. Everything else — switchboard, twilight, tokio-websockets — counts.
    let text = logs
        .contents()
        .lines()
        .filter(|l| !l.contains(" tungstenite::"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(text.contains("tenant"), "logs were captured");
    for secret in [DUCK_TOKEN, "wrong-goose-token", inj.token.as_str()] {
        if let Some(line) = text.lines().find(|l| l.contains(secret)) {
            let redacted = line.replace(secret, "<SECRET>");
            panic!("a token reached the logs: {redacted}");
        }
    }
    bus.close().await;
    sim.shutdown().await;
}
