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

mod admin_backfill;
mod admin_impl;
mod builder;
mod commands;
mod credentials;
mod handlers;
mod reload;
mod root;
mod schedules;
mod tenants;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::admin::AdminServer;
use crate::bus::Bus;
use crate::config::Registry;
use crate::vault::VaultHandle;

pub use builder::RuntimeBuilder;
use builder::restart_policy;
pub use commands::check_commands;
pub(crate) use root::RootView;
use root::{RootHandle, ShutdownPlan};

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
    /// A key the vault needs is not in the environment (a configuration problem:
    /// the daemon exits 78).
    #[error("environment variable {var} ({what}) is not set{hint}")]
    MissingKey {
        /// The variable.
        var: String,
        /// Which key (`the vault key`, `the worker key`).
        what: &'static str,
        /// How to get one, with its leading separator, or empty.
        hint: &'static str,
    },
    /// A key in the environment cannot be read.
    #[error("environment variable {var} ({what}) is not a usable key")]
    BadKey {
        /// The variable.
        var: String,
        /// Which key.
        what: &'static str,
        /// Why not.
        #[source]
        source: crate::vault::VaultError,
    },
    /// The vault failed to start.
    #[error("the vault could not start")]
    Vault(#[source] crate::vault::VaultError),
    /// A store the runtime needs (the bus, the handler state, the shared tenant
    /// registry) could not be reached or read.
    #[error("{what} could not start")]
    Bus {
        /// Which (`the bus`, `handler state`, ...).
        what: &'static str,
        /// Why not.
        #[source]
        source: BoxError,
    },
    /// The store (`runtime.store`) could not be opened.
    #[error("the store could not be opened")]
    Store(#[source] Box<crate::store::StoreError>),
    /// An actor failed to start.
    #[error("{what} could not start")]
    Spawn {
        /// Which (`the root supervisor`, `the worker pool`).
        what: &'static str,
        /// Why not.
        #[source]
        source: BoxError,
    },
    /// The admin API could not start: the address could not be bound, or it is not
    /// a loopback address and no admin token is set.
    #[error("the admin API cannot listen on {addr}")]
    Admin {
        /// The address.
        addr: SocketAddr,
        /// Why not.
        #[source]
        source: BoxError,
    },
}

/// An error from a dependency, kept as a [`RuntimeError`]'s source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) struct RuntimeInner {
    pub(crate) started: Instant,
    pub(crate) node_id: String,
    pub(crate) role: Role,
    pub(crate) bus: Bus,
    pub(crate) vault: VaultHandle,
    /// The root supervisor: it owns the tenants, the pool and the registry.
    pub(crate) root: RootHandle,
    /// The root's latest published view (health readers clone it).
    view: tokio::sync::watch::Receiver<Arc<RootView>>,
    /// The cluster this node joined (Redis mode).
    pub(crate) cluster: Option<crate::cluster::Cluster>,
    /// The cluster's shared tenant registry (`runtime.tenants_store: redis`).
    pub(crate) tenant_store: Option<crate::cluster::TenantStore>,
    /// This node's job scheduler (worker and all-in-one nodes).
    pub(crate) jobs: Option<crate::jobs::JobScheduler>,
    /// The tenant-scoped store (`runtime.store`, nodes with workers).
    pub(crate) store: Option<crate::store::Store>,
    /// How the store embeds text (`runtime.embeddings`), for [`Runtime::store_for`].
    pub(crate) semantic: Option<crate::store::Semantic>,
    /// Handlers' state, as the workers see it (nodes with workers): the admin API
    /// reads backfill run leases in it.
    pub(crate) state: Option<crate::state::StateStore>,
    pub(crate) admin: Mutex<Option<AdminServer>>,
    pub(crate) cancel: CancellationToken,
    pub(crate) tasks: TaskTracker,
}

