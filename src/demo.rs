//! The offline demo: the built-in Discord emulator, a runtime whose tenants point at
//! it, and a small traffic generator posting `!ping` / `!echo` messages as a human
//! would and invoking the slash command `/ping` of the tenants that registered it.
//! `switchboard run --demo` runs it; tests drive it too.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, LoadOptions, Registry};
use crate::runtime::{Runtime, RuntimeError};
use crate::sim::{
    DEMO_CHANNELS, DEMO_GUILD, FromRegistryError, InjectInteraction, InjectMessage,
    InteractionKind, Sim, SimConfig, SimError, SimHandle, SimUser,
};

/// The demo registry shipped as `config/demo.yml`.
pub const DEMO_REGISTRY: &str = include_str!("../config/demo.yml");

/// How often the demo posts a message by default: a pace the bots can keep up with
/// for ever. Messages go to the demo channels in turn and each may be answered by
/// every bot, so one bot's replies in one channel come every
/// `DEFAULT_EVERY × DEMO_CHANNELS.len()` = 1.3 s, under the emulated (and Discord's)
/// limit of 5 messages per 5 s per channel: the REST queues stay empty and the
/// backlog flat however long the demo runs. A faster pace piles replies up behind
/// the rate limit (the runtime never breaks it), so the backlog grows.
pub const DEFAULT_EVERY: Duration = Duration::from_millis(650);

/// Why the demo could not start: what failed, with the error that caused it as the
/// [`source`](std::error::Error::source) (print it with [`Report`](crate::Report)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The shipped demo registry does not load (a build bug).
    #[error("the demo registry is invalid")]
    Config(#[source] ConfigError),
    /// The registry cannot be emulated (a Discord tenant without a bot token).
    #[error("the registry cannot be emulated")]
    Emulate(#[source] FromRegistryError),
    /// The emulator could not start.
    #[error("the emulator could not start")]
    Sim(#[source] SimError),
    /// The runtime could not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// Counters for the demo's summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DemoSummary {
    /// Messages the traffic generator posted.
    pub posted: u64,
    /// Slash commands (`/ping`) the traffic generator invoked.
    pub slash_commands: u64,
    /// How many of them the bots have answered.
    pub slash_answered: u64,
    /// Envelopes published to workers.
    pub events_in: u64,
    /// Deliveries handled by workers.
    pub handled: u64,
    /// Messages the bots posted.
    pub replies: u64,
    /// 429s the emulator answered.
    pub rate_limited: u64,
}

impl std::fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "demo · posted {} · slash commands {} (answered {}) · events in {} · handled {} · replies posted {} · 429s {}",
            self.posted,
            self.slash_commands,
            self.slash_answered,
            self.events_in,
            self.handled,
            self.replies,
            self.rate_limited
        )
    }
}

/// A running demo.
#[derive(Debug)]
pub struct Demo {
    /// The emulator.
    pub sim: Arc<SimHandle>,
    /// The runtime.
    pub runtime: Runtime,
    traffic: JoinHandle<u64>,
    counters: Arc<Counters>,
    cancel: CancellationToken,
}

/// What the traffic generator did, shared with [`Demo::summary`].
#[derive(Debug, Default)]
struct Counters {
    posted: AtomicU64,
    slash_commands: AtomicU64,
    slash_answered: AtomicU64,
    /// Slash commands not answered yet (their interaction ids).
    unanswered: Mutex<Vec<u64>>,
}

/// The shipped demo registry.
///
/// # Errors
/// [`DemoError::Config`] if it does not load (a build bug).
pub fn demo_registry() -> Result<Registry, DemoError> {
    Registry::from_yaml_str(DEMO_REGISTRY, "config/demo.yml", &LoadOptions::default())
        .map_err(DemoError::Config)
}

impl Demo {
    /// Starts the emulator for `registry`'s tenants, points them at it, starts the
    /// runtime (admin API on `admin`, if any) and the traffic generator, posting one
    /// message every `every` ([`DEFAULT_EVERY`] keeps within the rate limits).
    ///
    /// # Errors
    /// A [`DemoError`] naming what could not start.
    pub async fn start(
        mut registry: Registry,
        admin: Option<SocketAddr>,
        every: Duration,
    ) -> Result<Self, DemoError> {
        let sim_config = SimConfig::from_registry(&registry).map_err(DemoError::Emulate)?;
        let sim = Arc::new(
            Sim::start(sim_config, "127.0.0.1:0")
                .await
                .map_err(DemoError::Sim)?,
        );
        for t in &mut registry.tenants {
            t.endpoints.api = Some(format!("http://{}", sim.api_host()));
            t.endpoints.gateway = Some(sim.gateway_url());
        }
        let tenants = registry
            .tenants
            .iter()
            .map(|t| t.tenant.to_string())
            .collect();
        let runtime = Runtime::builder()
            .config(registry)
            .admin_listen(admin)
            .build()
            .await?;
        let cancel = CancellationToken::new();
        let counters = Arc::new(Counters::default());
        let traffic = tokio::spawn(traffic(
            sim.clone(),
            tenants,
            every,
            cancel.clone(),
            counters.clone(),
        ));
        Ok(Self {
            sim,
            runtime,
            traffic,
            counters,
            cancel,
        })
    }

