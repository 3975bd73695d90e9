//! [`RuntimeBuilder`]: what a runtime is built from, and the start-up order —
//! vault, bus, credentials, then the root supervisor, which starts the worker pool
//! and every tenant, then the admin API.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::handlers::{self, AppHandler, GroupHandlers};
use super::root::{RootArgs, RootSupervisor, RootView};
use super::schedules::{check_code_schedules, job_scheduler};
use super::{Role, Runtime, RuntimeError, RuntimeInner, commands, credentials, tenants};
use crate::actors::{RestartPolicy, WorkerPoolConfig};
use crate::admin::AdminOptions;
use crate::bus::{Bus, BusConfig, RedisBusConfig, SchedulerConfig};
use crate::cluster::TenantStore;
use crate::cluster::{Cluster, ClusterConfig};
use crate::config::{BackendKind, Registry};
use crate::config::{LoadOptions, TenantsStore};
use crate::handler::{Handler, HandlerSet};
use crate::jobs::{CodeSchedules, Schedule};
use crate::model::TenantId;
use crate::providers::discord::interactions::SharedTokenStore;
use crate::state::StateStore;
use crate::store::Store;
use crate::vault::TokenSealer;
use crate::vault::{
    RedisBackend as VaultRedis, RedisOptions, VaultConfig, VaultHandle, VaultKey, VaultKeys,
};

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
    group_handlers: GroupHandlers,
    run_groups: Option<Vec<String>>,
    role: Role,
    node_id: Option<String>,
    admin_listen: AdminListen,
    handler_timeout: Option<Duration>,
    republish_every: Option<Duration>,
    schedules: CodeSchedules,
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

    /// Adds a handler to worker group `group` (not the default one): it runs for
    /// every tenant, after the group's configured built-ins
    /// (`runtime.groups.<group>.handlers`), on that group's own workers, and sees
    /// every event independently of the tenants' own handlers — its retries, dead
    /// letters and backlog are the group's. A group only named here runs
    /// `runtime.groups.<group>.workers` workers if configured, else 2.
    ///
    /// ```no_run
    /// # async fn f(registry: switchboard::config::Registry) -> Result<(), Box<dyn std::error::Error>> {
    /// use switchboard::handler::Echo;
    /// use switchboard::runtime::Runtime;
    ///
    /// let runtime = Runtime::builder()
    ///     .config(registry)
    ///     .group_handler("indexer", Echo)
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn group_handler<H: Handler>(mut self, group: &str, handler: H) -> Self {
        let handler = Arc::new(handler);
        self.group_handlers
            .entry(group.to_owned())
            .or_default()
            .push(Arc::new(move |set: &mut HandlerSet, t: &TenantId| {
                set.add(t, handler.clone());
            }));
        self
    }

    /// Runs only these worker groups' pools on this node (`switchboard run --role
    /// worker --group NAME`); default: every group. Names are checked at build.
    #[must_use]
    pub fn run_groups<I, S>(mut self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.run_groups = Some(groups.into_iter().map(Into::into).collect());
        self
    }

    /// Adds a scheduled job to `tenant` (beside its registry `schedules:`): its slots
    /// reach the tenant's handlers as `Job` events (`Handler::on_job`), once per
    /// slot across the cluster. A tenant the registry does not have (now or after a
    /// reload) runs none of its code schedules; a name its registry entry also uses
    /// fails [`RuntimeBuilder::build`].
    ///
    /// ```no_run
    /// # async fn f(registry: switchboard::config::Registry) -> Result<(), Box<dyn std::error::Error>> {
    /// use switchboard::jobs::Schedule;
    /// use switchboard::model::TenantId;
    /// use switchboard::runtime::Runtime;
    ///
    /// let runtime = Runtime::builder()
    ///     .config(registry)
    ///     .schedule(TenantId::parse("discord", "duck")?, Schedule::new("hourly", "0 * * * *")?)
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn schedule(mut self, tenant: TenantId, schedule: Schedule) -> Self {
        self.schedules.entry(tenant).or_default().push(schedule);
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
        let (registry, tenant_store) = with_shared_tenants(registry, self.role).await?;
        // Install the metrics recorder before anything records.
        let _ = crate::admin::prometheus();
        let role = self.role;
        check_role(role, &registry)?;
        let node_id = self
            .node_id
            .unwrap_or_else(|| format!("node-{}", ulid::Ulid::new().to_string().to_lowercase()));
        // Fail fast on handler configuration (the pool builds its set when it starts)
        // and on the commands the handlers declare.
        let handler_set = handlers::handler_set(&registry, &self.handlers)?;
        let groups = check_groups(&registry, &self.group_handlers, self.run_groups.as_deref())?;
        let plans = commands::plans(&registry, &handler_set)?;
        check_code_schedules(&registry, &self.schedules)?;
        handlers::check_schedule_targets(&registry, &handler_set)?;
        let admin = admin_settings(self.admin_listen, &registry)?;

        let vault = start_vault(&registry, role).await?;
        let bus = start_bus(&registry, &node_id, role, &groups).await?;
        let cluster = join_cluster(&registry, &node_id, role, &bus).await;
        register_tenants(&bus, &registry).await?;
        if role.runs_access() {
            credentials::publish_all(&vault, &registry).await;
        }

        let access = if role.runs_access() {
            Some(access_shared(&registry, &bus, &vault, cluster.as_ref()).await)
        } else {
            None
        };
        let (pools, store) =
            pool_configs(&registry, role, &groups, self.handler_timeout, &vault).await?;
        let semantic = pools.first().and_then(WorkerPoolConfig::semantic);
        let state = pools.first().map(|p| p.state.clone());
        let running: Vec<String> = pools.iter().map(|p| p.group.clone()).collect();
        let policy = restart_policy(&registry);

        let registry = Arc::new(registry);
        let (view_tx, view) =
            tokio::sync::watch::channel(Arc::new(RootView::empty(registry.clone(), &running)));
        let tasks = TaskTracker::new();
        let cancel = CancellationToken::new();
        // Every node with workers runs every schedule; the bus's per-slot claim
        // fires each slot once across the cluster.
        let jobs =
            (!pools.is_empty()).then(|| job_scheduler(&bus, self.schedules, &cancel, &tasks));
        let root = RootSupervisor::spawn(RootArgs {
            registry,
            bus: bus.clone(),
            vault: vault.clone(),
            access,
            cluster: cluster.clone(),
            app_handlers: self.handlers,
            group_handlers: self.group_handlers,
            plans,
            pools,
            policy,
            tasks: tasks.clone(),
            view: view_tx,
        })
        .await
        .map_err(|e| spawn_error("the root supervisor", e))?;
        let runtime = Runtime {
            inner: Arc::new(RuntimeInner {
                started: Instant::now(),
                node_id,
                role,
                bus,
                vault,
                root,
                view,
                cluster,
                tenant_store,
                jobs,
                store,
                semantic,
                state,
                admin: Mutex::new(None),
                cancel,
                tasks,
            }),
        };
        // The pool and every tenant start in the root, the one place children start.
        let started = match runtime.inner.root.start().await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(spawn_error("the worker pool", e)),
            Err(gone) => Err(spawn_error("the root supervisor", gone)),
        };
        if let Err(e) = started {
            runtime.shutdown(Duration::from_secs(5)).await;
            return Err(e);
        }
        runtime.follow_tenant_store();
        if let Some(jobs) = &runtime.inner.jobs {
            jobs.follow(runtime.inner.view.clone());
        }
        if role.runs_access() {
            runtime.spawn_republisher(self.republish_every);
        }
        if let Some((addr, options)) = admin {
            runtime.start_admin(addr, options).await?;
        }
        tracing::info!(node = %runtime.inner.node_id, role = role.as_str(), "switchboard runtime started");
        Ok(runtime)
    }
}

