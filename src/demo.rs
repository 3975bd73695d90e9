//! The offline demo: the built-in Discord emulator, a runtime whose tenants point at
//! it, and a small traffic generator posting `!ping` / `!echo` messages as a human
//! would. `switchboard run --demo` runs it; tests drive it too.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{LoadOptions, Registry};
use crate::runtime::{Runtime, RuntimeError};
use crate::sim::{DEMO_CHANNELS, DEMO_GUILD, InjectMessage, Sim, SimConfig, SimHandle, SimUser};

/// The demo registry shipped as `config/demo.yml`.
pub const DEMO_REGISTRY: &str = include_str!("../config/demo.yml");

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The registry is invalid.
    #[error("{0}")]
    Config(String),
    /// The emulator could not start.
    #[error("emulator: {0}")]
    Sim(String),
    /// The runtime could not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// Counters for the demo's summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DemoSummary {
    /// Messages the traffic generator posted.
    pub posted: u64,
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
            "demo · posted {} · events in {} · handled {} · replies posted {} · 429s {}",
            self.posted, self.events_in, self.handled, self.replies, self.rate_limited
        )
    }
}

/// A running demo.
#[derive(Debug)]
pub struct Demo {
    /// The emulator.
    pub sim: std::sync::Arc<SimHandle>,
    /// The runtime.
    pub runtime: Runtime,
    traffic: JoinHandle<u64>,
    posted: std::sync::Arc<std::sync::atomic::AtomicU64>,
    cancel: CancellationToken,
}

/// The shipped demo registry.
///
/// # Errors
/// [`DemoError::Config`] if it does not parse (a build bug).
pub fn demo_registry() -> Result<Registry, DemoError> {
    Registry::from_yaml_str(DEMO_REGISTRY, "config/demo.yml", &LoadOptions::default())
        .map_err(|e| DemoError::Config(e.to_string()))
}

impl Demo {
    /// Starts the emulator for `registry`'s tenants, points them at it, starts the
    /// runtime (admin API on `admin`, if any) and the traffic generator, posting one
    /// message every `every`.
    ///
    /// # Errors
    /// A [`DemoError`] naming what could not start.
    pub async fn start(
        mut registry: Registry,
        admin: Option<SocketAddr>,
        every: Duration,
    ) -> Result<Self, DemoError> {
        let sim_config =
            SimConfig::from_registry(&registry).map_err(|e| DemoError::Config(e.to_string()))?;
        let sim = std::sync::Arc::new(
            Sim::start(sim_config, "127.0.0.1:0")
                .await
                .map_err(|e| DemoError::Sim(e.to_string()))?,
        );
        for t in &mut registry.tenants {
            t.endpoints.api = Some(format!("http://{}", sim.api_host()));
            t.endpoints.gateway = Some(sim.gateway_url());
        }
        let runtime = Runtime::builder()
            .config(registry)
            .admin_listen(admin)
            .build()
            .await?;
        let cancel = CancellationToken::new();
        let posted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let traffic = tokio::spawn(traffic(sim.clone(), every, cancel.clone(), posted.clone()));
        Ok(Self {
            sim,
            runtime,
            traffic,
            posted,
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
        DemoSummary {
            posted: self.posted.load(std::sync::atomic::Ordering::Relaxed),
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
        match std::sync::Arc::try_unwrap(self.sim) {
            Ok(sim) => sim.shutdown().await,
            // Someone still holds it: dropping the last handle stops the emulator.
            Err(shared) => drop(shared),
        }
    }
}

async fn traffic(
    sim: std::sync::Arc<SimHandle>,
    every: Duration,
    cancel: CancellationToken,
    posted: std::sync::Arc<std::sync::atomic::AtomicU64>,
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
        let msg = InjectMessage {
            guild_id: Some(DEMO_GUILD),
            channel_id: Some(DEMO_CHANNELS[i % DEMO_CHANNELS.len()]),
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
                posted.store(n, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "demo traffic: injecting a message failed"),
        }
    }
}
