//! The library entry point: a runtime embedded in a test, a custom handler, the
//! emulator over sockets.

#[path = "runtime/commands.rs"]
mod commands;
#[path = "runtime/deferral.rs"]
mod deferral;
#[path = "runtime/interaction_load.rs"]
mod interaction_load;
#[path = "runtime/interest.rs"]
mod interest;
#[path = "runtime/jobs.rs"]
mod jobs;
#[path = "runtime/once_per_message.rs"]
mod once_per_message;
#[path = "common/redis.rs"]
mod redis_server;

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use switchboard::config::{LoadOptions, Registry};
use switchboard::handler::{Ctx, Handler, HandlerResult};
use switchboard::model::SocialMessageCreated;
use switchboard::runtime::{Runtime, RuntimeBuilder};
use switchboard::sim::{
    DEMO_CHANNELS, DEMO_GUILD, InjectMessage, Sim, SimConfig, SimHandle, SimUser,
};
use switchboard::state::CooldownScope;

/// A runtime serving one tenant, `duck` (with `token`), against a fresh emulator,
/// returned once duck's gateway is connected. `runtime_yaml` is the registry's
/// `runtime:` section (or empty); `build` adds handlers and options.
async fn start(
    runtime_yaml: &str,
    token: &str,
    build: impl FnOnce(RuntimeBuilder) -> RuntimeBuilder,
) -> (SimHandle, Runtime) {
    let yaml = format!(
        "{runtime_yaml}providers:\n  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: {token}\n    gateway: {{ intents: [guilds, guild_messages, message_content] }}\n"
    );
    start_registry(&yaml, build).await
}

/// A runtime serving every tenant of `yaml` against a fresh emulator, returned once
/// each tenant's gateway is connected.
async fn start_registry(
    yaml: &str,
    build: impl FnOnce(RuntimeBuilder) -> RuntimeBuilder,
) -> (SimHandle, Runtime) {
    start_registry_with(yaml, |_| {}, build).await
}

/// As [`start_registry`], with `tweak` applied to the emulator's configuration.
async fn start_registry_with(
    yaml: &str,
    tweak: impl FnOnce(&mut SimConfig),
    build: impl FnOnce(RuntimeBuilder) -> RuntimeBuilder,
) -> (SimHandle, Runtime) {
    let mut reg = Registry::from_yaml_str(yaml, "t.yml", &LoadOptions::default()).unwrap();
    let mut config = SimConfig::from_registry(&reg).unwrap();
    tweak(&mut config);
    let sim = Sim::start(config, "127.0.0.1:0").await.unwrap();
    for t in &mut reg.tenants {
        t.endpoints.api = Some(format!("http://{}", sim.api_host()));
        t.endpoints.gateway = Some(sim.gateway_url());
    }
    let names: Vec<String> = reg.tenants.iter().map(|t| t.tenant.to_string()).collect();
    let runtime = build(Runtime::builder().config(reg)).build().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for name in &names {
        while sim.connected_sessions(name) == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} never connected"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    (sim, runtime)
}

/// `username` posts `content` in the demo guild's first channel; returns the
/// message id. Each name is its own user.
fn say(sim: &SimHandle, username: &str, bot: bool, content: &str) -> u64 {
    let id = 900_000_000_000_000_000 + username.bytes().map(u64::from).sum::<u64>();
    say_as(
        sim,
        SimUser {
            id,
            username: username.into(),
            bot,
        },
        content,
    )
}

/// Posts `content` as `author` in the demo guild's first channel; returns its id.
fn say_as(sim: &SimHandle, author: SimUser, content: &str) -> u64 {
    sim.inject_message(InjectMessage {
        guild_id: Some(DEMO_GUILD),
        channel_id: Some(DEMO_CHANNELS[0]),
        tenant: None,
        author,
        content: content.into(),
        mentions: vec![],
    })
    .unwrap()
}

/// Panics the first time it sees `!boom`, then replies `survived`.
struct PanicsOnce {
    seen: Arc<AtomicU32>,
}

