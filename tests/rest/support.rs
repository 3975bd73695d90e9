//! Shared setup: an emulator with small, fast rate limits, a vault holding the tokens,
//! the in-process bus, and REST actors pointed at the emulator.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use switchboard::actors::rest::{
    BucketMemory, BudgetConfig, InvalidRequestBudget, RestArgs, RestConfig, RestHandle,
};
use switchboard::bus::{Bus, BusConfig};
use switchboard::config::{Credentials, Endpoints, TenantConfig};
use switchboard::model::{
    Command, DEFAULT_NAMESPACE, Envelope, Payload, PostMessage, ProviderName, RestResponse,
    TenantId, TenantName,
};
use switchboard::providers::discord::interactions::InteractionTokens;
use switchboard::sim::{self, GuildConfig, RouteLimit, Sim, SimConfig, SimHandle, SimUser};
use switchboard::vault::{SecretKind, VaultConfig, VaultHandle};
use tokio::task::JoinHandle;

pub(crate) const DUCK_TOKEN: &str = "duck-token.secret";
pub(crate) const GOOSE_TOKEN: &str = "goose-token.secret";
pub(crate) const DUCK_APP: u64 = 500_000_000_000_000_001;
pub(crate) const DUCK_BOT: u64 = 600_000_000_000_000_001;
pub(crate) const GOOSE_APP: u64 = 500_000_000_000_000_002;
pub(crate) const GOOSE_BOT: u64 = 600_000_000_000_000_002;
/// duck's guild, with [`CHANNELS`].
pub(crate) const GUILD: u64 = 2 << 22;
/// goose's guild; duck is not a member.
pub(crate) const GOOSE_GUILD: u64 = 3 << 22;
pub(crate) const GOOSE_CHAN: u64 = 910_000_000_000_000_001;
/// The first of duck's ten channels.
pub(crate) const CHAN0: u64 = 900_000_000_000_000_000;
pub(crate) const CHANNELS: u64 = 10;
pub(crate) const ROLE: u64 = 700_000_000_000_000_001;

/// Generous bound for anything on two loaded cores.
pub(crate) const LONG: Duration = Duration::from_secs(60);

pub(crate) fn channel(i: u64) -> u64 {
    CHAN0 + i
}

/// duck (ten channels in `GUILD`) and goose (`GOOSE_GUILD`). Routes allow 1,000 per
/// second unless a test narrows them; global 10,000 per second.
pub(crate) fn sim_config(scope_on_2xx: bool) -> SimConfig {
    let chans: Vec<(u64, String)> = (0..CHANNELS)
        .map(|i| (channel(i), format!("c{i}")))
        .collect();
    let chan_refs: Vec<(u64, &str)> = chans.iter().map(|(id, n)| (*id, n.as_str())).collect();
    let mut c = SimConfig::default()
        .tenant(
            sim::TenantConfig::new("duck", DUCK_TOKEN, DUCK_APP, DUCK_BOT)
                .guild(GuildConfig::new(GUILD, "pond", &chan_refs)),
        )
        .tenant(
            sim::TenantConfig::new("goose", GOOSE_TOKEN, GOOSE_APP, GOOSE_BOT).guild(
                GuildConfig::new(GOOSE_GUILD, "lake", &[(GOOSE_CHAN, "general")]),
            ),
        );
    c.rate_limits.route = RouteLimit {
        limit: 1000,
        window: Duration::from_secs(1),
        shared: false,
    };
    c.rate_limits.global_limit = 10_000;
    c.rate_limits.scope_on_2xx = scope_on_2xx;
    c
}

/// A route limit override.
pub(crate) fn limit(c: &mut SimConfig, route: &str, limit: u32, window: Duration) {
    c.rate_limits.overrides.insert(
        route.to_owned(),
        RouteLimit {
            limit,
            window,
            shared: false,
        },
    );
}

pub(crate) fn user(id: u64, name: &str) -> SimUser {
    SimUser {
        id,
        username: name.to_owned(),
        bot: false,
    }
}

/// A tenant of the registry pointed at `api`.
pub(crate) fn tenant(name: &str, app: u64, api: &str) -> TenantConfig {
    TenantConfig {
        provider: ProviderName::new("discord").expect("valid"),
        tenant: TenantName::new(name).expect("valid"),
        credentials: Credentials {
            bot_token: None,
            app_id: Some(app.to_string()),
            client_secret: None,
        },
        allow: switchboard::config::AllowConfig::default(),
        storage: switchboard::config::StorageConfig::default(),
        gateway: switchboard::config::GatewayConfig::default(),
        endpoints: Endpoints {
            api: Some(api.to_owned()),
            gateway: None,
        },
        publish_raw: false,
        handlers: None,
        commands: None,
        settings: serde_json::Value::Null,
        secrets: BTreeMap::new(),
        coordination: None,
        schedules: Vec::new(),
        source: PathBuf::new(),
    }
}