impl RuntimeInner {
    /// The root's latest published view, without a round trip.
    pub(crate) fn view(&self) -> Arc<RootView> {
        self.view.borrow().clone()
    }
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
        if let Some(c) = &self.inner.cluster {
            c.set_admin(format!("http://{addr}"));
        }
    }

    /// The bus (to publish or inspect): an unstable building block, public with the
    /// `internals` feature only. [`Runtime::status`] reports its counters.
    #[cfg(feature = "internals")]
    #[must_use]
    pub fn bus(&self) -> &Bus {
        &self.inner.bus
    }

    /// The bus, for the crate (the demo reads its counters).
    #[cfg(all(feature = "sim", not(feature = "internals")))]
    pub(crate) fn bus(&self) -> &Bus {
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

    /// The status tree, as `/v1/status` shows it. Asked of the root supervisor, so
    /// it reflects every change made before the call (a reload, a restart).
    pub async fn status(&self) -> crate::admin::RuntimeStatus {
        let view = match self.inner.root.view().await {
            Ok(view) => view,
            // Stopped: its last published view.
            Err(_) => self.inner.view(),
        };
        self.inner.status_of(&view).await
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
        self.inner.root.apply(registry).await
    }

    async fn start_admin(
        &self,
        addr: SocketAddr,
        options: crate::admin::AdminOptions,
    ) -> Result<(), RuntimeError> {
        let backend: Arc<dyn crate::admin::AdminBackend> =
            Arc::new(admin_impl::AdminFacade(self.inner.clone()));
        match AdminServer::start(addr, backend, options).await {
            Ok(server) => {
                self.advertise_admin(server.addr());
                *self.inner.admin.lock().await = Some(server);
                Ok(())
            }
            Err(e) => {
                // Leave nothing running behind the error.
                self.shutdown(Duration::from_secs(5)).await;
                Err(RuntimeError::Admin {
                    addr,
                    source: Box::new(e),
                })
            }
        }
    }

    /// With a shared tenant registry: re-read it (and the registry file) whenever a
    /// node announces a change, so tenants added on any node start here too.
    fn follow_tenant_store(&self) {
        let (Some(cluster), Some(_)) = (&self.inner.cluster, &self.inner.tenant_store) else {
            return;
        };
        let weak = Arc::downgrade(&self.inner);
        cluster.on_tenants_changed(Arc::new(move || {
            let Some(inner) = weak.upgrade() else {
                return;
            };
            if inner.cancel.is_cancelled() {
                return;
            }
            let rt = Arc::clone(&inner);
            inner.tasks.spawn(async move {
                match rt.reload_from_file().await {
                    Ok(report) => {
                        tracing::info!(?report, "applied a change of the shared tenant registry");
                    }
                    Err(e) => {
                        tracing::warn!(error = %crate::Report(&e), "a change of the shared tenant registry was not applied");
                    }
                }
            });
        }));
    }

    /// Publishes the tenants' secrets again every `every` (by default a
    /// twenty-fourth of their TTL: `builder::republish_period`).
    fn spawn_republisher(&self, every: Option<Duration>) {
        let every = every.unwrap_or_else(|| {
            builder::republish_period(self.inner.view().registry.runtime.vault.secret_ttl_secs)
        });
        let inner = self.inner.clone();
        self.inner.tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = inner.cancel.cancelled() => return,
                }
                let registry = inner.view().registry.clone();
                credentials::publish_all(&inner.vault, &registry).await;
            }
        });
    }

    /// Runs until `signal` completes, then shuts down gracefully within
    /// [`Runtime::shutdown_grace`].
    pub async fn wait_for_shutdown<F: Future>(&self, signal: F) {
        signal.await;
        self.shutdown(self.shutdown_grace()).await;
    }

    /// How long a graceful shutdown lets handlers finish: the registry's
    /// `runtime.shutdown_grace_secs` (default 30 s).
    #[must_use]
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.inner.view().registry.runtime.shutdown_grace_secs)
    }

    /// The tenant-scoped store (`runtime.store`), on nodes that run workers.
    #[must_use]
    pub fn store(&self) -> Option<&crate::store::Store> {
        self.inner.store.as_ref()
    }

    /// `tenant`'s store as its handlers see it (`Ctx::store`): under its registered
    /// namespace, and able to embed text (`TenantStore::similar`) when
    /// `runtime.embeddings` is set. `None` without a store.
    #[must_use]
    pub fn store_for(&self, tenant: &crate::model::TenantId) -> Option<crate::store::TenantStore> {
        let store = self.inner.store.as_ref()?;
        Some(
            store
                .for_tenant(tenant)
                .with_semantic(self.inner.semantic.clone()),
        )
    }

    /// Graceful shutdown: stop accepting (gateways close with a resumable code and save
    /// their sessions), let handlers finish within `timeout`, settle in-flight
    /// deliveries, release leases, stop the admin API.
    pub async fn shutdown(&self, timeout: Duration) {
        let inner = &self.inner;
        inner.cancel.cancel();
        // The root stops restarting and hands its children over; it keeps handling
        // supervision events while they stop here.
        let plan = inner.root.shutdown().await.unwrap_or_else(|e| {
            // Stopped already (a second shutdown: its last view is empty), or died
            // (a bug): stop what it last published.
            let view = inner.view();
            if !view.tenants.is_empty() {
                tracing::error!(error = %crate::Report(&e), "shutting down without the root supervisor");
            }
            ShutdownPlan {
                tenants: view.tenants.iter().map(|(_, t)| t.clone()).collect(),
                pools: view.pools.iter().filter_map(|p| p.handle.clone()).collect(),
            }
        });
        // 1. No new events: gateways close resumably and save their sessions.
        for t in &plan.tenants {
            t.stop_gateway().await;
        }
        // 2. Workers finish what is queued here; REST actors still serve their effects.
        if !plan.pools.is_empty() {
            // Let the workers drain what is queued here (every group), within the
            // timeout.
            let busy = || {
                inner
                    .bus
                    .stats()
                    .groups
                    .iter()
                    .any(|g| g.scheduler.waiting > 0 || g.scheduler.in_flight > 0)
            };
            let drained = tokio::time::timeout(timeout, async {
                while busy() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            if drained.is_err() {
                tracing::warn!(
                    "shutdown timeout: some deliveries stay queued (Redis: they are redelivered)"
                );
            }
            for pool in &plan.pools {
                pool.shutdown().await;
            }
        }
        // 3. REST actors answer what they hold; every lease is released.
        for t in &plan.tenants {
            t.stop().await;
        }
        if let Some(cluster) = &inner.cluster {
            cluster.leave().await;
        }
        inner.tasks.close();
        inner.tasks.wait().await;
        inner.bus.close().await;
        if let Some(admin) = inner.admin.lock().await.take() {
            admin.shutdown().await;
        }
        if let Some(store) = &inner.store {
            // After the workers: no handler uses it any more.
            store.close().await;
        }
        inner.vault.stop();
        inner.root.stop();
        let stats = inner.bus.stats();
        if stats.backend == "memory" && stats.scheduler.waiting > 0 {
            // The in-process bus keeps nothing: say what is lost rather than stop quietly.
            tracing::warn!(
                lost = stats.scheduler.waiting,
                "{} envelopes still queued on the in-process bus are lost (the Redis bus keeps them for the next start)",
                stats.scheduler.waiting
            );
        }
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
