//! `RespondInteraction` against interactions injected into the emulator: callback
//! types 4–9, deferred + edit original, followups; unknown and expired tokens answer
//! `InteractionExpired` for that command only.

use secrecy::SecretString;
use serde_json::json;
use switchboard::actors::rest::{BudgetConfig, RestConfig, TenantState};
use switchboard::commands::{AppCommand, OptionDef};
use switchboard::model::{
    Choice, ChoiceValue, Command, InteractionResponse, MessageBody, RespondInteraction,
    RestErrorKind, RestResult, TextInput,
};
use switchboard::sim::{InjectInteraction, InteractionKind};

use crate::support::{DUCK_APP, DUCK_TOKEN, GUILD, World, channel, post, sim_config, user};

fn slash() -> InteractionKind {
    InteractionKind::SlashCommand {
        name: "ping".into(),
        options: Vec::new(),
    }
}

/// Injects an interaction and hands its token to duck's REST actor, as the gateway
/// would; returns its id.
fn inject(w: &World, kind: InteractionKind) -> String {
    register(w);
    let i = w
        .sim()
        .inject_interaction(&InjectInteraction {
            tenant: "duck".into(),
            guild_id: Some(GUILD),
            channel_id: Some(channel(0)),
            user: user(42, "mallard"),
            kind,
        })
        .expect("injected");
    let id = i.id.to_string();
    w.tokens["duck"].insert(&id, &DUCK_APP.to_string(), SecretString::from(i.token));
    id
}

/// Registers duck's `/ping` and `/find`: the emulator refuses unregistered commands.
fn register(w: &World) {
    let commands = [
        AppCommand::slash("ping", "Ping"),
        AppCommand::slash("find", "Find").option(OptionDef::string("q", "Query").autocomplete()),
    ];
    w.sim()
        .register_commands(DUCK_APP, Some(GUILD), &commands)
        .expect("commands registered");
}

fn respond(id: &str, response: InteractionResponse) -> Command {
    Command::RespondInteraction(RespondInteraction {
        interaction_id: id.to_owned(),
        response,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines, clippy::many_single_char_names)] // one scenario, top to bottom
async fn every_kind_of_answer() {
    let mut w = World::new(
        Some(sim_config(false)),
        &[("duck", DUCK_TOKEN)],
        BudgetConfig::default(),
    )
    .await;
    let api = w.api();
    w.start("duck", DUCK_APP, &api, RestConfig::default()).await;

    // Message (4), then a followup.
    let id = inject(&w, slash());
    let r = w
        .request(
            "duck",
            respond(&id, InteractionResponse::Message(MessageBody::text("pong"))),
        )
        .await;
    assert!(r.ok, "{r:?}");
    let f = w
        .request(
            "duck",
            respond(
                &id,
                InteractionResponse::Followup(MessageBody::text("more")),
            ),
        )
        .await;
    assert!(
        matches!(f.result, Some(RestResult::Message { .. })),
        "{f:?}"
    );

    // Deferred (5), then an edit of the original.
    let id = inject(&w, slash());
    let d = w
        .request(
            "duck",
            respond(
                &id,
                InteractionResponse::DeferredMessage { ephemeral: false },
            ),
        )
        .await;
    assert!(d.ok, "{d:?}");
    let e = w
        .request(
            "duck",
            respond(
                &id,
                InteractionResponse::EditOriginal(MessageBody::text("done")),
            ),
        )
        .await;
    assert!(
        matches!(e.result, Some(RestResult::Message { .. })),
        "{e:?}"
    );

    // Autocomplete (8).
    let id = inject(
        &w,
        InteractionKind::Autocomplete {
            name: "find".into(),
            options: vec![json!({"type": 3, "name": "q", "value": "du", "focused": true})],
        },
    );
    let choices = vec![Choice {
        name: "duck".into(),
        value: ChoiceValue::String("duck".into()),
    }];
    let a = w
        .request(
            "duck",
            respond(&id, InteractionResponse::Autocomplete(choices)),
        )
        .await;
    assert!(a.ok, "{a:?}");

    // Modal (9).
    let id = inject(&w, slash());
    let m = w
        .request(
            "duck",
            respond(
                &id,
                InteractionResponse::Modal {
                    custom_id: "form".into(),
                    title: "Tell me".into(),
                    inputs: vec![TextInput {
                        custom_id: "name".into(),
                        label: "Name".into(),
                        paragraph: false,
                        required: true,
                        placeholder: None,
                    }],
                },
            ),
        )
        .await;
    assert!(m.ok, "{m:?}");

    // Component: deferred update (6), then update message (7) on another click.
    let msg = w.sim().channel_messages(channel(0))[0].id;
    let click = |custom: &str| InteractionKind::Button {
        custom_id: custom.into(),
        message_id: Some(msg),
    };
    let id = inject(&w, click("a"));
    let du = w
        .request("duck", respond(&id, InteractionResponse::DeferredUpdate))
        .await;
    assert!(du.ok, "{du:?}");
    let id = inject(&w, click("b"));
    let um = w
        .request(
            "duck",
            respond(
                &id,
                InteractionResponse::UpdateMessage(MessageBody::text("upd")),
            ),
        )
        .await;
    assert!(um.ok, "{um:?}");

    let posted = w.sim().channel_messages(channel(0));
    // "pong" answered the first interaction; the button click then updated it.
    assert!(
        posted
            .iter()
            .any(|p| p.content == "upd" && p.interaction_id.is_some())
    );
    assert!(posted.iter().any(|p| p.content == "more"));
    assert!(posted.iter().any(|p| p.content == "done"));
    assert_eq!(w.sim().stats().tenant("duck").ratelimited(), 0);
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_or_expired_tokens_fail_only_that_command() {
    let mut w = World::new(
        Some(sim_config(false)),
        &[("duck", DUCK_TOKEN)],
        BudgetConfig::default(),
    )
    .await;
    let api = w.api();
    w.start("duck", DUCK_APP, &api, RestConfig::default()).await;

    // Unknown to the access layer: no request at all.
    let before = w.sim().stats().anonymous.requests;
    let r = w
        .request(
            "duck",
            respond("123456", InteractionResponse::DeferredUpdate),
        )
        .await;
    assert_eq!(
        r.error_kind,
        Some(RestErrorKind::InteractionExpired),
        "{r:?}"
    );
    assert_eq!(r.status, 0);
    assert_eq!(w.sim().stats().anonymous.requests, before);

    // Known id, but a token Discord rejects (401, code 50027).
    register(&w);
    let i = w
        .sim()
        .inject_interaction(&InjectInteraction {
            tenant: "duck".into(),
            guild_id: Some(GUILD),
            channel_id: Some(channel(0)),
            user: user(42, "mallard"),
            kind: slash(),
        })
        .expect("injected");
    let id = i.id.to_string();
    w.tokens["duck"].insert(
        &id,
        &DUCK_APP.to_string(),
        SecretString::from("stale-token"),
    );
    let r = w
        .request(
            "duck",
            respond(&id, InteractionResponse::Message(MessageBody::text("x"))),
        )
        .await;
    assert_eq!(
        r.error_kind,
        Some(RestErrorKind::InteractionExpired),
        "{r:?}"
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.code, Some(50027));

    // The tenant keeps working.
    let ok = w.request("duck", post(channel(2), "still here")).await;
    assert!(ok.ok, "{ok:?}");
    assert_eq!(w.rest("duck").health().state, TenantState::Running);
    w.shutdown().await;
}