/// Everything a test runs against.
pub(crate) struct World {
    pub(crate) sim: Option<SimHandle>,
    pub(crate) bus: Bus,
    pub(crate) vault: VaultHandle,
    pub(crate) budget: Arc<InvalidRequestBudget>,
    pub(crate) rest: HashMap<String, (RestHandle, JoinHandle<()>)>,
    pub(crate) tokens: HashMap<String, InteractionTokens>,
    /// Deferral cells a tenant's REST actor is started with (default: disabled).
    pub(crate) deferrals: HashMap<String, switchboard::actors::access::Deferrals>,
}

impl World {
    /// Emulator (if any), vault with `tokens` (tenant → token), bus and budget.
    pub(crate) async fn new(
        sim: Option<SimConfig>,
        tokens: &[(&str, &str)],
        budget: BudgetConfig,
    ) -> Self {
        let sim = match sim {
            Some(c) => Some(Sim::start(c, "127.0.0.1:0").await.expect("emulator starts")),
            None => None,
        };
        let vault = VaultHandle::memory(VaultConfig::default())
            .await
            .expect("vault starts");
        for (t, token) in tokens {
            vault
                .publish_tenant(
                    "discord",
                    t,
                    [(
                        "bot_token",
                        SecretString::from(*token),
                        SecretKind::ProviderCredential,
                    )],
                )
                .await
                .expect("token published");
        }
        Self {
            sim,
            bus: Bus::memory(BusConfig::default()),
            vault,
            budget: Arc::new(InvalidRequestBudget::new(budget)),
            rest: HashMap::new(),
            tokens: HashMap::new(),
            deferrals: HashMap::new(),
        }
    }

    pub(crate) fn sim(&self) -> &SimHandle {
        self.sim.as_ref().expect("an emulator")
    }

    pub(crate) fn api(&self) -> String {
        format!("http://{}", self.sim().api_host())
    }

    /// Starts the REST actor of `name` against `api`.
    pub(crate) async fn start(&mut self, name: &str, app: u64, api: &str, config: RestConfig) {
        self.start_supervised(name, app, api, config, None).await;
    }

    /// Starts the REST actor of `name` linked to `supervisor`.
    pub(crate) async fn start_supervised(
        &mut self,
        name: &str,
        app: u64,
        api: &str,
        config: RestConfig,
        supervisor: Option<ractor::ActorCell>,
    ) {
        let tokens = InteractionTokens::new();
        let tenant = Arc::new(tenant(name, app, api));
        // Minted as the tenant supervisor does: the REST actor's scope for its tenant.
        let vault = self.vault.rest_scope(&tenant.id());
        let args = RestArgs {
            tenant,
            bus: self.bus.clone(),
            vault,
            tokens: tokens.clone(),
            budget: Arc::clone(&self.budget),
            config,
            commands: None,
            deferrals: self.deferrals.get(name).cloned().unwrap_or_default(),
            limits: BucketMemory::for_bus(&self.bus),
        };
        let started = RestHandle::start(args, supervisor)
            .await
            .expect("REST actor starts");
        self.rest.insert(name.to_owned(), started);
        self.tokens.insert(name.to_owned(), tokens);
    }

    pub(crate) fn rest(&self, name: &str) -> &RestHandle {
        &self.rest[name].0
    }

    /// Publishes `cmd` for `name` as a worker would, and waits for the answer.
    pub(crate) async fn request(&self, name: &str, cmd: Command) -> RestResponse {
        let env = self.envelope(name, cmd);
        self.send(env).await
    }

    pub(crate) fn envelope(&self, name: &str, cmd: Command) -> Envelope {
        let tenant = TenantId::parse("discord", name).expect("valid");
        Envelope::request(DEFAULT_NAMESPACE, &tenant, cmd, self.bus.node_id())
            .expect("valid envelope")
    }

    pub(crate) async fn send(&self, env: Envelope) -> RestResponse {
        let reply = self.bus.request(env, LONG).await.expect("an answer");
        match reply.payload {
            Payload::Response(r) => r,
            other => panic!("not a response: {other:?}"),
        }
    }

    /// Stops everything.
    pub(crate) async fn shutdown(mut self) {
        for (_, (rest, join)) in self.rest.drain() {
            rest.stop().await;
            let _ = join.await;
        }
        self.bus.close().await;
        self.vault.stop();
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
        }
    }
}

pub(crate) fn post(channel: u64, content: &str) -> Command {
    Command::PostMessage(PostMessage {
        channel_id: channel.to_string(),
        content: content.to_owned(),
        reply_to: None,
        embeds: Vec::new(),
        allowed_mentions: None,
        nonce: None,
    })
}

/// Polls `check` every 10 ms until it holds, at most [`LONG`].
pub(crate) async fn eventually(mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LONG;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "condition not met");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
