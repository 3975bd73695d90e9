//! Shared helpers: an emulator with three bots, tenant configurations pointed at it,
//! a vault holding their tokens, a bus collector, and bounded waits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::SecretString;
use switchboard::actors::gateway::{
    GatewayArgs, GatewayHandle, SessionStore, ShardStatus, TenantState,
};
use switchboard::bus::{Bus, BusConfig};
use switchboard::config::{
    AllowConfig, Credentials, Endpoints, GatewayConfig, Shards, StorageConfig, TenantConfig,
};
use switchboard::model::{Envelope, Event, Payload, ProviderName, TenantName};
use switchboard::providers::discord::interactions::InteractionTokens;
use switchboard::sim::{self, GuildConfig, PrivilegedIntents, Sim, SimConfig, SimHandle, SimUser};
use switchboard::vault::{SecretKind, VaultConfig, VaultHandle};
use tokio::task::JoinHandle;

pub(crate) use crate::common::eventually;

/// Guild on shard 0 of 2 (`(id >> 22) % 2 == 0`).
pub(crate) const GUILD_A: u64 = 2 << 22;
/// Guild on shard 1 of 2.
pub(crate) const GUILD_B: u64 = 3 << 22;
/// Channels in `GUILD_A`.
pub(crate) const CHAN_A: u64 = 900_000_000_000_000_001;
pub(crate) const CHAN_A2: u64 = 900_000_000_000_000_003;
/// Channel in `GUILD_B`.
pub(crate) const CHAN_B: u64 = 900_000_000_000_000_002;

pub(crate) const DUCK_TOKEN: &str = "duck-token.secret";
pub(crate) const GOOSE_TOKEN: &str = "goose-token.secret";
pub(crate) const DUCK_APP: u64 = 500_000_000_000_000_001;
pub(crate) const DUCK_BOT: u64 = 600_000_000_000_000_001;
pub(crate) const GOOSE_APP: u64 = 500_000_000_000_000_002;
pub(crate) const GOOSE_BOT: u64 = 600_000_000_000_000_002;

pub(crate) const NS: &str = "promethean";
/// Generous bound for anything on two loaded cores.
pub(crate) const LONG: Duration = Duration::from_secs(30);

/// `duck` (every privileged intent, guilds A and B) and `goose` (no privileged
/// intent, guild A).
pub(crate) fn sim_config() -> SimConfig {
    let mut c = SimConfig::default()
        .tenant(
            sim::TenantConfig::new("duck", DUCK_TOKEN, DUCK_APP, DUCK_BOT)
                .guild(GuildConfig::new(
                    GUILD_A,
                    "pond",
                    &[(CHAN_A, "general"), (CHAN_A2, "quiet")],
                ))
                .guild(GuildConfig::new(GUILD_B, "lake", &[(CHAN_B, "general")])),
        )
        .tenant(
            sim::TenantConfig::new("goose", GOOSE_TOKEN, GOOSE_APP, GOOSE_BOT)
                .privileged(PrivilegedIntents::default())
                .guild(GuildConfig::new(
                    GUILD_A,
                    "pond",
                    &[(CHAN_A, "general"), (CHAN_A2, "quiet")],
                )),
        );
    c.heartbeat_interval = Duration::from_secs(5);
    c.max_concurrency = 16;
    c.rate_limits.global_limit = 10_000;
    c
}

/// Starts an emulator on an ephemeral port.
pub(crate) async fn start_sim() -> SimHandle {
    Sim::start(sim_config(), "127.0.0.1:0")
        .await
        .expect("emulator starts")
}

/// A user for injected messages.
pub(crate) fn user(id: u64, name: &str) -> SimUser {
    SimUser {
        id,
        username: name.to_owned(),
        bot: false,
    }
}

/// Alice says `text` in guild A's channel A; the message id.
pub(crate) fn inject(sim: &SimHandle, text: &str) -> String {
    sim.inject_message(sim::InjectMessage::guild(
        GUILD_A,
        CHAN_A,
        user(42, "alice"),
        text,
    ))
    .expect("inject")
    .to_string()
}

/// A tenant pointed at the emulator.
pub(crate) fn tenant(
    sim: &SimHandle,
    name: &str,
    intents: &[&str],
    shards: Shards,
) -> TenantConfig {
    TenantConfig {
        provider: ProviderName::new("discord").expect("name"),
        tenant: TenantName::new(name).expect("name"),
        credentials: Credentials::default(),
        allow: AllowConfig::default(),
        storage: StorageConfig::default(),
        gateway: GatewayConfig {
            intents: intents.iter().map(|s| (*s).to_owned()).collect(),
            shards,
        },
        endpoints: Endpoints {
            api: Some(format!("http://{}", sim.api_host())),
            gateway: Some(sim.gateway_url()),
        },
        publish_raw: false,
        handlers: None,
        commands: None,
        settings: serde_json::Value::Null,
        secrets: BTreeMap::new(),
        coordination: None,
        schedules: Vec::new(),
        source: PathBuf::from("tests/gateway"),
    }
}

