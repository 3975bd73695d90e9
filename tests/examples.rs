//! The example bots, end to end: `examples/sessions.rs`'s router served by a real
//! runtime against the emulator (real sockets, real twilight clients). Every kind of
//! route round trips — subcommands, autocomplete, a button, a modal, user and
//! message commands — as do the guards (a role from the tenant's settings, a
//! cooldown), DMs, and the built-in `/ping`.

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/sessions.rs"]
mod sessions;

use std::time::Duration;

use serde_json::{Value, json};
use switchboard::commands::{AppCommand, Permissions, Reply, Router};
use switchboard::config::{LoadOptions, Registry};
use switchboard::runtime::Runtime;
use switchboard::sim::{
    DEMO_CHANNELS, DEMO_GUILD, InjectInteraction, InjectMessage, InteractionKind, MemberEvent, Sim,
    SimConfig, SimHandle, SimUser,
};

const GM_ROLE: u64 = 700_000_000_000_000_007;
const MOD_ROLE: u64 = 700_000_000_000_000_008;
const ADMIN_ROLE: u64 = 700_000_000_000_000_009;
const EPHEMERAL: u64 = 1 << 6;

fn user(id: u64, name: &str) -> SimUser {
    SimUser {
        id,
        username: name.into(),
        bot: false,
    }
}

/// A moderation command for members with `KICK_MEMBERS` (`require_permission`); it
/// shows the member's permissions as the interaction carries them.
fn moderation() -> Router {
    Router::named("moderation")
        .command(
            AppCommand::slash("kick", "Kick someone"),
            |_ctx, i| async move {
                let perms = i.member_permissions.unwrap_or_default();
                Reply::ephemeral(format!("kicked (you have {perms})"))
            },
        )
        .require_permission(Permissions::KICK_MEMBERS)
}

/// Gives `user` these roles in the demo guild.
fn member(sim: &SimHandle, user: &SimUser, roles: Vec<u64>) {
    sim.member_event(MemberEvent::Add {
        guild_id: DEMO_GUILD,
        user: user.clone(),
    })
    .expect("joins");
    sim.member_event(MemberEvent::Update {
        guild_id: DEMO_GUILD,
        user_id: user.id,
        roles: Some(roles),
        nick: None,
    })
    .expect("gets the roles");
}

/// The emulator and a runtime serving `duck` with the sessions router, the
/// moderation router and `ping`, returned once duck registered its commands. The
/// guild's `@everyone` may only send messages; `gm` holds the game-master and
/// moderator roles.
async fn start(gm: &SimUser) -> (SimHandle, Runtime) {
    let yaml = format!(
        "runtime:\n  workers: 2\n  handlers: [ping]\nproviders:\n  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: fake-duck\n      app_id: '444444444444444441'\n    settings:\n      gm_role: '{GM_ROLE}'\n"
    );
    let mut reg =
        Registry::from_yaml_str(&yaml, "t.yml", &LoadOptions::default()).expect("registry");
    let mut config = SimConfig::from_registry(&reg).expect("sim config");
    for t in &mut config.tenants {
        for g in &mut t.guilds {
            *g = g
                .clone()
                .role(g.id, "@everyone", Permissions::SEND_MESSAGES.bits())
                .role(GM_ROLE, "game master", 0)
                .role(MOD_ROLE, "moderators", Permissions::KICK_MEMBERS.bits())
                .role(ADMIN_ROLE, "admins", Permissions::ADMINISTRATOR.bits());
        }
    }
    let sim = Sim::start(config, "127.0.0.1:0").await.expect("sim");
    for t in &mut reg.tenants {
        t.endpoints.api = Some(format!("http://{}", sim.api_host()));
        t.endpoints.gateway = Some(sim.gateway_url());
    }
    let runtime = Runtime::builder()
        .config(reg)
        .handler(sessions::sessions())
        .handler(moderation())
        .admin_listen(None)
        .build()
        .await
        .expect("runtime");
    member(&sim, gm, vec![GM_ROLE, MOD_ROLE]);
    // The emulator refuses commands that are not registered: wait for them.
    let app = sim.application_id("duck").expect("duck's app");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while sim.command_names(app, None)
        != ["Session host?", "Session note", "kick", "ping", "session"]
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "commands never registered: {:?}",
            sim.command_names(app, None)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    (sim, runtime)
}

