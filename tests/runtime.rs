//! The library entry point: a runtime embedded in a test, a custom handler, the
//! emulator over sockets.

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
    let mut reg = Registry::from_yaml_str(&yaml, "t.yml", &LoadOptions::default()).unwrap();
    let sim = Sim::start(SimConfig::from_registry(&reg).unwrap(), "127.0.0.1:0")
        .await
        .unwrap();
    reg.tenants[0].endpoints.api = Some(format!("http://{}", sim.api_host()));
    reg.tenants[0].endpoints.gateway = Some(sim.gateway_url());
    let runtime = build(Runtime::builder().config(reg)).build().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while sim.connected_sessions("duck") == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "duck never connected"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    (sim, runtime)
}

/// `username` posts `content` in the demo guild's first channel; returns the
/// message id. Each name is its own user.
fn say(sim: &SimHandle, username: &str, bot: bool, content: &str) -> u64 {
    let id = 900_000_000_000_000_000 + username.bytes().map(u64::from).sum::<u64>();
    sim.inject_message(InjectMessage {
        guild_id: Some(DEMO_GUILD),
        channel_id: Some(DEMO_CHANNELS[0]),
        tenant: None,
        author: SimUser {
            id,
            username: username.into(),
            bot,
        },
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
    // Everything published (the bot's ping, the echo, the bot's own `hi`) is settled
    // before we look for a pong.
    while {
        let s = runtime.bus().stats();
        s.published < 3 || s.acked + s.dead_lettered < s.published
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

/// Panics on every `!boom`; holds `!slow` until cancelled.
struct AlwaysPanics;

impl Handler for AlwaysPanics {
    fn name(&self) -> &'static str {
        "always-panics"
    }
    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        assert!(msg.content != "!boom", "deliberate panic on every attempt");
        if msg.content == "!slow" {
            // Holds its worker until the pool winds down, then fails (and is retried).
            ctx.cancellation().cancelled().await;
            return Err("cancelled".into());
        }
        Ok(())
    }
}

async fn readyz(addr: std::net::SocketAddr) -> (u16, serde_json::Value) {
    let resp = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.json().await.unwrap())
}

/// The root supervisor restarts a worker pool that spent its own budget, within the
/// root's budget (`runtime.restart`); past it the pool is left stopped, the node says
/// it is not ready and why, and the tenant's gateway keeps running and publishing.
/// A pool winding down lets its other workers settle what they hold: nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_that_keeps_failing_is_restarted_then_left_stopped_while_tenants_run() {
    let (sim, runtime) = start(
        "runtime:\n  workers: 2\n  max_deliveries: 20\n  restart: { max_restarts: 1, period_secs: 3600 }\n",
        "fake-duck",
        |b| b.handler(AlwaysPanics).admin_listen(Some("127.0.0.1:0".parse().unwrap())),
    )
    .await;
    let admin = runtime.admin_addr().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let inject = |content: &str| {
        say(&sim, "alice", false, content);
    };
    // One worker is busy with `!slow` when the other one's failures spend the budget.
    inject("!slow");
    loop {
        let w = runtime.status().await.workers.unwrap();
        if w.busy >= 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "!slow never started"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Pool budget: 4 worker restarts, so the 5th failure fails the pool; the root
    // restarts it once; 5 more failures and the root gives up. 12 poison envelopes
    // (retried up to 20 times each) are more than enough.
    for _ in 0..12 {
        inject("!boom");
    }
    let workers = loop {
        let w = runtime.status().await.workers.unwrap();
        if w.state == "failed" {
            break w;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pool never failed for good: {w:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        workers.pool_restarts, 1,
        "restarted once, then left: {workers:?}"
    );
    assert!(
        workers.reason.as_deref().unwrap_or("").contains("budget"),
        "{workers:?}"
    );
    let (code, body) = readyz(admin).await;
    assert_eq!(code, 503, "{body}");
    assert!(body.to_string().contains("worker pool failed"), "{body}");

    // The rest of the tree keeps running: the tenant is connected and still
    // publishes what it receives (nobody handles it on this node any more).
    let status = runtime.status().await;
    assert_eq!(
        status.tenants[0].state,
        switchboard::admin::TenantState::Running,
        "{status:?}"
    );
    let published = status.bus.published;
    inject("still here");
    loop {
        let now = runtime.status().await.bus.published;
        if now > published {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gateway stopped publishing"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // And it stays failed: no restart loop.
    let later = runtime.status().await.workers.unwrap();
    assert_eq!((later.state.as_str(), later.pool_restarts), ("failed", 1));
    // Nothing was lost: every envelope was acked, dead-lettered or waits for a
    // worker (once the retries already scheduled have come due).
    loop {
        let b = runtime.bus().stats();
        if b.published == b.acked + b.dead_lettered + b.scheduler.waiting as u64
            && b.scheduler.in_flight == 0
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "envelopes unaccounted for: {b:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    runtime.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
}

/// The root supervisor restarts a dead vault actor over the same store: every clone of
/// the handle follows, secrets survive, and the tenant keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_vault_actor_is_restarted_over_the_same_store() {
    use secrecy::ExposeSecret;
    use switchboard::vault::{Capability, Principal};

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
    let rest = Principal::rest("discord", "duck").unwrap();
    let lease = vault
        .lease(
            &rest,
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