/// The worker groups of a runtime: every group besides the default, and those
/// this node runs (the default first).
struct Groups {
    extra: Vec<String>,
    run: Vec<String>,
}

/// Checks the worker groups: code handlers' group names, each group's handler
/// table, and the groups asked to run here.
fn check_groups(
    registry: &Registry,
    code: &GroupHandlers,
    only: Option<&[String]>,
) -> Result<Groups, RuntimeError> {
    let mut problems = Vec::new();
    for name in code.keys() {
        if let Err(e) = crate::model::validate_segment(name) {
            problems.push(format!("group_handler: group name {name:?} {e}"));
        } else if name == crate::bus::DEFAULT_GROUP {
            problems.push(format!(
                "group_handler: {name:?} is the default group; use RuntimeBuilder::handler"
            ));
        }
    }
    let extra = handlers::extra_groups(registry, code);
    let mut all = vec![crate::bus::DEFAULT_GROUP.to_owned()];
    all.extend(extra.iter().cloned());
    for g in &extra {
        if let Err(RuntimeError::Config(p)) = handlers::group_handler_set(registry, &[], code, g) {
            problems.extend(p);
        }
    }
    let run = match only {
        None => all.clone(),
        Some(only) => {
            for g in only {
                if !all.contains(g) {
                    problems.push(format!(
                        "--group {g}: no such worker group (groups: {})",
                        all.join(", ")
                    ));
                }
            }
            all.iter().filter(|g| only.contains(g)).cloned().collect()
        }
    };
    if problems.is_empty() {
        Ok(Groups { extra, run })
    } else {
        Err(RuntimeError::Config(problems))
    }
}

