//! The library entry point: [`Runtime`] runs the whole tree — vault, bus, per-tenant
//! access layer, worker pool, admin API — inside any Rust service, and the daemon is a
//! thin shell around it.
//!
//! ```no_run
//! use switchboard::config::Registry;
//! use switchboard::handler::{Ctx, Handler, HandlerResult};
//! use switchboard::model::SocialMessageCreated;
//! use switchboard::runtime::Runtime;
//!
//! struct Greeter;
//!
//! impl Handler for Greeter {
//!     fn name(&self) -> &'static str {
//!         "greeter"
//!     }
//!     async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
//!         if !msg.author.bot && msg.content == "!hello" {
//!             ctx.reply(msg, format!("hello, {}", msg.author.name)).await?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::builder()
//!     .config(Registry::load("config/providers.yml")?)
//!     .handler(Greeter)
//!     .build()
//!     .await?;
//! runtime.wait_for_shutdown(tokio::signal::ctrl_c()).await;
//! # Ok(()) }
//! ```

mod admin_impl;
mod credentials;
mod handlers;
mod reload;
mod root;
mod tenants;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::actors::{RestartPolicy, WorkerPoolConfig};
use crate::admin::AdminServer;
use crate::bus::{Bus, BusConfig, RedisBusConfig, SchedulerConfig};
use crate::cluster::{Cluster, ClusterConfig};
use crate::config::{BackendKind, Registry};
use crate::handler::{Handler, HandlerSet};
use crate::model::TenantId;
use crate::providers::discord::interactions::SharedTokenStore;
use crate::vault::TokenSealer;
use crate::vault::{RedisBackend as VaultRedis, RedisOptions, VaultConfig, VaultHandle, VaultKey};

use handlers::AppHandler;
use root::{PoolSlot, RootMsg, RootSupervisor};
use tenants::TenantEntry;

/// What a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Everything: access layer and workers.
    #[default]
    All,
    /// Gateway and REST actors only (needs the Redis bus for workers elsewhere).
    Access,
    /// Workers only: no provider credential on this node (needs the Redis bus).
    Worker,
}

impl Role {
    /// `all`, `access` or `worker`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Access => "access",
            Self::Worker => "worker",
        }
    }

    fn runs_access(self) -> bool {
        matches!(self, Self::All | Self::Access)
    }

    fn runs_workers(self) -> bool {
        matches!(self, Self::All | Self::Worker)
    }
}

/// Why the runtime could not start or change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// No registry was given.
    #[error("no configuration: call RuntimeBuilder::config")]
    NoConfig,
    /// The configuration cannot run (every problem listed).
    #[error("configuration cannot run:\n  - {}", .0.join("\n  - "))]
    Config(Vec<String>),
    /// The vault failed to start.
    #[error("vault: {0}")]
    Vault(String),
    /// The bus failed to start.
    #[error("bus: {0}")]
    Bus(String),
    /// An actor failed to start.
    #[error("actor: {0}")]
    Spawn(String),
    /// The admin API could not bind.
    #[error("admin API on {addr}: {error}")]
    Admin {
        /// The address.
        addr: SocketAddr,
        /// The bind error.
        error: String,
    },
}

/// Where the admin API listens.
#[derive(Debug, Clone, Copy, Default)]
enum AdminListen {
    /// `runtime.admin.listen`.
    #[default]
    FromConfig,
    /// This address.
    At(SocketAddr),
    /// No admin API.
    Off,
}

/// Builds a [`Runtime`].
#[derive(Default)]
pub struct RuntimeBuilder {
    registry: Option<Registry>,
    handlers: Vec<AppHandler>,
    role: Role,
    node_id: Option<String>,
    admin_listen: AdminListen,
    handler_timeout: Option<Duration>,
    republish_every: Option<Duration>,
}

