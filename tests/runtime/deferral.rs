//! Answering in time, end to end: the runtime (gateway, REST actor, workers) with
//! real twilight clients against the emulator, which records when each
//! interaction got its initial response. Slow handlers are deferred within
//! Discord's 3 s window and their answer edits the original; a fast handler is not
//! deferred; a failing one still leaves the user an ephemeral error.

use std::time::Duration;

use switchboard::commands::AppCommand;
use switchboard::handler::{Ctx, Handler, HandlerResult};
use switchboard::model::{
    InteractionCreated, InteractionKind as Kind, InteractionResponse, MessageBody,
};
use switchboard::runtime::Runtime;
use switchboard::sim::{
    DEMO_CHANNELS, DEMO_GUILD, InjectInteraction, InjectMessage, InteractionKind, InteractionLog,
    SimHandle, SimUser,
};

const APP: u64 = 444_444_444_444_444_451;
/// Generous: two loaded cores, a handler that sleeps 5 s.
const LONG: Duration = Duration::from_secs(60);

/// `/slow` (5 s), `/secret` (ephemeral, 2 s), `/fast`, `/boom` (fails), and a
/// button `slowbtn` (2 s, updates its message).
struct Slowpoke;

impl Handler for Slowpoke {
    fn name(&self) -> &'static str {
        "slowpoke"
    }

    fn commands(&self) -> Vec<AppCommand> {
        vec![
            AppCommand::slash("slow", "Takes five seconds"),
            AppCommand::slash("secret", "Answers only you, slowly").ephemeral(),
            AppCommand::slash("fast", "Answers at once"),
            AppCommand::slash("boom", "Fails"),
        ]
    }

    async fn on_interaction(&self, ctx: &Ctx, i: &InteractionCreated) -> HandlerResult {
        let (delay, response) = match (i.kind, i.command_name.as_deref(), i.custom_id.as_deref()) {
            (Kind::Command, Some("slow"), _) => (
                5_000,
                InteractionResponse::Message(MessageBody::text("slow done")),
            ),
            (Kind::Command, Some("secret"), _) => (
                2_000,
                InteractionResponse::Message(MessageBody {
                    ephemeral: true,
                    ..MessageBody::text("secret done")
                }),
            ),
            (Kind::Command, Some("fast"), _) => (
                0,
                InteractionResponse::Message(MessageBody::text("fast done")),
            ),
            (Kind::Command, Some("boom"), _) => return Err("boom: deliberate failure".into()),
            (Kind::Component, _, Some("slowbtn")) => (
                2_000,
                InteractionResponse::UpdateMessage(MessageBody::text("button done")),
            ),
            _ => return Ok(()),
        };
        // The slowness under test, not a synchronisation sleep.
        tokio::time::sleep(Duration::from_millis(delay)).await;
        ctx.respond_interaction(i, response).await?;
        Ok(())
    }
}

async fn start() -> (SimHandle, Runtime) {
    // One delivery: a failing handler's event is dead-lettered at once.
    let yaml = format!(
        "runtime:\n  workers: 8\n  max_in_flight_per_tenant: 8\n  max_deliveries: 1\n  interactions: {{ defer_after_ms: 1500, answer_within_ms: 20000 }}\nproviders:\n  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: duck-token\n      app_id: '{APP}'\n    gateway: {{ intents: [guilds, guild_messages] }}\n"
    );
    let (sim, runtime) =
        super::start_registry(&yaml, |b| b.handler(Slowpoke).admin_listen(None)).await;
    // The runtime registers the commands (globally: `allow.guilds` is "*").
    let ours = ["boom", "fast", "secret", "slow"];
    sim.wait_until(LONG, |s| {
        let names = s.command_names(APP, None);
        ours.iter().all(|n| names.iter().any(|m| m == n))
    })
    .await
    .expect("commands registered");
    (sim, runtime)
}

fn alice() -> SimUser {
    SimUser {
        id: 42,
        username: "alice".into(),
        bot: false,
    }
}