/// The pools of the worker groups this node runs (none unless it runs workers).
///
/// Handlers reach the store, so nodes that run workers open it (returned too).
async fn pool_configs(
    registry: &Registry,
    role: Role,
    groups: &Groups,
    handler_timeout: Option<Duration>,
    vault: &VaultHandle,
) -> Result<(Vec<WorkerPoolConfig>, Option<Store>), RuntimeError> {
    if !role.runs_workers() {
        return Ok((Vec::new(), None));
    }
    let store = start_store(registry).await?;
    let default = pool_config(registry, handler_timeout, vault, store.clone()).await?;
    let pools = groups
        .run
        .iter()
        .map(|g| group_pool_config(registry, &default, g))
        .collect();
    Ok((pools, store))
}

/// The pool of worker group `group`: the default pool's settings with the group's
/// worker count.
fn group_pool_config(
    registry: &Registry,
    default: &WorkerPoolConfig,
    group: &str,
) -> WorkerPoolConfig {
    let workers = if group == crate::bus::DEFAULT_GROUP {
        default.workers
    } else {
        registry.runtime.groups.get(group).map_or(2, |g| g.workers)
    };
    WorkerPoolConfig {
        group: group.to_owned(),
        workers,
        ..default.clone()
    }
}

/// Creates every tenant's streams and groups on the bus.
async fn register_tenants(bus: &Bus, registry: &Registry) -> Result<(), RuntimeError> {
    for t in &registry.tenants {
        bus.register_tenant(&t.id())
            .await
            .map_err(|e| RuntimeError::Bus {
                what: "registering tenants on the bus",
                source: Box::new(e),
            })?;
    }
    Ok(())
}

/// What the tenants' access layers share on an access node.
async fn access_shared(
    registry: &Registry,
    bus: &Bus,
    vault: &VaultHandle,
    cluster: Option<&Cluster>,
) -> Arc<tenants::AccessShared> {
    let tokens = shared_tokens(registry).await;
    let access = tenants::AccessShared::new(bus.clone(), vault.clone(), cluster.cloned(), tokens);
    // Open the session store now, so the root never waits for it.
    access.sessions(registry).await;
    Arc::new(access)
}

fn spawn_error(what: &'static str, e: impl Into<super::BoxError>) -> RuntimeError {
    RuntimeError::Spawn {
        what,
        source: e.into(),
    }
}

/// A split role needs the Redis bus: nodes share work through it.
fn check_role(role: Role, registry: &Registry) -> Result<(), RuntimeError> {
    if role != Role::All && registry.runtime.bus.backend != BackendKind::Redis {
        return Err(RuntimeError::Config(vec![format!(
            "role {} needs runtime.bus.backend: redis (nodes share work through Redis)",
            role.as_str()
        )]));
    }
    Ok(())
}

/// `runtime.restart` as a restart policy (the root's and each tenant supervisor's).
pub(super) fn restart_policy(registry: &Registry) -> RestartPolicy {
    RestartPolicy {
        max_restarts: registry.runtime.restart.max_restarts,
        period: Duration::from_secs(registry.runtime.restart.period_secs),
        ..RestartPolicy::default()
    }
}

