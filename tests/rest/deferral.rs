//! Automatic deferral in the REST actor, against the emulator's response window:
//! interactions armed as the gateway arms them, answered late, never, or right at
//! the deadline; the emulator's interaction log says what Discord would have seen.

use std::time::Duration;

use secrecy::SecretString;
use switchboard::actors::access::{DeferTiming, Deferrals};
use switchboard::actors::rest::{BudgetConfig, RestConfig};
use switchboard::commands::AppCommand;
use switchboard::model::{
    Command, InteractionFailed, InteractionKind as Kind, InteractionResponse, MessageBody,
    RespondInteraction, RestResult,
};
use switchboard::sim::{InjectInteraction, InjectMessage, InteractionKind, InteractionLog};

use crate::support::{DUCK_APP, DUCK_TOKEN, GUILD, LONG, World, channel, sim_config, user};

/// Deferral after 300 ms; the handler gets 1 s more after it.
const TIMING: DeferTiming = DeferTiming {
    defer_after: Duration::from_millis(300),
    answer_within: Duration::from_secs(1),
};

async fn world() -> (World, Deferrals) {
    let mut w = World::new(
        Some(sim_config(false)),
        &[("duck", DUCK_TOKEN)],
        BudgetConfig::default(),
    )
    .await;
    let deferrals = Deferrals::new(TIMING);
    w.deferrals.insert("duck".into(), deferrals.clone());
    let api = w.api();
    w.start("duck", DUCK_APP, &api, RestConfig::default()).await;
    w.sim()
        .register_commands(DUCK_APP, Some(GUILD), &[AppCommand::slash("slow", "Slow")])
        .expect("registered");
    (w, deferrals)
}

/// Injects an interaction, keeps its token and arms it, as the gateway does.
fn inject(w: &World, deferrals: &Deferrals, kind: InteractionKind) -> (u64, String) {
    let armed = match &kind {
        InteractionKind::Button { .. } | InteractionKind::Select { .. } => Kind::Component,
        _ => Kind::Command,
    };
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
    deferrals.arm(&id, armed, Some("slow"));
    (i.id, id)
}

fn slash() -> InteractionKind {
    InteractionKind::SlashCommand {
        name: "slow".into(),
        options: Vec::new(),
    }
}

fn respond(id: &str, response: InteractionResponse) -> Command {
    Command::RespondInteraction(RespondInteraction {
        interaction_id: id.to_owned(),
        response,
    })
}

