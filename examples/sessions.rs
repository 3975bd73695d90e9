//! A session-style command set built with the command [`Router`], run against the
//! built-in emulator:
//!
//! ```sh
//! cargo run --example sessions
//! ```
//!
//! - `/session start topic:<text>` (the topic autocompletes) starts this server's
//!   session — one at a time per server (`ctx.state()`'s sessions), or per user in
//!   DMs; `/session info` says what runs (at most 3 uses a minute per user);
//!   `/session stop` asks for confirmation, and the `session:stop:` button stops it;
//!   `/session name` opens a modal whose `session:name` submission names it;
//!   `/session reset` is for the role the tenant's `settings.gm_role` names.
//! - The user command `Session host?` and the message command `Session note`.
//!
//! `main` starts the demo registry with this router added to every tenant, runs a
//! few commands as a user would and prints what the bots answered.
//! `tests/examples.rs` drives the same router end to end.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard::commands::{AppCommand, OptionDef, Reply, Router, UserError};
use switchboard::handler::{Ctx, HandlerError};
use switchboard::model::{InteractionCreated, TextInput};
use switchboard::state::{CooldownScope, StateError, Takeover};

/// What a route returns.
type Answer = Result<Reply, HandlerError>;

/// The session kind in the tenant's state.
const KIND: &str = "session";

/// How long a session lives without activity.
const TTL: Duration = Duration::from_secs(3600);

/// Topics `/session start` suggests.
const TOPICS: [&str; 5] = [
    "trivia",
    "werewolf",
    "dungeon crawl",
    "quiz night",
    "story time",
];

/// What the example keeps in a session.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Info {
    topic: String,
    name: Option<String>,
}

/// The router: schema and routes in one definition.
#[must_use]
pub fn sessions() -> Router {
    Router::named("sessions")
        .declare(AppCommand::slash("session", "Run a session in this server"))
        .subcommand(
            "session",
            OptionDef::subcommand("start", "Start a session").option(
                OptionDef::string("topic", "What it is about")
                    .required()
                    .autocomplete(),
            ),
            start,
        )
        .autocomplete("session start", topics)
        .subcommand(
            "session",
            OptionDef::subcommand("info", "Show the session"),
            info,
        )
        .cooldown(CooldownScope::User, 3, Duration::from_secs(60))
        .subcommand(
            "session",
            OptionDef::subcommand("stop", "Stop the session"),
            stop,
        )
        .component("session:stop:", confirm_stop)
        .subcommand(
            "session",
            OptionDef::subcommand("name", "Name the session"),
            |_ctx, _i| async {
                Reply::modal(
                    "session:name",
                    "Name the session",
                    [TextInput {
                        custom_id: "name".into(),
                        label: "Name".into(),
                        paragraph: false,
                        required: true,
                        placeholder: Some("Friday trivia".into()),
                    }],
                )
            },
        )
        .modal("session:name", named)
        .subcommand(
            "session",
            OptionDef::subcommand("reset", "End whatever session runs (game masters)"),
            reset,
        )
        .require_role("gm_role")
        .user_command("Session host?", |ctx, i| async move {
            let target = i.target_id.clone().unwrap_or_default();
            let held = ctx.state().session_info(KIND, &scope(&i)).await?;
            Ok::<_, HandlerError>(Reply::ephemeral(match held {
                Some(s) if s.owner == target => format!("<@{target}> hosts the session."),
                Some(s) => format!("<@{target}> does not host it; <@{}> does.", s.owner),
                None => "No session is running here.".to_owned(),
            }))
        })
        .message_command("Session note", |_ctx, i| async move {
            format!(
                "Noted message {} for the session.",
                i.target_id.unwrap_or_default()
            )
        })
}

/// One session per guild; in a DM, one per user.
fn scope(i: &InteractionCreated) -> String {
    match &i.guild_id {
        Some(g) if !i.is_dm() => g.clone(),
        _ => format!("dm-{}", i.user.id),
    }
}

async fn start(ctx: Ctx, i: InteractionCreated) -> Answer {
    let topic: String = i.args().get("topic")?;
    let data = serde_json::to_vec(&Info {
        topic: topic.clone(),
        name: None,
    })?;
    let started = ctx
        .state()
        .session_start(KIND, &scope(&i), &i.user.id, TTL, &data, Takeover::Never)
        .await;
    match started {
        Ok(_) => Ok(Reply::text(format!(
            "Session started: {topic} (host <@{}>).",
            i.user.id
        ))),
        Err(StateError::SessionHeld { owner, .. }) => Err(UserError::new(format!(
            "A session is already running here (host <@{owner}>)."
        ))
        .into()),
        Err(e) => Err(e.into()),
    }
}

async fn topics(_ctx: Ctx, i: InteractionCreated) -> Reply {
    let typed = i
        .args()
        .focused()
        .map(|f| f.text.to_lowercase())
        .unwrap_or_default();
    Reply::string_choices(
        TOPICS
            .iter()
            .filter(|t| t.contains(typed.as_str()))
            .copied(),
    )
}