impl Handler for PanicsOnce {
    fn name(&self) -> &'static str {
        "panics-once"
    }
    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        if msg.author.bot || msg.content != "!boom" {
            return Ok(());
        }
        assert!(
            self.seen.fetch_add(1, Ordering::SeqCst) > 0,
            "deliberate first-attempt panic"
        );
        ctx.reply(msg, "survived").await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_restarts_its_worker_and_the_envelope_is_retried() {
    let seen = Arc::new(AtomicU32::new(0));
    let (sim, runtime) = start("", "fake-duck", |b| {
        b.handler(PanicsOnce { seen: seen.clone() })
            .admin_listen(None)
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    say(&sim, "alice", false, "!boom");
    while !sim
        .channel_messages(DEMO_CHANNELS[0])
        .iter()
        .any(|m| m.content == "survived")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the retry never replied"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Another worker may serve the retry before the pool has processed the failure.
    loop {
        let workers = runtime.status().await.workers.unwrap();
        if workers.restarts >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the restart shows in status: {workers:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(seen.load(Ordering::SeqCst), 2, "one panic, one retry");
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtins_echo_and_ignore_bots_end_to_end() {
    let (sim, runtime) = start("runtime:\n  handlers: [ping, echo]\n", "fake-duck", |b| {
        b.admin_listen(None)
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let say =
        |content: &str, bot: bool| say(&sim, if bot { "otherbot" } else { "bob" }, bot, content);
    // A bot's `!ping` first, then a human's `!echo hi`: once `hi` is posted, the
    // earlier bot message has certainly been handled, and it produced nothing.
    say("!ping", true);
    let echo_id = say("!echo hi", false);
    while !sim
        .channel_messages(DEMO_CHANNELS[0])
        .iter()
        .any(|m| m.content == "hi")
    {
        assert!(tokio::time::Instant::now() < deadline, "no echo");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let posted = sim.channel_messages(DEMO_CHANNELS[0]);
    let hi = posted.iter().find(|m| m.content == "hi").unwrap();
    assert_eq!(
        hi.message_reference
            .as_ref()
            .and_then(|r| r["message_id"].as_str()),
        Some(echo_id.to_string().as_str())
    );
    // Everything published (the bot's ping and the `!echo`; the bot's own `hi` is
    // not, as neither `ping` nor `echo` wants the bot's own messages) is settled
    // before we look for a pong.
    while {
        let s = runtime.bus().stats();
        s.published < 2 || s.acked + s.dead_lettered < s.published
    } {
        assert!(tokio::time::Instant::now() < deadline, "not handled");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        !posted.iter().any(|m| m.content == "pong"),
        "a bot-authored !ping was answered"
    );
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}

/// Panics on every human message it sees for tenant `goose`; lets the others be.
struct PanicsForGoose;

impl Handler for PanicsForGoose {
    fn name(&self) -> &'static str {
        "panics-for-goose"
    }
    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        assert!(
            msg.author.bot || ctx.tenant().tenant.as_str() != "goose",
            "deliberate panic on every goose message"
        );
        Ok(())
    }
}

/// Waits until every envelope published is acked or dead-lettered, with at least
/// `dead` dead letters, and nothing waits or runs.
async fn settled(
    runtime: &Runtime,
    dead: u64,
    deadline: tokio::time::Instant,
) -> switchboard::bus::BusStats {
    loop {
        let b = runtime.bus().stats();
        if b.published == b.acked + b.dead_lettered
            && b.scheduler.waiting == 0
            && b.scheduler.in_flight == 0
            && b.dead_lettered >= dead
        {
            return b;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "envelopes unaccounted for: {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get_json(addr: std::net::SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap())
}

/// One tenant cannot take the pool down: a handler that panics on every one of
/// goose's messages spends goose's own budget (`runtime.restart`: 2 panics per hour
/// here), and goose is then quarantined — its envelopes are dead-lettered with the
/// reason — while the pool keeps running (no pool restart, the node stays ready) and
/// duck answers every message, before and after. Nothing is lost: everything
/// published is acked or dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_whose_handler_keeps_panicking_is_quarantined_while_the_pool_serves_the_others() {
    let yaml = "runtime:\n  workers: 2\n  max_deliveries: 20\n  handlers: [ping]\n  restart: { max_restarts: 2, period_secs: 3600 }\nproviders:\n  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: fake-duck-good\n    gateway: { intents: [guilds, guild_messages, message_content] }\n  - provider: discord\n    tenant: goose\n    handlers: []\n    credentials:\n      bot_token: fake-goose-bad\n    gateway: { intents: [guilds, guild_messages, message_content] }\n";
    let (sim, runtime) = start_registry(yaml, |b| {
        b.handler(PanicsForGoose)
            .admin_listen(Some("127.0.0.1:0".parse().unwrap()))
    })
    .await;
    let admin = runtime.admin_addr().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let pongs = || {
        sim.channel_messages(DEMO_CHANNELS[0])
            .iter()
            .filter(|m| m.content == "pong")
            .count()
    };
    // Every message reaches both bots: duck answers, goose's handler panics.
    // (Five pongs in all: the emulator's channel rate limit allows five per 5 s.)
    for _ in 0..4 {
        say(&sim, "alice", false, "!ping");
    }
    let goose = loop {
        let status = runtime.status().await;
        let goose = status
            .tenants
            .iter()
            .find(|t| t.id == "discord/goose")
            .cloned()
            .unwrap();
        if goose.quarantined.is_some() {
            break goose;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "goose was never quarantined: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert!(goose.handler_panics >= 3, "{goose:?}");
    assert!(
        goose.quarantined.as_deref().unwrap().contains("panicked"),
        "{goose:?}"
    );
    // After the quarantine too, duck answers every message.
    say(&sim, "alice", false, "!ping");
    while pongs() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "duck answered {} of 5",
            pongs()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Nothing lost: every envelope is acked or dead-lettered (once the retries
    // already scheduled have come due and met the quarantine).
    let bus = settled(&runtime, 5, deadline).await;
    let letters = runtime.bus().dead_letters(100).await.unwrap();
    assert!(
        letters.iter().all(|d| d
            .envelope
            .as_ref()
            .is_some_and(|e| e.tenant.as_str() == "goose")),
        "only goose's envelopes are dead-lettered: {bus:?}"
    );
    assert!(
        letters.iter().any(|d| d.error.contains("quarantined")),
        "the reason is given: {:?}",
        letters.first().map(|d| &d.error)
    );
    // The pool never stopped: no pool restart, the node is ready, and status says
    // which tenant is quarantined and why.
    let status = runtime.status().await;
    let workers = status.workers.clone().unwrap();
    assert_eq!(
        (workers.state.as_str(), workers.pool_restarts),
        ("running", 0),
        "{workers:?}"
    );
    assert!(
        workers.restarts >= 3,
        "panicked workers are replaced: {workers:?}"
    );
    let duck = status
        .tenants
        .iter()
        .find(|t| t.id == "discord/duck")
        .unwrap();
    assert_eq!((duck.handler_panics, duck.quarantined.as_ref()), (0, None));
    assert_eq!(pongs(), 5, "exactly one pong per ping");
    let (code, body) = get_json(admin, "/readyz").await;
    assert_eq!(code, 200, "{body}");
    let (_, body) = get_json(admin, "/v1/status").await;
    let goose = body["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "discord/goose")
        .unwrap();
    assert!(goose["quarantined"].is_string(), "{goose}");
    assert!(goose["handler_panics"].as_u64().unwrap() >= 3, "{goose}");
    runtime.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
}

/// The root supervisor restarts a dead vault actor over the same store: every clone of
/// the handle follows, secrets survive, and the tenant keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_vault_actor_is_restarted_over_the_same_store() {
    use secrecy::ExposeSecret;
    use switchboard::vault::{Capability, TenantId};

    let (sim, runtime) = start("runtime:\n  handlers: [ping]\n", "fake-duck-vault", |b| {
        b.admin_listen(None)
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let vault = runtime.vault().clone();
    let dead = vault.actor_cell();
    dead.kill();
    loop {
        if vault.actor_cell().get_id() != dead.get_id() && vault.stats().await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the vault was not restarted"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // The store survived the actor.
    let rest = vault.rest_scope(&TenantId::parse("discord", "duck").unwrap());
    let lease = rest
        .lease(
            "discord/duck/bot_token".parse().unwrap(),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect("the restarted vault still holds the token");
    assert_eq!(lease.secret().unwrap().expose_secret(), "fake-duck-vault");
    drop(lease);
    // And the tenant still answers.
    say(&sim, "carol", false, "!ping");
    while !sim
        .channel_messages(DEMO_CHANNELS[0])
        .iter()
        .any(|m| m.content == "pong")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no pong after the restart"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}

/// Counts each user's `!count` in the tenant's state, two per minute at most.
struct Counter;

impl Handler for Counter {
    fn name(&self) -> &'static str {
        "counter"
    }
    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        if msg.author.bot || msg.content != "!count" {
            return Ok(());
        }
        let decision = ctx
            .cooldown(
                CooldownScope::User,
                &msg.author.id,
                "count",
                2,
                Duration::from_secs(60),
            )
            .await?;
        if let Some(wait) = decision.message() {
            ctx.reply(msg, wait).await?;
            return Ok(());
        }
        let n = ctx
            .state()
            .incr(&format!("count:{}", msg.author.id), 1, None)
            .await?;
        ctx.reply(msg, format!("count {n}")).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_keep_state_and_cooldowns_per_tenant() {
    let yaml = "runtime:\n  handlers: []\nproviders:\n  - provider: discord\n    tenant: duck\n    credentials: { bot_token: fake-duck }\n    gateway: { intents: [guilds, guild_messages, message_content] }\n  - provider: discord\n    tenant: goose\n    credentials: { bot_token: fake-goose }\n    gateway: { intents: [guilds, guild_messages, message_content] }\n";
    let (sim, runtime) = start_registry(yaml, |b| b.handler(Counter).admin_listen(None)).await;
    let answers = |sim: &SimHandle| {
        let mut a: Vec<(String, String)> = sim
            .channel_messages(DEMO_CHANNELS[0])
            .into_iter()
            .filter(|m| m.tenant.is_some())
            .map(|m| (m.tenant.unwrap_or_default(), m.content))
            .collect();
        a.sort();
        a
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    for (i, want) in ["count 1", "count 2", "try again in"].iter().enumerate() {
        say(&sim, "bob", false, "!count");
        // Each tenant answers each message, from its own count.
        while answers(&sim).len() < 2 * (i + 1) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                answers(&sim)
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        for tenant in ["duck", "goose"] {
            assert!(
                answers(&sim)
                    .iter()
                    .any(|(t, c)| t == tenant && c.starts_with(want)),
                "{tenant} {want}: {:?}",
                answers(&sim)
            );
        }
    }
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}

/// Answers every human message — after claiming its turn, as a polite bot in a
/// shared channel does.
struct Chatty;

impl Handler for Chatty {
    fn name(&self) -> &'static str {
        "chatty"
    }
    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        if msg.author.bot {
            return Ok(());
        }
        if ctx
            .claim_turn(&msg.channel_id, &msg.message_id)
            .await?
            .is_mine()
        {
            ctx.reply(msg, format!("re {}", msg.content)).await?;
        }
        Ok(())
    }
}

/// Five bots in one channel, 100 human messages: with coordination, 100 answers (one
/// per message); without, 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_bots_in_one_channel_answer_each_message_once_with_coordination() {
    const MESSAGES: usize = 100;
    for coordinated in [true, false] {
        let mut yaml = String::from("runtime:\n  handlers: []\n  workers: 8\nproviders:\n");
        for name in ["b1", "b2", "b3", "b4", "b5"] {
            let _ = writeln!(
                yaml,
                "  - provider: discord\n    tenant: {name}\n    credentials: {{ bot_token: fake-{name} }}\n    gateway: {{ intents: [guilds, guild_messages, message_content] }}"
            );
            if coordinated {
                yaml.push_str("    coordination: { max_bots_per_message: 1 }\n");
            }
        }
        // The test is about turns, not rate limits: let each bot post freely.
        let (sim, runtime) = start_registry_with(
            &yaml,
            |c| {
                c.rate_limits.route.limit = 10_000;
                c.rate_limits.global_limit = 10_000;
            },
            |b| b.handler(Chatty).admin_listen(None),
        )
        .await;
        for i in 0..MESSAGES {
            say(&sim, "bob", false, &format!("m{i}"));
        }
        let want = if coordinated { MESSAGES } else { 5 * MESSAGES };
        let answers = |sim: &SimHandle| -> Vec<(String, String)> {
            sim.channel_messages(DEMO_CHANNELS[0])
                .into_iter()
                .filter_map(|m| Some((m.tenant?, m.content)))
                .collect()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while answers(&sim).len() < want {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {want} answers",
                answers(&sim).len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Everything settled: no late answer is on its way.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while {
            let s = runtime.bus().stats();
            s.acked + s.dead_lettered < s.published
        } {
            assert!(tokio::time::Instant::now() < deadline, "not settled");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let all = answers(&sim);
        assert_eq!(all.len(), want, "coordinated: {coordinated}");
        let mut per_message: std::collections::HashMap<&str, usize> =
            std::collections::HashMap::new();
        let mut per_bot: std::collections::BTreeMap<&str, usize> =
            std::collections::BTreeMap::new();
        for (bot, content) in &all {
            *per_message.entry(content.as_str()).or_default() += 1;
            *per_bot.entry(bot.as_str()).or_default() += 1;
        }
        assert_eq!(per_message.len(), MESSAGES, "every message answered");
        let each = if coordinated { 1 } else { 5 };
        assert!(per_message.values().all(|n| *n == each), "{per_message:?}");
        eprintln!("coordinated: {coordinated}: answers per bot {per_bot:?}");
        runtime.shutdown(Duration::from_secs(10)).await;
        sim.shutdown().await;
    }
}