async fn log_when(w: &World, id: u64, what: impl Fn(&InteractionLog) -> bool) -> InteractionLog {
    w.sim()
        .wait_until(LONG, |s| s.interaction(id).is_some_and(|l| what(&l)))
        .await
        .unwrap_or_else(|_| panic!("{:?}", w.sim().interaction(id)));
    w.sim().interaction(id).expect("logged")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_answer_edits_the_deferred_original() {
    let (w, deferrals) = world().await;
    let (sid, id) = inject(&w, &deferrals, slash());
    let log = log_when(&w, sid, |l| l.initial_type.is_some()).await;
    assert_eq!(log.initial_type, Some(5), "{log:?}");
    assert!(log.initial_after_ms.is_some_and(|ms| ms < 3_000), "{log:?}");
    assert!(!log.initial_ephemeral);
    let r = w
        .request(
            "duck",
            respond(&id, InteractionResponse::Message(MessageBody::text("done"))),
        )
        .await;
    assert!(
        matches!(r.result, Some(RestResult::Message { .. })),
        "{r:?}"
    );
    let log = w.sim().interaction(sid).expect("logged");
    assert_eq!(
        (log.original_edits, log.followups, log.duplicate_callbacks),
        (1, 0, 0),
        "{log:?}"
    );
    let posted = w.sim().channel_messages(channel(0));
    assert!(posted.iter().any(|m| m.content == "done"), "{posted:?}");

    // An ephemeral answer after a public deferral: an ephemeral followup, and the
    // "thinking…" original goes.
    let (sid, id) = inject(&w, &deferrals, slash());
    log_when(&w, sid, |l| l.initial_type == Some(5)).await;
    let secret = MessageBody {
        ephemeral: true,
        ..MessageBody::text("psst")
    };
    let r = w
        .request("duck", respond(&id, InteractionResponse::Message(secret)))
        .await;
    assert!(r.ok, "{r:?}");
    let log = w.sim().interaction(sid).expect("logged");
    assert_eq!(log.followup_ephemeral, [true], "{log:?}");
    assert!(log.original_deleted, "{log:?}");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_at_all_ends_in_an_ephemeral_error() {
    let (w, deferrals) = world().await;
    let (sid, _) = inject(&w, &deferrals, slash());
    let log = log_when(&w, sid, |l| l.followups > 0).await;
    assert_eq!(log.initial_type, Some(5), "{log:?}");
    assert!(log.initial_after_ms.is_some_and(|ms| ms < 3_000), "{log:?}");
    assert_eq!(
        log.followup_ephemeral,
        [true],
        "the error is ephemeral: {log:?}"
    );
    let log = log_when(&w, sid, |l| l.original_deleted).await;
    assert_eq!(log.duplicate_callbacks + log.late_callbacks, 0, "{log:?}");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reported_failure_is_answered_at_once() {
    let (w, deferrals) = world().await;
    let (sid, id) = inject(&w, &deferrals, slash());
    let r = w
        .request(
            "duck",
            Command::InteractionFailed(InteractionFailed {
                interaction_id: id.clone(),
                reason: "handler boom: exploded".into(),
            }),
        )
        .await;
    assert!(r.ok, "{r:?}");
    let log = w.sim().interaction(sid).expect("logged");
    assert_eq!(log.initial_type, Some(4), "{log:?}");
    assert!(log.initial_ephemeral, "{log:?}");
    // The clock has nothing left to defer: one initial response, no followup.
    let r = w
        .request(
            "duck",
            respond(
                &id,
                InteractionResponse::Message(MessageBody::text("retry won")),
            ),
        )
        .await;
    assert!(r.ok, "a late success still reaches the user: {r:?}");
    let log = w.sim().interaction(sid).expect("logged");
    assert_eq!((log.followups, log.duplicate_callbacks), (1, 0), "{log:?}");
    w.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_component_is_deferred_as_an_update() {
    let (w, deferrals) = world().await;
    let message = w
        .sim()
        .inject_message(InjectMessage::guild(
            GUILD,
            channel(0),
            user(42, "mallard"),
            "menu",
        ))
        .expect("message");
    let (sid, id) = inject(
        &w,
        &deferrals,
        InteractionKind::Button {
            custom_id: "go".into(),
            message_id: Some(message),
        },
    );
    let log = log_when(&w, sid, |l| l.initial_type.is_some()).await;
    assert_eq!(log.initial_type, Some(6), "{log:?}");
    let r = w
        .request(
            "duck",
            respond(
                &id,
                InteractionResponse::UpdateMessage(MessageBody::text("updated")),
            ),
        )
        .await;
    assert!(r.ok, "{r:?}");
    let log = w.sim().interaction(sid).expect("logged");
    assert_eq!((log.original_edits, log.followups), (1, 0), "{log:?}");
    let all = w.sim().all_channel_messages(channel(0));
    assert!(
        all.iter()
            .any(|m| m.id == message && m.content == "updated"),
        "{all:?}"
    );
    w.shutdown().await;
}

/// Answers sent around the deadline race the clock: each interaction still gets
/// exactly one initial response and the answer is shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_and_the_deadline_never_both_acknowledge() {
    let (w, deferrals) = world().await;
    let mut tasks = Vec::new();
    let w = std::sync::Arc::new(w);
    for n in 0..24u64 {
        let (sid, id) = inject(&w, &deferrals, slash());
        let w = std::sync::Arc::clone(&w);
        tasks.push(tokio::spawn(async move {
            // Spread over 200–430 ms around the 300 ms deadline.
            tokio::time::sleep(Duration::from_millis(200 + n * 10)).await;
            let text = format!("answer {n}");
            let r = w
                .request(
                    "duck",
                    respond(&id, InteractionResponse::Message(MessageBody::text(&text))),
                )
                .await;
            assert!(r.ok, "{r:?}");
            (sid, text)
        }));
    }
    for t in tasks {
        let (sid, text) = t.await.expect("joined");
        let log = w.sim().interaction(sid).expect("logged");
        assert_eq!(log.duplicate_callbacks + log.late_callbacks, 0, "{log:?}");
        match log.initial_type {
            Some(4) => assert_eq!(log.original_edits, 0, "{log:?}"),
            Some(5) => assert_eq!(log.original_edits, 1, "{log:?}"),
            other => panic!("initial response {other:?}: {log:?}"),
        }
        let shown = w.sim().channel_messages(channel(0));
        assert!(shown.iter().any(|m| m.content == text), "{text} not shown");
    }
    if let Ok(w) = std::sync::Arc::try_unwrap(w) {
        w.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_defers_itself_is_still_watched() {
    let (w, deferrals) = world().await;
    // Defers, then edits: no error follows.
    let (kept, id) = inject(&w, &deferrals, slash());
    let defer = InteractionResponse::DeferredMessage { ephemeral: true };
    assert!(w.request("duck", respond(&id, defer.clone())).await.ok);
    let edit = InteractionResponse::EditOriginal(MessageBody::text("there"));
    assert!(w.request("duck", respond(&id, edit)).await.ok);
    // Defers, then nothing: the error comes after `answer_within`, as the edit of
    // the (ephemeral) original.
    let (dropped, id) = inject(&w, &deferrals, slash());
    assert!(w.request("duck", respond(&id, defer)).await.ok);
    let log = log_when(&w, dropped, |l| l.original_edits > 0).await;
    assert_eq!(
        (log.initial_type, log.initial_ephemeral),
        (Some(5), true),
        "{log:?}"
    );
    assert_eq!(log.followups, 0, "{log:?}");
    assert!(
        log.first_edit_after_ms >= Some(1_000),
        "the error waits `answer_within` after the deferral: {log:?}"
    );
    let log = w.sim().interaction(kept).expect("logged");
    assert_eq!((log.original_edits, log.followups), (1, 0), "{log:?}");
    let errors = w
        .sim()
        .all_channel_messages(channel(0))
        .iter()
        .filter(|m| m.content.starts_with("Something went wrong"))
        .count();
    assert_eq!(errors, 1);
    w.shutdown().await;
}