    /// The counters now.
    #[must_use]
    pub fn summary(&self) -> DemoSummary {
        let bus = self.runtime.bus().stats();
        let stats = self.sim.stats();
        let replies = DEMO_CHANNELS
            .iter()
            .map(|c| self.sim.channel_messages(*c).len() as u64)
            .sum();
        let answered = {
            let mut unanswered = self
                .counters
                .unanswered
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let before = unanswered.len();
            unanswered.retain(|id| self.sim.interaction_response(*id).is_none());
            (before - unanswered.len()) as u64
        };
        let c = &self.counters;
        DemoSummary {
            posted: c.posted.load(Ordering::Relaxed),
            slash_commands: c.slash_commands.load(Ordering::Relaxed),
            slash_answered: c.slash_answered.fetch_add(answered, Ordering::Relaxed) + answered,
            events_in: bus.published,
            handled: bus.acked,
            replies,
            rate_limited: stats
                .tenants
                .values()
                .map(crate::sim::TenantStats::ratelimited)
                .sum(),
        }
    }

    /// Stops the traffic, the runtime and the emulator.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.traffic.await;
        self.runtime.shutdown(Duration::from_secs(10)).await;
        match Arc::try_unwrap(self.sim) {
            Ok(sim) => sim.shutdown().await,
            // Someone still holds it: dropping the last handle stops the emulator.
            Err(shared) => drop(shared),
        }
    }
}

/// Every fourth tick (with the `!ping` line) the generator also invokes `/ping`, in
/// turn with each tenant that has registered it (the emulator accepts only
/// registered commands).
async fn traffic(
    sim: Arc<SimHandle>,
    tenants: Vec<String>,
    every: Duration,
    cancel: CancellationToken,
    counters: Arc<Counters>,
) -> u64 {
    const LINES: [&str; 4] = [
        "!ping",
        "!echo hello from the demo",
        "just chatting",
        "!echo quack",
    ];
    let mut tick = tokio::time::interval(every);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = cancel.cancelled() => return n,
        }
        let i = n as usize;
        if i.is_multiple_of(LINES.len()) {
            slash_ping(&sim, &tenants, i / LINES.len(), &counters);
        }
        let msg = InjectMessage {
            guild_id: Some(DEMO_GUILD),
            // Lines and channels in turn, offset each round so every line reaches
            // every channel (4 lines over 2 channels would otherwise send every
            // `!echo` to the same one).
            channel_id: Some(DEMO_CHANNELS[(i + i / LINES.len()) % DEMO_CHANNELS.len()]),
            tenant: None,
            author: SimUser {
                id: 900_000_000_000_000_001 + (n % 3),
                username: ["alice", "bob", "carol"][i % 3].to_owned(),
                bot: false,
            },
            content: LINES[i % LINES.len()].to_owned(),
            mentions: Vec::new(),
        };
        match sim.inject_message(msg) {
            Ok(_) => {
                n += 1;
                counters.posted.store(n, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::warn!(error = %crate::Report(&e), "demo traffic: injecting a message failed");
            }
        }
    }
}

/// Invokes `/ping` as a user of the demo guild, with the `round`-th tenant (in turn)
/// among those whose registered commands include it; nothing before any has.
fn slash_ping(sim: &SimHandle, tenants: &[String], round: usize, counters: &Counters) {
    let ready: Vec<&String> = tenants
        .iter()
        .filter(|t| {
            sim.application_id(t).is_some_and(|app| {
                [None, Some(DEMO_GUILD)]
                    .iter()
                    .any(|scope| sim.command_names(app, *scope).iter().any(|n| n == "ping"))
            })
        })
        .collect();
    if ready.is_empty() {
        return;
    }
    let tenant = ready[round % ready.len()];
    let injected = sim.inject_interaction(&InjectInteraction {
        tenant: tenant.clone(),
        guild_id: Some(DEMO_GUILD),
        channel_id: Some(DEMO_CHANNELS[round % DEMO_CHANNELS.len()]),
        user: SimUser {
            id: 900_000_000_000_000_004,
            username: "dave".to_owned(),
            bot: false,
        },
        kind: InteractionKind::SlashCommand {
            name: "ping".to_owned(),
            options: Vec::new(),
        },
    });
    match injected {
        Ok(i) => {
            counters.slash_commands.fetch_add(1, Ordering::Relaxed);
            counters
                .unanswered
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(i.id);
        }
        Err(e) => {
            tracing::warn!(error = %crate::Report(&e), %tenant, "demo traffic: invoking /ping failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_EVERY, DEMO_CHANNELS};
    use crate::sim::RateLimitConfig;

    /// The default pace keeps each bot's replies per channel under the emulated
    /// per-channel limit, with a 20 % margin.
    #[test]
    fn the_default_pace_is_within_the_channel_rate_limit() {
        let route = RateLimitConfig::default().route;
        let per_channel = DEFAULT_EVERY * u32::try_from(DEMO_CHANNELS.len()).unwrap_or(1);
        let allowed = route.window / route.limit;
        assert!(
            per_channel.as_secs_f64() >= allowed.as_secs_f64() * 1.2,
            "one reply per channel every {per_channel:?}; the limit allows one every {allowed:?}"
        );
    }
}