fn invoke(sim: &SimHandle, kind: InteractionKind) -> u64 {
    sim.inject_interaction(&InjectInteraction {
        tenant: "duck".into(),
        guild_id: Some(DEMO_GUILD),
        channel_id: Some(DEMO_CHANNELS[0]),
        user: alice(),
        kind,
    })
    .expect("injected")
    .id
}

fn slash(name: &str) -> InteractionKind {
    InteractionKind::SlashCommand {
        name: name.into(),
        options: Vec::new(),
    }
}

async fn log_when(
    sim: &SimHandle,
    id: u64,
    what: impl Fn(&InteractionLog) -> bool,
) -> InteractionLog {
    if sim
        .wait_until(LONG, |s| s.interaction(id).is_some_and(|l| what(&l)))
        .await
        .is_err()
    {
        panic!("condition not met: {:?}", sim.interaction(id));
    }
    sim.interaction(id).expect("logged")
}

fn shown(sim: &SimHandle, text: &str) -> bool {
    sim.all_channel_messages(DEMO_CHANNELS[0])
        .iter()
        .any(|m| m.content == text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_fast_failing_and_component_handlers_all_answer_in_time() {
    let (sim, runtime) = start().await;
    let menu = sim
        .inject_message(InjectMessage::guild(
            DEMO_GUILD,
            DEMO_CHANNELS[0],
            alice(),
            "menu",
        ))
        .expect("message");

    let slow = invoke(&sim, slash("slow"));
    let secret = invoke(&sim, slash("secret"));
    let fast = invoke(&sim, slash("fast"));
    let boom = invoke(&sim, slash("boom"));
    let button = invoke(
        &sim,
        InteractionKind::Button {
            custom_id: "slowbtn".into(),
            message_id: Some(menu),
        },
    );

    // Fast: exactly one callback, a message, never deferred.
    let log = log_when(&sim, fast, |l| l.initial_type.is_some()).await;
    assert_eq!(log.initial_type, Some(4), "{log:?}");
    assert!(shown(&sim, "fast done"));

    // Failing: an ephemeral error, as the first answer (the worker reported it).
    let log = log_when(&sim, boom, |l| l.initial_type.is_some()).await;
    assert_eq!(log.initial_type, Some(4), "{log:?}");
    assert!(log.initial_ephemeral, "the error is ephemeral: {log:?}");

    // Slow (5 s): deferred within the window, then the original edited.
    let log = log_when(&sim, slow, |l| l.original_edits > 0).await;
    assert_eq!(log.initial_type, Some(5), "{log:?}");
    assert!(log.initial_after_ms.is_some_and(|ms| ms < 3_000), "{log:?}");
    assert!(
        log.first_edit_after_ms.is_some_and(|ms| ms >= 5_000),
        "{log:?}"
    );
    assert!(shown(&sim, "slow done"));

    // Declared ephemeral: the deferral is ephemeral, the answer edits it.
    let log = log_when(&sim, secret, |l| l.original_edits > 0).await;
    assert_eq!(
        (log.initial_type, log.initial_ephemeral),
        (Some(5), true),
        "{log:?}"
    );
    assert_eq!(log.followups, 0, "{log:?}");

    // Component: type 6, then the message it sits on updated.
    let log = log_when(&sim, button, |l| l.original_edits > 0).await;
    assert_eq!(log.initial_type, Some(6), "{log:?}");
    assert!(log.initial_after_ms.is_some_and(|ms| ms < 3_000), "{log:?}");
    let menu_now = sim.all_channel_messages(DEMO_CHANNELS[0]);
    assert!(
        menu_now
            .iter()
            .any(|m| m.id == menu && m.content == "button done"),
        "{menu_now:?}"
    );

    // Nothing was acknowledged twice or too late.
    for l in sim.interaction_log() {
        assert_eq!((l.duplicate_callbacks, l.late_callbacks), (0, 0), "{l:?}");
    }
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}
