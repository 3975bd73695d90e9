//! Application commands end to end: handlers declare them, each tenant's REST actor
//! registers its set against the emulator (real twilight clients, real sockets),
//! comparing first so restarts and reloads do not churn; removing a tenant removes
//! its commands; a bad set is refused at build.

use std::time::Duration;

use switchboard::admin::CommandsStatus;
use switchboard::commands::AppCommand;
use switchboard::config::{LoadOptions, Registry};
use switchboard::handler::Handler;
use switchboard::runtime::Runtime;
use switchboard::sim::{Sim, SimConfig, SimHandle};

/// Declares `/game`, `/score` and the user command `Stats` for every tenant.
struct Game;

impl Handler for Game {
    fn name(&self) -> &'static str {
        "game"
    }
    fn commands(&self) -> Vec<AppCommand> {
        vec![
            AppCommand::slash("game", "Play a game"),
            AppCommand::slash("score", "Show the scores"),
            AppCommand::user("Stats"),
        ]
    }
}

/// Declares a command Discord would refuse.
struct Bad;

impl Handler for Bad {
    fn name(&self) -> &'static str {
        "bad"
    }
    fn commands(&self) -> Vec<AppCommand> {
        vec![AppCommand::slash("Bad Name", "")]
    }
}

const GUILD: u64 = 333_333_333_333_333_333;
const DUCK_APP: u64 = 444_444_444_444_444_441;
const SWAN_APP: u64 = 444_444_444_444_444_443;

/// Three tenants with different sets and scopes:
/// - `duck`: `allow.guilds: "*"` → global; `only: [ping]`;
/// - `goose`: one guild, no app id in the registry (found with `GET
///   /applications/@me`); `only: [<goose_only>]`;
/// - `swan`: one guild but `scope: global`; everything (`ping`, `game`, `score`,
///   `Stats`).
fn yaml(goose_only: &str, with_goose: bool) -> String {
    let duck = format!(
        "  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: duck-token\n      app_id: '{DUCK_APP}'\n    commands: {{ only: [ping] }}\n"
    );
    let goose = format!(
        "  - provider: discord\n    tenant: goose\n    credentials:\n      bot_token: goose-token\n    allow: {{ guilds: ['{GUILD}'], channels: ['*'] }}\n    commands: {{ only: [{goose_only}] }}\n"
    );
    let swan = format!(
        "  - provider: discord\n    tenant: swan\n    credentials:\n      bot_token: swan-token\n      app_id: '{SWAN_APP}'\n    allow: {{ guilds: ['{GUILD}'], channels: ['*'] }}\n    commands: {{ scope: global }}\n"
    );
    let goose = if with_goose { goose.as_str() } else { "" };
    format!("runtime:\n  workers: 2\n  handlers: [ping]\nproviders:\n{duck}{goose}{swan}")
}

/// The registry of `yaml`, pointed at `sim`.
fn registry(yaml: &str, sim: &SimHandle) -> Registry {
    let mut reg =
        Registry::from_yaml_str(yaml, "t.yml", &LoadOptions::default()).expect("registry");
    for t in &mut reg.tenants {
        t.endpoints.api = Some(format!("http://{}", sim.api_host()));
        t.endpoints.gateway = Some(sim.gateway_url());
    }
    reg
}

/// An emulator serving the bots of `yaml`.
async fn sim_for(yaml: &str) -> SimHandle {
    let reg = Registry::from_yaml_str(yaml, "t.yml", &LoadOptions::default()).expect("registry");
    Sim::start(
        SimConfig::from_registry(&reg).expect("sim config"),
        "127.0.0.1:0",
    )
    .await
    .expect("sim")
}

async fn run(reg: Registry) -> Runtime {
    Runtime::builder()
        .config(reg)
        .handler(Game)
        .admin_listen(None)
        .build()
        .await
        .expect("runtime")
}