/// The intents most tests use.
pub(crate) const MESSAGE_INTENTS: &[&str] = &[
    "guilds",
    "guild_messages",
    "direct_messages",
    "message_content",
];

/// A memory vault holding `tokens` as `discord/<tenant>/bot_token`.
pub(crate) async fn vault(tokens: &[(&str, &str)]) -> VaultHandle {
    vault_with(VaultConfig::default(), tokens).await
}

/// Like [`vault`] with a configuration.
pub(crate) async fn vault_with(config: VaultConfig, tokens: &[(&str, &str)]) -> VaultHandle {
    let v = VaultHandle::memory(config).await.expect("vault");
    for (tenant, token) in tokens {
        v.publish_tenant(
            "discord",
            tenant,
            [(
                "bot_token",
                SecretString::from(*token),
                SecretKind::ProviderCredential,
            )],
        )
        .await
        .expect("publish token");
    }
    v
}

/// Everything published on a bus, acknowledged as it arrives.
pub(crate) struct Collector {
    pub(crate) bus: Bus,
    seen: Arc<Mutex<Vec<Envelope>>>,
    task: JoinHandle<()>,
}

impl Collector {
    pub(crate) fn new() -> Self {
        let bus = Bus::memory(BusConfig::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (b, s) = (bus.clone(), Arc::clone(&seen));
        let task = tokio::spawn(async move {
            while let Some(d) = b.next().await {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(d.envelope.clone());
                let _ = b.ack(d).await;
            }
        });
        Self { bus, seen, task }
    }

    /// Every envelope so far.
    pub(crate) fn all(&self) -> Vec<Envelope> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Messages created so far for `tenant`: `(message_id, content, from_self, bot)`.
    pub(crate) fn messages(&self, tenant: &str) -> Vec<(String, String, bool, bool)> {
        self.all()
            .into_iter()
            .filter(|e| e.tenant.as_str() == tenant)
            .filter_map(|e| match e.payload {
                Payload::Event(Event::SocialMessageCreated(m)) => {
                    Some((m.message_id, m.content, m.from_self, m.author.bot))
                }
                _ => None,
            })
            .collect()
    }

    /// Waits until `tenant` has `n` created messages; returns them.
    pub(crate) async fn wait_messages(
        &self,
        tenant: &str,
        n: usize,
    ) -> Vec<(String, String, bool, bool)> {
        eventually(LONG, || async { self.messages(tenant).len() >= n }).await;
        self.messages(tenant)
    }

    pub(crate) async fn close(self) {
        self.bus.close().await;
        let _ = self.task.await;
    }
}

/// Gateway arguments with quick saves and closes.
pub(crate) fn args(
    tenant: TenantConfig,
    bus: &Bus,
    vault: &VaultHandle,
    tokens: &InteractionTokens,
    sessions: &SessionStore,
) -> GatewayArgs {
    // Minted as the tenant supervisor does: the gateway's scope for its own tenant.
    let scope = vault.gateway_scope(&tenant.id());
    let mut a = GatewayArgs::new(
        Arc::new(tenant),
        NS,
        bus.clone(),
        scope,
        tokens.clone(),
        sessions.clone(),
    );
    a.save_interval = Duration::from_millis(200);
    a
}

/// Starts a gateway and waits until every shard is ready.
pub(crate) async fn start_ready(args: GatewayArgs) -> GatewayHandle {
    let (gw, _join) = GatewayHandle::start(args, None)
        .await
        .expect("gateway starts");
    wait_ready(&gw).await;
    gw
}

/// Waits until every shard of `gw` is ready.
pub(crate) async fn wait_ready(gw: &GatewayHandle) {
    eventually(LONG, || async {
        let h = gw.health();
        h.state == TenantState::Running
            && !h.shards.is_empty()
            && h.shards.iter().all(|s| s.status == ShardStatus::Ready)
    })
    .await;
}

/// Waits until `gw` reports a failed tenant; returns the reason.
pub(crate) async fn wait_failed(gw: &GatewayHandle) -> String {
    crate::common::eventually_some(LONG, || async {
        match gw.state() {
            TenantState::Failed(r) => Some(r),
            _ => None,
        }
    })
    .await
}