async fn info(ctx: Ctx, i: InteractionCreated) -> Answer {
    let Some(s) = ctx.state().session_info(KIND, &scope(&i)).await? else {
        return Ok(Reply::ephemeral("No session is running here."));
    };
    let info: Info = serde_json::from_slice(&s.data).unwrap_or_default();
    let name = info.name.map(|n| format!(" \"{n}\"")).unwrap_or_default();
    Ok(Reply::ephemeral(format!(
        "Session{name}: {} (host <@{}>).",
        info.topic, s.owner
    )))
}

async fn stop(ctx: Ctx, i: InteractionCreated) -> Answer {
    let scope = scope(&i);
    match ctx.state().session_info(KIND, &scope).await? {
        Some(s) if s.owner == i.user.id => Ok(Reply::ephemeral(format!(
            "Stop the session? Confirm with the button `session:stop:{scope}`."
        ))),
        Some(s) => {
            Err(UserError::new(format!("Only the host (<@{}>) can stop it.", s.owner)).into())
        }
        None => Err(UserError::new("No session is running here.").into()),
    }
}

async fn confirm_stop(ctx: Ctx, i: InteractionCreated) -> Answer {
    let custom_id = i.custom_id.as_deref().unwrap_or_default();
    let scope = custom_id.strip_prefix("session:stop:").unwrap_or_default();
    if ctx
        .state()
        .session_stop(KIND, scope, Some(&i.user.id))
        .await?
    {
        Ok(Reply::text(format!("Session stopped by <@{}>.", i.user.id)))
    } else {
        Err(UserError::new("There is no session of yours to stop.").into())
    }
}

async fn named(ctx: Ctx, i: InteractionCreated) -> Answer {
    let name = i
        .fields
        .iter()
        .find(|f| f.custom_id == "name")
        .map(|f| f.value.trim().to_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| UserError::new("A session needs a name."))?;
    let scope = scope(&i);
    let state = ctx.state();
    let Some(s) = state.session_info(KIND, &scope).await? else {
        return Err(UserError::new("No session is running here.").into());
    };
    if s.owner != i.user.id {
        return Err(UserError::new("Only the host can name the session.").into());
    }
    let mut info: Info = serde_json::from_slice(&s.data).unwrap_or_default();
    info.name = Some(name.clone());
    // A start by the owner refreshes the session with the new data.
    state
        .session_start(
            KIND,
            &scope,
            &i.user.id,
            TTL,
            &serde_json::to_vec(&info)?,
            Takeover::Never,
        )
        .await?;
    Ok(Reply::text(format!(
        "The session is now called \"{name}\"."
    )))
}

async fn reset(ctx: Ctx, i: InteractionCreated) -> Answer {
    let stopped = ctx.state().session_stop(KIND, &scope(&i), None).await?;
    Ok(Reply::text(if stopped {
        "A game master ended the session."
    } else {
        "There was no session to end."
    }))
}

#[allow(dead_code)] // `tests/examples.rs` includes this file for `sessions()` only.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use switchboard::demo::demo_registry;
    use switchboard::runtime::Runtime;
    use switchboard::sim::{
        DEMO_CHANNELS, DEMO_GUILD, InjectInteraction, InteractionKind, Sim, SimConfig, SimUser,
    };

    let mut registry = demo_registry()?;
    let sim = Sim::start(SimConfig::from_registry(&registry)?, "127.0.0.1:0").await?;
    for t in &mut registry.tenants {
        t.endpoints.api = Some(format!("http://{}", sim.api_host()));
        t.endpoints.gateway = Some(sim.gateway_url());
    }
    let runtime = Runtime::builder()
        .config(registry)
        .handler(sessions())
        .admin_listen(None)
        .build()
        .await?;
    let app = sim.application_id("duck").ok_or("no duck")?;
    // Slash commands can be used once the tenant registered them.
    while !sim.command_names(app, None).iter().any(|n| n == "session") {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let alice = SimUser {
        id: 900_000_000_000_000_001,
        username: "alice".into(),
        bot: false,
    };
    let sub = |name: &str, options: serde_json::Value| InteractionKind::SlashCommand {
        name: "session".into(),
        options: vec![serde_json::json!({"type": 1, "name": name, "options": options})],
    };
    for kind in [
        sub(
            "start",
            serde_json::json!([{"type": 3, "name": "topic", "value": "trivia"}]),
        ),
        sub("info", serde_json::json!([])),
        sub("reset", serde_json::json!([])),
    ] {
        let injected = sim.inject_interaction(&InjectInteraction {
            tenant: "duck".into(),
            guild_id: Some(DEMO_GUILD),
            channel_id: Some(DEMO_CHANNELS[0]),
            user: alice.clone(),
            kind,
        })?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let answer = loop {
            if let Some(r) = sim.interaction_response(injected.id) {
                break r;
            }
            if tokio::time::Instant::now() > deadline {
                break serde_json::Value::Null;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        println!("{}", answer["data"]["content"]);
    }
    runtime.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
    Ok(())
}