/// The tenant's command status once `registered` commands are synced (bounded
/// wait, polling the status).
async fn synced(runtime: &Runtime, tenant: &str, registered: usize) -> CommandsStatus {
    let id = format!("discord/{tenant}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = runtime.status().await;
        let c = status
            .tenants
            .iter()
            .find(|t| t.id == id)
            .and_then(|t| t.commands.clone());
        if let Some(c) = c
            && c.synced
            && c.registered == registered
        {
            return c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} never synced {registered} commands: {:?}",
            status.tenants.iter().find(|t| t.id == id)
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tenants_register_exactly_their_sets_once_and_a_restart_puts_nothing() {
    let y = yaml("ping, game", true);
    let sim = sim_for(&y).await;
    let goose_app = sim.application_id("goose").expect("goose app");
    let runtime = run(registry(&y, &sim)).await;

    let duck = synced(&runtime, "duck", 1).await;
    let goose = synced(&runtime, "goose", 2).await;
    let swan = synced(&runtime, "swan", 4).await;
    for c in [&duck, &goose, &swan] {
        assert_eq!(c.puts, 1, "{c:?}");
        assert_eq!(c.scopes, 1);
        assert!(c.synced_at_unix_ms.is_some() && c.last_put_unix_ms.is_some());
        assert_eq!(c.error, None);
    }
    assert_eq!(sim.command_names(DUCK_APP, None), ["ping"]);
    assert!(sim.commands(DUCK_APP, Some(GUILD)).is_empty());
    assert_eq!(sim.command_names(goose_app, Some(GUILD)), ["game", "ping"]);
    assert!(sim.commands(goose_app, None).is_empty());
    assert_eq!(
        sim.command_names(SWAN_APP, None),
        ["Stats", "game", "ping", "score"]
    );
    assert!(sim.commands(SWAN_APP, Some(GUILD)).is_empty());
    for app in [DUCK_APP, goose_app, SWAN_APP] {
        assert_eq!(sim.command_puts(app), 1, "app {app}");
    }
    // Registration goes through the REST gates: no 429s.
    for t in ["duck", "goose", "swan"] {
        assert_eq!(sim.stats().tenant(t).ratelimited(), 0, "{t}");
    }
    runtime.shutdown(Duration::from_secs(10)).await;

    // A restart: a second runtime on the same emulator compares and writes nothing.
    let again = run(registry(&y, &sim)).await;
    for (t, n) in [("duck", 1), ("goose", 2), ("swan", 4)] {
        let c = synced(&again, t, n).await;
        assert_eq!(c.puts, 0, "{t}: {c:?}");
        assert!(c.synced_at_unix_ms.is_some() && c.last_put_unix_ms.is_none());
    }
    for app in [DUCK_APP, goose_app, SWAN_APP] {
        assert_eq!(sim.command_puts(app), 1, "app {app} after a restart");
    }
    again.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_adding_a_command_puts_once_for_that_tenant_and_removing_it_clears_its_commands() {
    let y = yaml("ping, game", true);
    let sim = sim_for(&y).await;
    let goose_app = sim.application_id("goose").expect("goose app");
    let runtime = run(registry(&y, &sim)).await;
    synced(&runtime, "duck", 1).await;
    synced(&runtime, "goose", 2).await;
    synced(&runtime, "swan", 4).await;

    // goose's `only` gains `score`: goose is not restarted, its REST actor
    // registers the new set with one PUT; nobody else writes.
    let report = runtime
        .apply(registry(&yaml("ping, game, score", true), &sim))
        .await
        .expect("reload");
    assert!(report.changed.is_empty(), "{report:?}");
    let goose = synced(&runtime, "goose", 3).await;
    assert_eq!(goose.puts, 2);
    assert_eq!(
        sim.command_names(goose_app, Some(GUILD)),
        ["game", "ping", "score"]
    );
    assert_eq!(sim.command_puts(goose_app), 2);
    assert_eq!(sim.command_puts(DUCK_APP), 1);
    assert_eq!(sim.command_puts(SWAN_APP), 1);

    // The same registry again: nothing to do.
    runtime
        .apply(registry(&yaml("ping, game, score", true), &sim))
        .await
        .expect("reload");
    assert_eq!(sim.command_puts(goose_app), 2);

    // goose is removed: its commands go with it (PUT []), the others stay. The
    // reload answers once the tenant is stopped, which waits for the clear.
    let report = runtime
        .apply(registry(&yaml("ping, game, score", false), &sim))
        .await
        .expect("reload");
    assert_eq!(report.removed, ["discord/goose"]);
    assert!(sim.commands(goose_app, Some(GUILD)).is_empty());
    assert_eq!(sim.command_puts(goose_app), 3);
    assert_eq!(sim.command_names(DUCK_APP, None), ["ping"]);
    assert_eq!(sim.command_puts(DUCK_APP), 1);
    assert_eq!(sim.command_puts(SWAN_APP), 1);
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn a_bad_command_set_is_refused_at_build_with_its_path() {
    let reg = Registry::from_yaml_str(
        "providers:\n  - provider: discord\n    tenant: duck\n    credentials: { bot_token: t }\n",
        "t.yml",
        &LoadOptions::default(),
    )
    .expect("registry");
    let err = Runtime::builder()
        .config(reg)
        .handler(Bad)
        .admin_listen(None)
        .build()
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("t.yml: discord/duck: commands[Bad Name].name:"),
        "{text}"
    );
    assert!(
        text.contains("t.yml: discord/duck: commands[Bad Name].description:"),
        "{text}"
    );

    // `only` naming a command no handler declares.
    let reg = Registry::from_yaml_str(
        "providers:\n  - provider: discord\n    tenant: duck\n    credentials: { bot_token: t }\n    commands: { only: [gmae] }\n",
        "t.yml",
        &LoadOptions::default(),
    )
    .expect("registry");
    let err = Runtime::builder()
        .config(reg)
        .handler(Game)
        .admin_listen(None)
        .build()
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains(
            "t.yml: discord/duck: commands.only[0]: no handler of this tenant declares a command \"gmae\""
        ),
        "{err}"
    );
}