async fn pool_config(
    registry: &Registry,
    handler_timeout: Option<Duration>,
    vault: &VaultHandle,
    store: Option<Store>,
) -> Result<WorkerPoolConfig, RuntimeError> {
    let rt = &registry.runtime;
    // `Ctx::fetch` uses the process's shared fetcher: give it `runtime.fetch`.
    crate::handler::HttpFetcher::configure_shared((&rt.fetch).into())
        .map_err(|e| RuntimeError::Config(vec![format!("runtime.fetch: {e}")]))?;
    Ok(WorkerPoolConfig {
        workers: rt.workers,
        handler_timeout: handler_timeout.unwrap_or(Duration::from_secs(30)),
        namespace: registry.namespace.clone(),
        // Workers restart often and cheaply; the pool winds down only when they
        // keep failing for reasons no tenant caused, and the root then restarts it.
        restart: RestartPolicy {
            max_restarts: rt.restart.max_restarts.max(1) * 4,
            ..restart_policy(registry)
        },
        // A tenant whose handlers keep panicking is quarantined, not the pool.
        tenant_panics: restart_policy(registry),
        secrets: Some(vault.worker_secrets()),
        state: start_state(registry).await?,
        store,
        embedder: embedder(registry)?,
        ..WorkerPoolConfig::default()
    })
}

/// The embedder of `runtime.embeddings` (none without it), with the app secret that
/// holds each tenant's key.
fn embedder(registry: &Registry) -> Result<Option<crate::actors::SecretEmbedder>, RuntimeError> {
    let Some(config) = &registry.runtime.embeddings else {
        return unneeded(registry, &["embedding-indexer"], "runtime.embeddings");
    };
    let embedder = crate::embed::OpenAiEmbedder::new(config)
        .map_err(|e| RuntimeError::Config(vec![format!("runtime.embeddings: {e}")]))?;
    Ok(Some(crate::actors::SecretEmbedder {
        embedder: Arc::new(embedder),
        secret: config.secret.clone(),
    }))
}

/// `Ok(None)` when no tenant enables one of `handlers`, which need `setting` (not
/// configured); else every such tenant as a configuration problem.
fn unneeded<T>(
    registry: &Registry,
    handlers: &[&str],
    setting: &str,
) -> Result<Option<T>, RuntimeError> {
    let needy: Vec<String> = registry
        .tenants
        .iter()
        .filter_map(|t| {
            t.handlers(&registry.runtime)
                .iter()
                .find(|h| handlers.contains(&h.as_str()))
                .map(|h| format!("tenant {}: handler {h} needs {setting}", t.id()))
        })
        .collect();
    if needy.is_empty() {
        Ok(None)
    } else {
        Err(RuntimeError::Config(needy))
    }
}

/// The tenant-scoped store of `runtime.store` (none without it): connected and
/// migrated, every configured tenant registered under its `storage.namespace` (a
/// tenant whose rows carry another namespace fails the build). Tenants that enable a
/// store handler (`message-indexer`, ...) without a store fail it too.
async fn start_store(registry: &Registry) -> Result<Option<Store>, RuntimeError> {
    let Some(config) = &registry.runtime.store else {
        return unneeded(registry, crate::handler::STORE_HANDLERS, "runtime.store");
    };
    let store = Store::connect(config)
        .await
        .map_err(|e| RuntimeError::Store(Box::new(e)))?;
    let mut refused = Vec::new();
    for t in &registry.tenants {
        if let Err(e) = store.register_tenant(&t.id(), &t.storage_namespace()).await {
            refused.push(e.to_string());
        }
    }
    if !refused.is_empty() {
        store.close().await;
        return Err(RuntimeError::Config(refused));
    }
    Ok(Some(store))
}

/// Handlers' state: next to the bus in Redis when the bus is there (every node's
/// workers share it), else in this process.
async fn start_state(registry: &Registry) -> Result<StateStore, RuntimeError> {
    let rt = &registry.runtime;
    match (rt.bus.backend, &rt.bus.url) {
        (BackendKind::Redis, Some(url)) => {
            StateStore::redis(url, &rt.redis_prefix)
                .await
                .map_err(|e| RuntimeError::Bus {
                    what: "the handler state store",
                    source: Box::new(e),
                })
        }
        _ => Ok(StateStore::memory()),
    }
}

/// In a cluster, how often the bus sweeps for entries other consumers left idle
/// even when no node left (a safety net).
const CLAIM_SAFETY_SWEEP: Duration = Duration::from_secs(300);