impl std::fmt::Debug for RuntimeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeBuilder")
            .field("role", &self.role)
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl RuntimeBuilder {
    /// The tenant registry to run.
    #[must_use]
    pub fn config(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Adds a handler that serves every tenant (after the tenant's configured built-ins).
    #[must_use]
    pub fn handler<H: Handler>(mut self, handler: H) -> Self {
        let handler = Arc::new(handler);
        self.handlers
            .push(Arc::new(move |set: &mut HandlerSet, t: &TenantId| {
                set.add(t, handler.clone());
            }));
        self
    }

    /// What this node runs (default: everything).
    #[must_use]
    pub fn role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    /// This node's id (default: generated).
    #[must_use]
    pub fn node_id(mut self, id: impl Into<String>) -> Self {
        self.node_id = Some(id.into());
        self
    }

    /// Where the admin API listens instead of `runtime.admin.listen`; `None` runs
    /// without it.
    #[must_use]
    pub fn admin_listen(mut self, addr: Option<SocketAddr>) -> Self {
        self.admin_listen = match addr {
            Some(a) => AdminListen::At(a),
            None => AdminListen::Off,
        };
        self
    }

    /// Longest a handler may run for one envelope (default 30 s).
    #[must_use]
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = Some(timeout);
        self
    }

    /// How often credentials are published to the vault again (default 60 s).
    #[must_use]
    pub fn republish_every(mut self, every: Duration) -> Self {
        self.republish_every = Some(every);
        self
    }

    /// Starts everything.
    ///
    /// # Errors
    /// A [`RuntimeError`] naming what could not start.
    pub async fn build(self) -> Result<Runtime, RuntimeError> {
        let registry = self.registry.ok_or(RuntimeError::NoConfig)?;
        // Install the metrics recorder before anything records.
        let _ = crate::admin::prometheus();
        let role = self.role;
        let rt = &registry.runtime;
        if role != Role::All && rt.bus.backend != BackendKind::Redis {
            return Err(RuntimeError::Config(vec![format!(
                "role {} needs runtime.bus.backend: redis (nodes share work through Redis)",
                role.as_str()
            )]));
        }
        let node_id = self
            .node_id
            .unwrap_or_else(|| format!("node-{}", ulid::Ulid::new().to_string().to_lowercase()));
        // Fail fast on handler configuration (the pool builds its set when it starts).
        handlers::handler_set(&registry, &self.handlers)?;

        let vault = start_vault(&registry).await?;
        let bus = start_bus(&registry, &node_id, role).await?;
        let cluster = join_cluster(&registry, &node_id, role).await;
        let tokens = shared_tokens(&registry, role).await;
        for t in &registry.tenants {
            bus.register_tenant(&t.id())
                .await
                .map_err(|e| RuntimeError::Bus(e.to_string()))?;
        }
        if role.runs_access() {
            credentials::publish_all(&vault, &registry).await;
        }

        let pool = role
            .runs_workers()
            .then(|| PoolSlot::new(pool_config(&registry, self.handler_timeout, &vault)));
        let root_policy = restart_policy(&registry);

        let admin_token = rt
            .admin
            .token_env
            .as_deref()
            .and_then(|v| std::env::var(v).ok())
            .filter(|t| !t.is_empty())
            .map(SecretString::from);
        let admin_addr = match self.admin_listen {
            AdminListen::FromConfig => Some(rt.admin.listen),
            AdminListen::At(a) => Some(a),
            AdminListen::Off => None,
        };

        let inner = Arc::new(RuntimeInner {
            started: Instant::now(),
            node_id,
            role,
            registry: Mutex::new(registry),
            bus,
            vault,
            pool,
            root: std::sync::OnceLock::new(),
            tenants: Mutex::new(BTreeMap::new()),
            app_handlers: self.handlers,
            admin: Mutex::new(None),
            access: tenants::AccessShared::new(cluster, tokens),
            cancel: CancellationToken::new(),
            tasks: TaskTracker::new(),
        });
        let runtime = Runtime { inner };
        let root = RootSupervisor::spawn(&runtime.inner, root_policy)
            .await
            .map_err(|e| RuntimeError::Spawn(format!("root supervisor: {e}")))?;
        let root_cell = root.get_cell();
        let _ = runtime.inner.root.set(root);
        if let Some(pool) = &runtime.inner.pool {
            pool.start(&runtime.inner, root_cell)
                .await
                .map_err(|e| RuntimeError::Spawn(format!("worker pool: {e}")))?;
        }
        if role.runs_access() {
            let registry = runtime.inner.registry.lock().await.clone();
            for t in &registry.tenants {
                let entry =
                    TenantEntry::start(&runtime.inner, Arc::new(t.clone()), &registry).await;
                runtime.inner.tenants.lock().await.insert(t.id(), entry);
            }
            runtime.spawn_republisher(self.republish_every.unwrap_or(Duration::from_secs(60)));
        }
        if let Some(addr) = admin_addr {
            let backend: Arc<dyn crate::admin::AdminBackend> =
                Arc::new(admin_impl::AdminFacade(runtime.inner.clone()));
            let server = match AdminServer::start(addr, backend, admin_token).await {
                Ok(server) => server,
                Err(e) => {
                    // Leave nothing running behind the error.
                    runtime.shutdown(Duration::from_secs(5)).await;
                    return Err(RuntimeError::Admin {
                        addr,
                        error: e.to_string(),
                    });
                }
            };
            runtime.advertise_admin(server.addr());
            *runtime.inner.admin.lock().await = Some(server);
        }
        tracing::info!(node = %runtime.inner.node_id, role = role.as_str(), "switchboard runtime started");
        Ok(runtime)
    }
}

/// `runtime.restart` as a restart policy (the root's and each tenant supervisor's).
fn restart_policy(registry: &Registry) -> RestartPolicy {
    RestartPolicy {
        max_restarts: registry.runtime.restart.max_restarts,
        period: Duration::from_secs(registry.runtime.restart.period_secs),
        ..RestartPolicy::default()
    }
}

fn pool_config(
    registry: &Registry,
    handler_timeout: Option<Duration>,
    vault: &VaultHandle,
) -> WorkerPoolConfig {
    let rt = &registry.runtime;
    WorkerPoolConfig {
        workers: rt.workers,
        handler_timeout: handler_timeout.unwrap_or(Duration::from_secs(30)),
        namespace: registry.namespace.clone(),
        // Workers restart often and cheaply; the pool winds down only when they
        // keep failing, and the root then restarts the pool.
        restart: RestartPolicy {
            max_restarts: rt.restart.max_restarts.max(1) * 4,
            ..restart_policy(registry)
        },
        secrets: Some(Arc::new(vault.clone())),
        ..WorkerPoolConfig::default()
    }
}

/// The vault key named by `runtime.vault.key_env`.
fn vault_key(registry: &Registry) -> Result<VaultKey, RuntimeError> {
    let key_env = registry
        .runtime
        .vault
        .key_env
        .as_deref()
        .unwrap_or(crate::vault::VAULT_KEY_ENV);
    let text = std::env::var(key_env).map_err(|_| {
        RuntimeError::Vault(format!(
            "environment variable {key_env} (the vault key) is not set"
        ))
    })?;
    VaultKey::parse(&text).map_err(|e| RuntimeError::Vault(e.to_string()))
}

/// Interaction tokens shared by the access nodes (sealed in Redis), when the vault
/// and the bus are on Redis; else each node keeps its own.
async fn shared_tokens(registry: &Registry, role: Role) -> Option<SharedTokenStore> {
    let rt = &registry.runtime;
    let (BackendKind::Redis, BackendKind::Redis, Some(url)) =
        (rt.vault.backend, rt.bus.backend, &rt.bus.url)
    else {
        return None;
    };
    if !role.runs_access() {
        return None;
    }
    let sealer = TokenSealer::new(&vault_key(registry).ok()?);
    match SharedTokenStore::redis(url, &rt.redis_prefix, sealer).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "interaction tokens stay on this node");
            None
        }
    }
}

