//! Interactions in the emulator as Discord behaves: the initial-response window
//! (10062 after it), the token's lifetime on every webhook route (50027), commands
//! injected only when registered, context-menu commands twilight parses, and
//! guilds that accept any channel id (`channels: ["*"]`).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use switchboard::commands::AppCommand;
use switchboard::sim::{
    GuildConfig, InjectInteraction, InjectMessage, InjectedInteraction, InteractionKind, SimConfig,
    SimError, SimHandle, TenantConfig,
};

use crate::util::{
    CHAN_A, DUCK_APP, DUCK_BOT, DUCK_TOKEN, GUILD_A, config, http, message_intents, next_dispatch,
    shard, start, user,
};

fn slash(name: &str) -> InjectInteraction {
    InjectInteraction {
        tenant: "duck".into(),
        guild_id: Some(GUILD_A),
        channel_id: Some(CHAN_A),
        user: user(42, "alice"),
        kind: InteractionKind::SlashCommand {
            name: name.into(),
            options: Vec::new(),
        },
    }
}

async fn callback(sim: &SimHandle, i: &InjectedInteraction, body: &Value) -> (u16, Value) {
    let r = http()
        .post(format!(
            "{}/interactions/{}/{}/callback",
            sim.api_base(),
            i.id,
            i.token
        ))
        .json(body)
        .send()
        .await
        .expect("callback");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn webhook(sim: &SimHandle, method: Method, path: &str, token: &str) -> u16 {
    http()
        .request(
            method,
            format!("{}/webhooks/{DUCK_APP}/{token}{path}", sim.api_base()),
        )
        .json(&json!({"content": "x"}))
        .send()
        .await
        .expect("webhook")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_callback_after_the_window_is_unknown_interaction() {
    let mut c = config();
    // Every callback is late: no waiting needed to test the refusal.
    c.interaction_response_window = Duration::ZERO;
    let sim = start(c).await;
    sim.register_commands(
        DUCK_APP,
        Some(GUILD_A),
        &[AppCommand::slash("ping", "Ping")],
    )
    .expect("registered");
    let i = sim.inject_interaction(&slash("ping")).expect("injected");
    let (status, body) = callback(&sim, &i, &json!({"type": 5})).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"message": "Unknown interaction", "code": 10062})
    );
    let log = sim.interaction(i.id).expect("logged");
    assert_eq!((log.late_callbacks, log.initial_type), (1, None), "{log:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn within_the_window_one_callback_then_edits_are_logged() {
    let sim = start(config()).await;
    sim.register_commands(
        DUCK_APP,
        Some(GUILD_A),
        &[AppCommand::slash("ping", "Ping")],
    )
    .expect("registered");
    let i = sim.inject_interaction(&slash("ping")).expect("injected");
    let (status, _) = callback(&sim, &i, &json!({"type": 5, "data": {"flags": 64}})).await;
    assert_eq!(status, 204);
    let (again, body) = callback(&sim, &i, &json!({"type": 4, "data": {"content": "x"}})).await;
    assert_eq!((again, body["code"].as_u64()), (400, Some(40060)));
    let patch = webhook(&sim, Method::PATCH, "/messages/@original", &i.token).await;
    assert_eq!(patch, 200);
    let log = sim.interaction(i.id).expect("logged");
    assert_eq!(log.initial_type, Some(5));
    assert!(log.initial_ephemeral);
    assert!(log.initial_after_ms.is_some_and(|ms| ms < 3_000), "{log:?}");
    assert_eq!(
        (log.duplicate_callbacks, log.original_edits),
        (1, 1),
        "{log:?}"
    );
    assert!(log.first_edit_after_ms >= log.initial_after_ms);
    assert_eq!(sim.interaction_log().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_expired_token_is_refused_on_every_webhook_route() {
    let mut c = config();
    c.interaction_token_ttl = Duration::ZERO;
    let sim = start(c).await;
    sim.register_commands(
        DUCK_APP,
        Some(GUILD_A),
        &[AppCommand::slash("ping", "Ping")],
    )
    .expect("registered");
    let i = sim.inject_interaction(&slash("ping")).expect("injected");
    for (method, path) in [
        (Method::POST, ""),
        (Method::GET, "/messages/@original"),
        (Method::PATCH, "/messages/@original"),
        (Method::DELETE, "/messages/@original"),
        (Method::PATCH, "/messages/123"),
    ] {
        let status = webhook(&sim, method.clone(), path, &i.token).await;
        assert_eq!(status, 401, "{method} {path}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn only_registered_commands_can_be_injected() {
    let sim = start(config()).await;
    let err = sim.inject_interaction(&slash("ping")).expect_err("refused");
    assert!(
        matches!(&err, SimError::Invalid(m) if m.contains("/ping is not registered")),
        "{err}"
    );
    // Registered in another guild: still refused here; global: accepted everywhere.
    sim.register_commands(
        DUCK_APP,
        Some(GUILD_A + 1),
        &[AppCommand::slash("ping", "Ping")],
    )
    .expect("registered");
    assert!(sim.inject_interaction(&slash("ping")).is_err());
    sim.register_commands(DUCK_APP, None, &[AppCommand::slash("ping", "Ping")])
        .expect("registered");
    assert!(sim.inject_interaction(&slash("ping")).is_ok());
    // A user command is not a slash command of the same name.
    sim.register_commands(DUCK_APP, None, &[AppCommand::user("Stats")])
        .expect("registered");
    let mut stats = slash("Stats");
    assert!(sim.inject_interaction(&stats).is_err());
    stats.kind = InteractionKind::UserCommand {
        name: "Stats".into(),
        target_id: 77,
    };
    assert!(sim.inject_interaction(&stats).is_ok());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_menu_commands_reach_twilight_with_their_target() {
    let sim = start(config()).await;
    let mut s = shard(&sim, DUCK_TOKEN, message_intents(), 0, 1);
    next_dispatch(&mut s, "READY").await;
    sim.register_commands(
        DUCK_APP,
        Some(GUILD_A),
        &[AppCommand::user("Stats"), AppCommand::message("Quote")],
    )
    .expect("registered");
    let quoted = sim
        .inject_message(InjectMessage::guild(
            GUILD_A,
            CHAN_A,
            user(77, "bob"),
            "quote me",
        ))
        .expect("message");
    let mut req = slash("");
    req.kind = InteractionKind::UserCommand {
        name: "Stats".into(),
        target_id: 77,
    };
    sim.inject_interaction(&req).expect("user command");
    // `next_dispatch` also checks that twilight-model parses the payload.
    let d = next_dispatch(&mut s, "INTERACTION_CREATE").await["d"].clone();
    assert_eq!(
        (d["type"].as_u64(), d["data"]["type"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(d["data"]["target_id"], "77");
    assert_eq!(d["data"]["resolved"]["users"]["77"]["username"], "bob");
    req.kind = InteractionKind::MessageCommand {
        name: "Quote".into(),
        target_id: quoted,
    };
    sim.inject_interaction(&req).expect("message command");
    let d = next_dispatch(&mut s, "INTERACTION_CREATE").await["d"].clone();
    assert_eq!(d["data"]["type"].as_u64(), Some(3));
    let id = quoted.to_string();
    assert_eq!(
        d["data"]["resolved"]["messages"][&id]["content"],
        "quote me"
    );
    req.kind = InteractionKind::MessageCommand {
        name: "Quote".into(),
        target_id: 5,
    };
    assert!(matches!(
        sim.inject_interaction(&req),
        Err(SimError::UnknownMessage(5))
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_star_guild_accepts_any_channel_id() {
    let open = GUILD_A;
    let closed = GUILD_A + (1 << 22);
    let c = SimConfig::default().tenant(
        TenantConfig::new("duck", DUCK_TOKEN, DUCK_APP, DUCK_BOT)
            .guild(GuildConfig::new(open, "open", &[(CHAN_A, "general")]).any_channel())
            .guild(GuildConfig::new(
                closed,
                "closed",
                &[(CHAN_A + 1, "general")],
            )),
    );
    let sim = start(c).await;
    let fresh = 987_654_321_000_000_001;
    let m = sim
        .inject_message(InjectMessage::guild(open, fresh, user(42, "alice"), "hi"))
        .expect("a new channel of the open guild");
    assert!(sim.all_channel_messages(fresh).iter().any(|p| p.id == m));
    sim.register_commands(DUCK_APP, None, &[AppCommand::slash("ping", "Ping")])
        .expect("registered");
    let mut i = slash("ping");
    i.channel_id = Some(fresh + 1);
    sim.inject_interaction(&i).expect("interactions too");
    // The channel now belongs to the open guild; the closed one stays closed.
    let err = sim
        .inject_message(InjectMessage::guild(closed, fresh, user(42, "alice"), "no"))
        .expect_err("not the closed guild's channel");
    assert!(matches!(err, SimError::UnknownChannel(_)), "{err}");
    assert!(
        sim.inject_message(InjectMessage::guild(closed, 5, user(42, "alice"), "no"))
            .is_err()
    );
    sim.shutdown().await;
}