/// With `runtime.tenants_store: redis`, the registry plus the cluster's shared
/// tenants, and the store (access nodes resolve their `${VAR}`s; workers need none).
async fn with_shared_tenants(
    registry: Registry,
    role: Role,
) -> Result<(Registry, Option<TenantStore>), RuntimeError> {
    let rt = &registry.runtime;
    let (TenantsStore::Redis, Some(url)) = (rt.tenants_store, &rt.bus.url) else {
        return Ok((registry, None));
    };
    let shared = |e| RuntimeError::Bus {
        what: "the shared tenant registry",
        source: Box::new(e),
    };
    let store = TenantStore::connect(url, &rt.redis_prefix)
        .await
        .map_err(shared)?;
    let docs = store.documents().await.map_err(shared)?;
    let opts = LoadOptions {
        resolve_env: role.runs_access(),
        ..LoadOptions::default()
    };
    let registry = registry
        .with_tenant_documents(&docs, &opts)
        .map_err(|e| RuntimeError::Config(e.issues.iter().map(ToString::to_string).collect()))?;
    Ok((registry, Some(store)))
}

/// The vault key (the access key) named by `runtime.vault.key_env`.
fn vault_key(registry: &Registry) -> Result<VaultKey, RuntimeError> {
    let key_env = registry
        .runtime
        .vault
        .key_env
        .as_deref()
        .unwrap_or(crate::vault::VAULT_KEY_ENV);
    env_key(key_env, "the vault key")?.ok_or_else(|| RuntimeError::MissingKey {
        var: key_env.to_owned(),
        what: "the vault key",
        hint: "",
    })
}

/// The key in environment variable `var`, if set.
fn env_key(var: &str, what: &'static str) -> Result<Option<VaultKey>, RuntimeError> {
    match std::env::var(var) {
        Ok(text) => VaultKey::parse(&text)
            .map(Some)
            .map_err(|source| RuntimeError::BadKey {
                var: var.to_owned(),
                what,
                source,
            }),
        Err(_) => Ok(None),
    }
}

/// The keys this node's vault holds. Access roles: the vault key, and the worker key
/// from `runtime.vault.worker_key_env` or else derived from the vault key. A worker
/// node: the worker key only; given the vault key instead, it derives the worker key,
/// drops the vault key and warns (a worker should never be given it).
fn vault_keys(registry: &Registry, role: Role) -> Result<VaultKeys, RuntimeError> {
    let worker_env = registry
        .runtime
        .vault
        .worker_key_env
        .as_deref()
        .unwrap_or(crate::vault::WORKER_KEY_ENV);
    let worker = env_key(worker_env, "the worker key")?;
    if role.runs_access() {
        let access = vault_key(registry)?;
        return Ok(match worker {
            Some(w) => VaultKeys::with_worker_key(&access, &w),
            None => VaultKeys::full(&access),
        });
    }
    if let Some(w) = worker {
        return Ok(VaultKeys::worker_only(&w));
    }
    let access = vault_key(registry).map_err(|_| RuntimeError::MissingKey {
        var: worker_env.to_owned(),
        what: "the worker key",
        hint: "; print it on an access node with `switchboard vault-key worker`",
    })?;
    tracing::warn!(
        "this worker node was given the vault key: it keeps only the worker key derived from it; give worker nodes {worker_env} alone"
    );
    Ok(VaultKeys::worker_only(&access.worker_key()))
}

/// Interaction tokens shared by the access nodes (sealed in Redis), when the vault
/// and the bus are on Redis; else each node keeps its own.
async fn shared_tokens(registry: &Registry) -> Option<SharedTokenStore> {
    let rt = &registry.runtime;
    let (BackendKind::Redis, BackendKind::Redis, Some(url)) =
        (rt.vault.backend, rt.bus.backend, &rt.bus.url)
    else {
        return None;
    };
    let sealer = TokenSealer::new(&vault_key(registry).ok()?);
    match SharedTokenStore::redis(url, &rt.redis_prefix, sealer).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %crate::Report(&e), "interaction tokens stay on this node");
            None
        }
    }
}

/// How often an access node publishes its tenants' secrets again: often enough
/// that a stored secret never outlives its last publisher by more than a
/// twenty-fourth of its TTL (`runtime.vault.secret_ttl_secs`: `None` is 24 h, `0`
/// never expires), between once a second and once an hour. The republish keeps
/// secrets alive; a store that lost them is refilled at once, when a lease misses
/// them. (At a fixed minute, 1,000 tenants cost an idle node a steady stream of
/// store round trips for secrets that live a day.)
pub(super) fn republish_period(secret_ttl_secs: Option<u64>) -> Duration {
    const MAX: Duration = Duration::from_secs(3600);
    match secret_ttl_secs.unwrap_or(86_400) {
        0 => MAX,
        secs => (Duration::from_secs(secs) / 24).clamp(Duration::from_secs(1), MAX),
    }
}