async fn start_vault(registry: &Registry) -> Result<VaultHandle, RuntimeError> {
    let rt = &registry.runtime;
    let config = VaultConfig {
        default_ttl: Duration::from_secs(rt.lease_ttl_secs),
        ..VaultConfig::default()
    };
    match rt.vault.backend {
        BackendKind::Memory => VaultHandle::memory(config)
            .await
            .map_err(|e| RuntimeError::Vault(e.to_string())),
        BackendKind::Redis => {
            let key = vault_key(registry)?;
            let url = rt.vault.url.clone().unwrap_or_default();
            let options = RedisOptions::new(url, format!("{}:vault", rt.redis_prefix));
            let backend = VaultRedis::connect(&options, &key)
                .await
                .map_err(|e| RuntimeError::Vault(e.to_string()))?;
            VaultHandle::spawn(config, &key, backend)
                .await
                .map_err(|e| RuntimeError::Vault(e.to_string()))
        }
    }
}

/// Joins the cluster when nodes share a Redis bus; a node that cannot join runs on
/// its own (placement then takes every free lease at once).
async fn join_cluster(registry: &Registry, node_id: &str, role: Role) -> Option<Cluster> {
    let rt = &registry.runtime;
    let (BackendKind::Redis, Some(url)) = (rt.bus.backend, &rt.bus.url) else {
        return None;
    };
    match Cluster::join(
        url,
        &rt.redis_prefix,
        node_id,
        role.as_str(),
        ClusterConfig::default(),
    )
    .await
    {
        Ok(c) => {
            c.set_tenants(registry.tenants.len());
            Some(c)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot join the cluster; placing tenants on this node alone");
            None
        }
    }
}