/// Injects an interaction by `who` (in the demo channel, or a DM) and returns the
/// bot's initial response (`{"type", "data"}`).
async fn ask(sim: &SimHandle, who: &SimUser, dm: bool, kind: InteractionKind) -> Value {
    let injected = sim
        .inject_interaction(&InjectInteraction {
            tenant: "duck".into(),
            guild_id: (!dm).then_some(DEMO_GUILD),
            channel_id: (!dm).then_some(DEMO_CHANNELS[0]),
            user: who.clone(),
            kind: kind.clone(),
        })
        .expect("injected");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = sim.interaction_response(injected.id) {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no answer to {kind:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn session(sub: &str, options: &Value) -> InteractionKind {
    InteractionKind::SlashCommand {
        name: "session".into(),
        options: vec![json!({"type": 1, "name": sub, "options": options})],
    }
}

fn start_topic(topic: &str) -> InteractionKind {
    session(
        "start",
        &json!([{"type": 3, "name": "topic", "value": topic}]),
    )
}

/// A message answer's text, and whether only the user sees it.
fn text(r: &Value) -> (String, bool) {
    assert_eq!(r["type"], 4, "a message: {r}");
    let flags = r["data"]["flags"].as_u64().unwrap_or(0);
    (
        r["data"]["content"].as_str().unwrap_or_default().to_owned(),
        flags & EPHEMERAL != 0,
    )
}

#[allow(clippy::too_many_lines)] // one user story, step by step
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sessions_example_round_trips_every_kind_of_route() {
    let alice = user(900_000_000_000_000_001, "alice");
    let bob = user(900_000_000_000_000_002, "bob");
    let gm = user(900_000_000_000_000_003, "gertrude");
    let (sim, runtime) = start(&gm).await;

    // The built-in ping is a routed command too.
    let ping = InteractionKind::SlashCommand {
        name: "ping".into(),
        options: vec![],
    };
    assert_eq!(
        text(&ask(&sim, &alice, false, ping).await),
        ("pong".into(), false)
    );

    // Autocomplete suggests topics matching what is typed.
    let r = ask(
        &sim,
        &alice,
        false,
        InteractionKind::Autocomplete {
            name: "session".into(),
            options: vec![json!({"type": 1, "name": "start", "options": [
                {"type": 3, "name": "topic", "value": "qu", "focused": true}]})],
        },
    )
    .await;
    assert_eq!(r["type"], 8, "{r}");
    assert_eq!(
        r["data"]["choices"],
        json!([{"name": "quiz night", "value": "quiz night"}])
    );

    // A missing option is explained to the user, ephemerally.
    let r = ask(&sim, &alice, false, session("start", &json!([]))).await;
    assert_eq!(
        text(&r),
        ("Invalid input: option `topic` is missing.".into(), true)
    );

    // One session per guild.
    let me = alice.id;
    let r = ask(&sim, &alice, false, start_topic("trivia")).await;
    assert_eq!(
        text(&r),
        (format!("Session started: trivia (host <@{me}>)."), false)
    );
    let r = ask(&sim, &bob, false, start_topic("werewolf")).await;
    assert_eq!(
        text(&r),
        (
            format!("A session is already running here (host <@{me}>)."),
            true
        )
    );

    // A modal names it.
    let r = ask(&sim, &alice, false, session("name", &json!([]))).await;
    assert_eq!(r["type"], 9, "{r}");
    assert_eq!(r["data"]["custom_id"], "session:name");
    let r = ask(
        &sim,
        &alice,
        false,
        InteractionKind::ModalSubmit {
            custom_id: "session:name".into(),
            components: vec![json!({"type": 1, "id": 1, "components": [
                {"type": 4, "id": 2, "custom_id": "name", "value": "Friday"}]})],
        },
    )
    .await;
    assert_eq!(
        text(&r),
        ("The session is now called \"Friday\".".into(), false)
    );
    let r = ask(&sim, &bob, false, session("info", &json!([]))).await;
    assert_eq!(
        text(&r),
        (format!("Session \"Friday\": trivia (host <@{me}>)."), true)
    );

    // Context menus: a user command and a message command.
    let r = ask(
        &sim,
        &bob,
        false,
        InteractionKind::UserCommand {
            name: "Session host?".into(),
            target_id: me,
        },
    )
    .await;
    assert_eq!(text(&r), (format!("<@{me}> hosts the session."), true));
    // A message command needs a message of the channel to point at.
    let noted = sim
        .inject_message(InjectMessage::guild(
            DEMO_GUILD,
            DEMO_CHANNELS[0],
            bob.clone(),
            "worth a note",
        ))
        .expect("a message");
    let r = ask(
        &sim,
        &bob,
        false,
        InteractionKind::MessageCommand {
            name: "Session note".into(),
            target_id: noted,
        },
    )
    .await;
    assert_eq!(
        text(&r).0,
        format!("Noted message {noted} for the session.")
    );

    // The admin command: refused to a non-admin, with the uniform message.
    let r = ask(&sim, &bob, false, session("reset", &json!([]))).await;
    assert_eq!(
        text(&r),
        (
            format!("You need the <@&{GM_ROLE}> role to use this."),
            true
        )
    );

    // Stop, confirmed with the button.
    let r = ask(&sim, &alice, false, session("stop", &json!([]))).await;
    let button = format!("session:stop:{DEMO_GUILD}");
    assert!(text(&r).0.contains(&button), "{r}");
    let r = ask(
        &sim,
        &alice,
        false,
        InteractionKind::Button {
            custom_id: button,
            message_id: None,
        },
    )
    .await;
    assert_eq!(text(&r), (format!("Session stopped by <@{me}>."), false));

    // `/session info` allows 3 uses a minute per user: bob's third passes, the
    // fourth is told to wait.
    let r = ask(&sim, &bob, false, session("info", &json!([]))).await;
    assert_eq!(text(&r), ("No session is running here.".into(), true));
    ask(&sim, &bob, false, session("info", &json!([]))).await;
    let (wait, ephemeral) = text(&ask(&sim, &bob, false, session("info", &json!([]))).await);
    assert!(wait.starts_with("Slow down: try again in "), "{wait}");
    assert!(ephemeral);

    // The game master may reset.
    ask(&sim, &bob, false, start_topic("werewolf")).await;
    let r = ask(&sim, &gm, false, session("reset", &json!([]))).await;
    assert_eq!(text(&r), ("A game master ended the session.".into(), false));

    // An unknown subcommand of a routed command is answered, not ignored.
    let r = ask(&sim, &alice, false, session("bogus", &json!([]))).await;
    assert_eq!(text(&r), ("Unknown command `/session bogus`.".into(), true));

    // DMs: a session per user; role checks need a server.
    let r = ask(&sim, &alice, true, start_topic("story time")).await;
    assert_eq!(
        text(&r).0,
        format!("Session started: story time (host <@{me}>).")
    );
    let r = ask(&sim, &alice, true, session("info", &json!([]))).await;
    assert_eq!(text(&r).0, format!("Session: story time (host <@{me}>)."));
    let r = ask(&sim, &gm, true, session("reset", &json!([]))).await;
    assert_eq!(text(&r), ("This only works in a server.".into(), true));

    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}

/// Member permissions come from the guild's roles as the emulator computes them
/// (`@everyone` plus each role, `ADMINISTRATOR` grants all) and guard a route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_permissions_from_guild_roles_guard_a_route() {
    let bob = user(900_000_000_000_000_002, "bob");
    let gm = user(900_000_000_000_000_003, "gertrude");
    let root = user(900_000_000_000_000_005, "root");
    let (sim, runtime) = start(&gm).await;
    member(&sim, &root, vec![ADMIN_ROLE]);
    let kick = || InteractionKind::SlashCommand {
        name: "kick".into(),
        options: vec![],
    };
    let r = ask(&sim, &bob, false, kick()).await;
    assert_eq!(
        text(&r),
        (
            "You need the KICK_MEMBERS permission to use this.".into(),
            true
        )
    );
    let r = ask(&sim, &gm, false, kick()).await;
    assert_eq!(text(&r).0, "kicked (you have KICK_MEMBERS | SEND_MESSAGES)");
    let r = ask(&sim, &root, false, kick()).await;
    assert!(
        text(&r).0.starts_with(
            "kicked (you have CREATE_INSTANT_INVITE | KICK_MEMBERS | BAN_MEMBERS | ADMINISTRATOR"
        ),
        "{r}"
    );
    let r = ask(&sim, &gm, true, kick()).await;
    assert_eq!(text(&r), ("This only works in a server.".into(), true));
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}
