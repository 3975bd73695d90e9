//! The handlers' interest through a running runtime: a `!ping` answered by the
//! built-in `ping` (which ignores the bot's own messages) publishes one event, not
//! two — the gateway drops the echo of the bot's own `pong` — until a handler of
//! the tenant wants the bot's own messages; a node without workers publishes every
//! event.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::Role;
use switchboard::handler::{Ctx, Handler, HandlerResult, Interest};
use switchboard::model::SocialMessageCreated;
use switchboard::runtime::Runtime;
use switchboard::sim::{DEMO_CHANNELS, SimHandle, SimUser};

use super::{say, say_as, start_registry, start_registry_with};
use crate::redis_server::TestRedis;

const YAML: &str = "namespace: interest\nruntime:\n  handlers: [ping]\n  workers: 2\nproviders:\n  - provider: discord\n    tenant: duck\n    credentials: { bot_token: fake-duck }\n    gateway: { intents: [guilds, guild_messages, message_content] }\n";

/// Records every message it is given; wants the bot's own messages if `own`.
struct Watcher {
    own: bool,
    seen: Arc<Mutex<Vec<(String, bool)>>>,
}

impl Handler for Watcher {
    fn name(&self) -> &'static str {
        "watcher"
    }

    fn interest(&self) -> Interest {
        if self.own {
            Interest::ALL
        } else {
            Interest::ALL.without_own_messages()
        }
    }

    async fn on_message(&self, _ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        self.seen
            .lock()
            .unwrap()
            .push((msg.content.clone(), msg.from_self));
        Ok(())
    }
}

/// Polls `f` every 20 ms for up to 30 s.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Dispatches tenant `duck`'s one shard has received.
async fn dispatches(runtime: &Runtime) -> u64 {
    let status = runtime.status().await;
    status
        .tenants
        .iter()
        .flat_map(|t| &t.shards)
        .map(|s| s.events)
        .sum()
}

/// `!ping`, its `pong`, then `thanks`: returns how many events the bus carried
/// once the watcher handled `thanks` (and `handled` messages in all) and
/// everything settled. One shard judges its
/// dispatches in order: `thanks` is said after the `pong` dispatch arrived, so the
/// echo was published, or not, before `thanks` was.
async fn ping_then_thanks(sim: &SimHandle, runtime: &Runtime, seen: &Seen, handled: usize) -> u64 {
    let before = dispatches(runtime).await;
    say(sim, "alice", false, "!ping");
    until("pong posted", || {
        sim.channel_messages(DEMO_CHANNELS[0])
            .iter()
            .any(|m| m.content == "pong")
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while dispatches(runtime).await < before + 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pong never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    say(sim, "alice", false, "thanks");
    let bus = runtime.bus();
    until("thanks handled and everything settled", || {
        let s = bus.stats();
        seen.lock().unwrap().len() >= handled
            && seen.lock().unwrap().iter().any(|(c, _)| c == "thanks")
            && s.acked + s.dead_lettered == s.published
    })
    .await;
    bus.stats().published
}

type Seen = Arc<Mutex<Vec<(String, bool)>>>;

/// The messages `seen` holds, sorted.
fn sorted(seen: &Seen) -> Vec<(String, bool)> {
    let mut v = seen.lock().unwrap().clone();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_of_a_reply_is_published_only_when_a_handler_wants_own_messages() {
    let msg = |c: &str, own| (c.to_owned(), own);
    // `ping` and a watcher that ignores the bot's own messages: the `pong` coming
    // back through the gateway is not published.
    let seen: Seen = Arc::default();
    let (sim, runtime) = start_registry(YAML, |b| {
        b.handler(Watcher {
            own: false,
            seen: seen.clone(),
        })
        .admin_listen(None)
    })
    .await;
    assert_eq!(ping_then_thanks(&sim, &runtime, &seen, 2).await, 2);
    assert_eq!(sorted(&seen), [msg("!ping", false), msg("thanks", false)]);
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;

    // A watcher that wants every message: the echo is published and given to it
    // (with `from_self`), not to `ping`, which answers once.
    let seen: Seen = Arc::default();
    let (sim, runtime) = start_registry(YAML, |b| {
        b.handler(Watcher {
            own: true,
            seen: seen.clone(),
        })
        .admin_listen(None)
    })
    .await;
    assert_eq!(ping_then_thanks(&sim, &runtime, &seen, 3).await, 3);
    assert_eq!(
        sorted(&seen),
        [msg("!ping", false), msg("pong", true), msg("thanks", false)]
    );
    let pongs = sim
        .channel_messages(DEMO_CHANNELS[0])
        .iter()
        .filter(|m| m.content == "pong")
        .count();
    assert_eq!(pongs, 1, "ping answered its own echo");
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}

/// A node that runs no workers (`Role::Access`) cannot know what the workers'
/// handlers want: its gateway publishes the bot's own messages even though every
/// handler it knows (`ping`) ignores them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_only_node_publishes_every_event() {
    let redis = TestRedis::start().await;
    let yaml = YAML.replace(
        "  workers: 2\n",
        &format!(
            "  workers: 2\n  bus: {{ backend: redis, url: '{}' }}\n  redis_prefix: {}\n",
            redis.url(),
            redis.prefix()
        ),
    );
    let mut bot = None;
    let (sim, runtime) = start_registry_with(
        &yaml,
        |c| {
            bot = c
                .tenants
                .first()
                .map(|t| (t.bot_user_id, t.bot_username.clone()));
        },
        |b| b.role(Role::Access).admin_listen(None),
    )
    .await;
    let (id, username) = bot.expect("the emulator has the tenant's bot");
    say_as(
        &sim,
        SimUser {
            id,
            username,
            bot: true,
        },
        "posted by the bot itself",
    );
    let bus = runtime.bus();
    until("the bot's own message published", || {
        bus.stats().published == 1
    })
    .await;
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}