async fn start_bus(registry: &Registry, node_id: &str, role: Role) -> Result<Bus, RuntimeError> {
    let rt = &registry.runtime;
    let config = BusConfig {
        node_id: node_id.to_owned(),
        max_deliveries: rt.max_deliveries,
        scheduler: SchedulerConfig {
            max_in_flight_per_tenant: rt.max_in_flight_per_tenant,
            ..SchedulerConfig::default()
        },
        consume_inbox: role.runs_workers(),
        ..BusConfig::default()
    };
    match rt.bus.backend {
        BackendKind::Memory => Ok(Bus::memory(config)),
        BackendKind::Redis => {
            let url = rt.bus.url.clone().unwrap_or_default();
            let mut redis = RedisBusConfig::new(url, rt.redis_prefix.clone());
            if let Some(ms) = rt.bus.claim_idle_ms {
                redis.claim_idle = Duration::from_millis(ms.max(100));
            }
            Bus::redis(config, redis)
                .await
                .map_err(|e| RuntimeError::Bus(e.to_string()))
        }
    }
}

pub(crate) struct RuntimeInner {
    pub(crate) started: Instant,
    pub(crate) node_id: String,
    pub(crate) role: Role,
    pub(crate) registry: Mutex<Registry>,
    pub(crate) bus: Bus,
    pub(crate) vault: VaultHandle,
    /// The worker pool's slot in the tree (worker and all-in-one nodes).
    pub(crate) pool: Option<PoolSlot>,
    /// The root supervisor, set once at start.
    pub(crate) root: std::sync::OnceLock<ractor::ActorRef<RootMsg>>,
    pub(crate) tenants: Mutex<BTreeMap<TenantId, TenantEntry>>,
    pub(crate) app_handlers: Vec<AppHandler>,
    pub(crate) admin: Mutex<Option<AdminServer>>,
    pub(crate) access: tenants::AccessShared,
    pub(crate) cancel: CancellationToken,
    pub(crate) tasks: TaskTracker,
}