async fn start_vault(registry: &Registry, role: Role) -> Result<VaultHandle, RuntimeError> {
    let rt = &registry.runtime;
    let config = VaultConfig {
        default_ttl: Duration::from_secs(rt.lease_ttl_secs),
        ..VaultConfig::default()
    };
    match rt.vault.backend {
        BackendKind::Memory => VaultHandle::memory(config)
            .await
            .map_err(RuntimeError::Vault),
        BackendKind::Redis => {
            let keys = vault_keys(registry, role)?;
            let url = rt.vault.url.clone().unwrap_or_default();
            let mut options = RedisOptions::new(url, format!("{}:vault", rt.redis_prefix));
            if let Some(secs) = rt.vault.secret_ttl_secs {
                options.secret_ttl = (secs > 0).then(|| Duration::from_secs(secs));
            }
            let backend = VaultRedis::connect(&options, &keys)
                .await
                .map_err(RuntimeError::Vault)?;
            VaultHandle::spawn(config, &keys, backend)
                .await
                .map_err(RuntimeError::Vault)
        }
    }
}

/// Where the admin API listens (if at all) and how it guards its routes: the token
/// from `runtime.admin.token_env`, `runtime.admin.auth_reads`. A non-loopback
/// address without a token is refused here, before anything starts.
fn admin_settings(
    listen: AdminListen,
    registry: &Registry,
) -> Result<Option<(SocketAddr, AdminOptions)>, RuntimeError> {
    let admin = &registry.runtime.admin;
    let token = admin
        .token_env
        .as_deref()
        .and_then(|v| std::env::var(v).ok())
        .filter(|t| !t.is_empty())
        .map(SecretString::from);
    let addr = match listen {
        AdminListen::FromConfig => admin.listen,
        AdminListen::At(a) => a,
        AdminListen::Off => return Ok(None),
    };
    let options = AdminOptions::new(token).auth_reads(admin.auth_reads);
    options.permits(addr).map_err(|e| RuntimeError::Admin {
        addr,
        source: Box::new(e),
    })?;
    Ok(Some((addr, options)))
}

/// Joins the cluster when nodes share a Redis bus; a node that cannot join runs on
/// its own (placement then takes every free lease at once).
async fn join_cluster(
    registry: &Registry,
    node_id: &str,
    role: Role,
    bus: &Bus,
) -> Option<Cluster> {
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
            // Claim a dead node's entries when it leaves, not by sweeping every
            // tenant's streams every half claim time.
            bus.claim_on_demand(CLAIM_SAFETY_SWEEP);
            let b = bus.clone();
            c.on_node_lost(Arc::new(move || b.claim_soon()));
            Some(c)
        }
        Err(e) => {
            tracing::warn!(error = %crate::Report(&e), "cannot join the cluster; placing tenants on this node alone");
            None
        }
    }
}

async fn start_bus(
    registry: &Registry,
    node_id: &str,
    role: Role,
    groups: &Groups,
) -> Result<Bus, RuntimeError> {
    let rt = &registry.runtime;
    let config = BusConfig {
        node_id: node_id.to_owned(),
        max_deliveries: rt.max_deliveries,
        scheduler: SchedulerConfig {
            max_in_flight_per_tenant: rt.max_in_flight_per_tenant,
            ..SchedulerConfig::default()
        },
        consume_inbox: role.runs_workers(),
        groups: groups.extra.clone(),
        consume_groups: Some(groups.run.clone()),
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
                .map_err(|e| RuntimeError::Bus {
                    what: "the bus",
                    source: Box::new(e),
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_republished_a_twenty_fourth_of_their_ttl_apart() {
        let secs = |s: u64| Duration::from_secs(s);
        assert_eq!(
            republish_period(None),
            secs(3600),
            "24 h by default: hourly"
        );
        assert_eq!(
            republish_period(Some(0)),
            secs(3600),
            "never expire: hourly"
        );
        assert_eq!(republish_period(Some(240)), secs(10));
        assert_eq!(republish_period(Some(2)), secs(1), "at most once a second");
        assert_eq!(
            republish_period(Some(7 * 86_400)),
            secs(3600),
            "at least hourly"
        );
    }
}