/// A running switchboard: cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("node", &self.inner.node_id)
            .field("role", &self.inner.role)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Starts building a runtime.
    #[must_use]
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Tells the cluster (if any) where this node's admin API listens.
    fn advertise_admin(&self, addr: SocketAddr) {
        if let Some(c) = self.inner.access.cluster() {
            c.set_admin(format!("http://{addr}"));
        }
    }

    /// The bus (to publish or inspect).
    #[must_use]
    pub fn bus(&self) -> &Bus {
        &self.inner.bus
    }

    /// The vault.
    #[must_use]
    pub fn vault(&self) -> &VaultHandle {
        &self.inner.vault
    }

    /// The admin API's address, when it runs.
    pub async fn admin_addr(&self) -> Option<SocketAddr> {
        self.inner
            .admin
            .lock()
            .await
            .as_ref()
            .map(AdminServer::addr)
    }

    /// The status tree, as `/v1/status` shows it.
    pub async fn status(&self) -> crate::admin::RuntimeStatus {
        self.inner.status().await
    }

    /// Re-reads the registry file and applies the difference.
    ///
    /// # Errors
    /// [`crate::admin::AdminError::InvalidConfig`] when the new registry is invalid
    /// (the old one keeps running).
    pub async fn reload(&self) -> Result<crate::admin::ReloadReport, crate::admin::AdminError> {
        self.inner.reload_from_file().await
    }

    /// Applies a new registry (as a reload does).
    ///
    /// # Errors
    /// As [`Runtime::reload`].
    pub async fn apply(
        &self,
        registry: Registry,
    ) -> Result<crate::admin::ReloadReport, crate::admin::AdminError> {
        self.inner.apply(registry).await
    }

    fn spawn_republisher(&self, every: Duration) {
        let inner = self.inner.clone();
        self.inner.tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = inner.cancel.cancelled() => return,
                }
                let registry = inner.registry.lock().await.clone();
                credentials::publish_all(&inner.vault, &registry).await;
            }
        });
    }

    /// Runs until `signal` completes, then shuts down gracefully.
    pub async fn wait_for_shutdown<F: Future>(&self, signal: F) {
        signal.await;
        self.shutdown(Duration::from_secs(30)).await;
    }

    /// Graceful shutdown: stop accepting (gateways close with a resumable code and save
    /// their sessions), let handlers finish within `timeout`, settle in-flight
    /// deliveries, release leases, stop the admin API.
    pub async fn shutdown(&self, timeout: Duration) {
        let inner = &self.inner;
        inner.cancel.cancel();
        let tenants: Vec<TenantEntry> = std::mem::take(&mut *inner.tenants.lock().await)
            .into_values()
            .collect();
        // 1. No new events: gateways close resumably and save their sessions.
        for t in &tenants {
            t.stop_gateway().await;
        }
        // 2. Workers finish what is queued here; REST actors still serve their effects.
        if let Some(pool) = inner.pool.as_ref().and_then(PoolSlot::handle) {
            // Let the workers drain what is queued here, within the timeout.
            let drained = tokio::time::timeout(timeout, async {
                while inner.bus.stats().scheduler.waiting > 0
                    || inner.bus.stats().scheduler.in_flight > 0
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            if drained.is_err() {
                tracing::warn!(
                    "shutdown timeout: some deliveries stay queued (Redis: they are redelivered)"
                );
            }
            pool.shutdown().await;
        }
        // 3. REST actors answer what they hold; every lease is released.
        for t in tenants {
            t.stop().await;
        }
        if let Some(cluster) = inner.access.cluster() {
            cluster.leave().await;
        }
        inner.tasks.close();
        inner.tasks.wait().await;
        inner.bus.close().await;
        if let Some(admin) = inner.admin.lock().await.take() {
            admin.shutdown().await;
        }
        inner.vault.stop();
        if let Some(root) = inner.root.get() {
            root.stop(Some("shutdown".to_owned()));
        }
        let stats = inner.bus.stats();
        tracing::info!(
            node = %inner.node_id,
            published = stats.published,
            acked = stats.acked,
            dead_lettered = stats.dead_lettered,
            waiting = stats.scheduler.waiting,
            "switchboard runtime stopped"
        );
    }
}
