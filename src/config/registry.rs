//! The registry's types: the runtime settings and every tenant, as loaded and checked.
//!
//! Unknown fields are not rejected by serde here: the loader collects every one of
//! them (with `serde_ignored`) so a file with several mistakes reports them all.
//!
//! Secrets are [`SecretString`] from the moment they are deserialized; `Debug` of any
//! type here prints `[REDACTED]` for them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use crate::model::{ProviderName, TenantId, TenantName};

/// A loaded, validated tenant registry.
#[derive(Debug, Clone)]
pub struct Registry {
    /// The topic namespace, e.g. `promethean`.
    pub namespace: String,
    /// Runtime settings.
    pub runtime: RuntimeConfig,
    /// Every tenant, from `providers` and `tenants_dir`, in file order.
    pub tenants: Vec<TenantConfig>,
    /// The main file it was loaded from.
    pub source: PathBuf,
}

impl Registry {
    /// The tenant with this id, if configured.
    #[must_use]
    pub fn tenant(&self, id: &TenantId) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| &t.id() == id)
    }
}

/// Which backend a subsystem uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// In this process only (the embedded default).
    #[default]
    Memory,
    /// Shared through Redis, for several daemons.
    Redis,
}

/// `runtime.tenants_store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TenantsStore {
    /// Files in `runtime.tenants_dir` (the default; one node).
    #[default]
    File,
    /// The cluster's shared registry in Redis (needs `runtime.bus.backend: redis`).
    Redis,
}

/// `runtime.vault`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct VaultBackendConfig {
    /// `memory` or `redis`.
    pub backend: BackendKind,
    /// Redis URL (`redis` only).
    #[serde(default)]
    pub url: Option<String>,
    /// The environment variable holding the vault key, which seals provider
    /// credentials (`redis` only; `SWITCHBOARD_VAULT_KEY` by default). Access nodes
    /// need it; worker nodes should not have it.
    #[serde(default)]
    pub key_env: Option<String>,
    /// The environment variable holding the worker key, which seals app secrets
    /// (`redis` only; `SWITCHBOARD_WORKER_KEY` by default). Derived from the vault
    /// key when unset on an access node; all a worker node needs.
    #[serde(default)]
    pub worker_key_env: Option<String>,
    /// Stored secrets expire this long after they were last published (`redis`
    /// only; every access node re-publishes its tenants' secrets every twenty-fourth
    /// of this, between each second and each hour, so they expire only once every
    /// publisher is gone). Seconds; `None`: 24 h; `0`: never.
    #[serde(default)]
    pub secret_ttl_secs: Option<u64>,
}

/// `runtime.bus`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct BusBackendConfig {
    /// `memory` or `redis`.
    pub backend: BackendKind,
    /// Redis URL (`redis` only).
    #[serde(default)]
    pub url: Option<String>,
    /// How long an entry another node took stays unacknowledged before this node
    /// claims it (`redis` only; a dead node's work waits this long). Milliseconds;
    /// `None`: 30 s.
    #[serde(default)]
    pub claim_idle_ms: Option<u64>,
}

/// `runtime.store.backend`: which database the tenant-scoped store uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StoreBackend {
    /// An embedded SQLite file (`path`), the default; `:memory:` for a throwaway
    /// in-memory database (the demo).
    #[default]
    Sqlite,
    /// A PostgreSQL server (`url`), shared by every node.
    Postgres,
}

/// `runtime.store`: the tenant-scoped store handlers reach with `Ctx::store()`
/// (messages, attachments, cursors, embeddings; see `crate::store`). Absent: no
/// store (handlers that need one fail to start).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct StoreConfig {
    /// `sqlite` (default) or `postgres`.
    #[serde(default)]
    pub backend: StoreBackend,
    /// The database URL (`postgres` only; `postgres://user:password@host/db`). A
    /// secret: it may carry a password, so it is never logged or shown.
    #[serde(default)]
    pub url: Option<SecretString>,
    /// The SQLite file (`sqlite` only), created with its folder if missing; relative
    /// to the working directory. Default `data/switchboard.sqlite`; `:memory:` keeps
    /// the database in this process only.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Most connections in the pool (`postgres` only; SQLite uses one writer).
    /// Default 8.
    #[serde(default)]
    pub max_connections: Option<u32>,
}

impl PartialEq for StoreConfig {
    fn eq(&self, other: &Self) -> bool {
        use secrecy::ExposeSecret;
        self.backend == other.backend
            && self.path == other.path
            && self.max_connections == other.max_connections
            && self.url.as_ref().map(ExposeSecret::expose_secret)
                == other.url.as_ref().map(ExposeSecret::expose_secret)
    }
}

impl Eq for StoreConfig {}

impl StoreConfig {
    /// The default SQLite file, relative to the working directory.
    pub const DEFAULT_SQLITE_PATH: &'static str = "data/switchboard.sqlite";

    /// An embedded SQLite store in the file `path`.
    #[must_use]
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        Self {
            backend: StoreBackend::Sqlite,
            path: Some(path.into()),
            ..Self::default()
        }
    }

    /// A PostgreSQL store at `url`.
    #[must_use]
    pub fn postgres(url: impl Into<String>) -> Self {
        Self {
            backend: StoreBackend::Postgres,
            url: Some(SecretString::from(url.into())),
            ..Self::default()
        }
    }

    /// What to show for this store in logs and errors: the backend and the SQLite
    /// path, or the PostgreSQL host and database with user and password left out.
    #[must_use]
    pub fn describe(&self) -> String {
        use secrecy::ExposeSecret;
        match self.backend {
            StoreBackend::Sqlite => format!(
                "sqlite:{}",
                self.path
                    .as_deref()
                    .unwrap_or(std::path::Path::new(Self::DEFAULT_SQLITE_PATH))
                    .display()
            ),
            StoreBackend::Postgres => match self
                .url
                .as_ref()
                .and_then(|u| url::Url::parse(u.expose_secret()).ok())
            {
                Some(u) => {
                    format!(
                        "postgres://{}{}",
                        u.host_str().unwrap_or(""),
                        u.port().map(|p| format!(":{p}")).unwrap_or_default()
                    ) + u.path()
                }
                None => "postgres (no valid url)".to_owned(),
            },
        }
    }
}

/// `runtime.admin`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AdminConfig {
    /// Where the admin API listens. An address other than loopback needs a token.
    #[serde(default = "default_admin_listen")]
    pub listen: SocketAddr,
    /// The environment variable holding the bearer token for mutating routes.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Whether the reads under `/v1/` (tenants, status, dead letters, leases, the
    /// cluster) need the token too; `/healthz`, `/readyz` and `/metrics` stay open.
    #[serde(default)]
    pub auth_reads: bool,
}

fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7878))
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: default_admin_listen(),
            token_env: None,
            auth_reads: false,
        }
    }
}

/// `runtime.restart`: at most `max_restarts` restarts in `period_secs`, then the child
/// is marked failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct RestartConfig {
    /// Restarts allowed per period.
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
    /// The period, seconds.
    #[serde(default = "default_period_secs")]
    pub period_secs: u64,
}

fn default_max_restarts() -> u32 {
    5
}

fn default_period_secs() -> u64 {
    60
}

impl Default for RestartConfig {
    fn default() -> Self {
        Self {
            max_restarts: default_max_restarts(),
            period_secs: default_period_secs(),
        }
    }
}

/// `runtime.interactions`: how the access layer keeps Discord's 3-second window for
/// the first answer to an interaction (see `actors::rest` and `ARCHITECTURE.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct InteractionsConfig {
    /// When the handler has not answered this long after the interaction arrived,
    /// the access layer defers it (callback type 5, or 6 for components); 100–2500.
    #[serde(default = "default_defer_after_ms")]
    pub defer_after_ms: u64,
    /// After a deferral, how long the handler may take before the access layer
    /// answers with an ephemeral error itself; 1000–840000 (the token's 15 minutes,
    /// less a margin).
    #[serde(default = "default_answer_within_ms")]
    pub answer_within_ms: u64,
}

fn default_defer_after_ms() -> u64 {
    1_500
}

fn default_answer_within_ms() -> u64 {
    10_000
}

impl Default for InteractionsConfig {
    fn default() -> Self {
        Self {
            defer_after_ms: default_defer_after_ms(),
            answer_within_ms: default_answer_within_ms(),
        }
    }
}

/// `runtime`: how this node runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RuntimeConfig {
    /// How many generic workers to run.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Built-in handlers enabled for every tenant that does not name its own.
    #[serde(default)]
    pub handlers: Vec<String>,
    /// The vault backend.
    #[serde(default)]
    pub vault: VaultBackendConfig,
    /// The bus backend.
    #[serde(default)]
    pub bus: BusBackendConfig,
    /// The admin API.
    #[serde(default)]
    pub admin: AdminConfig,
    /// The tenant-scoped store (`Ctx::store()`); `None`: none.
    #[serde(default)]
    pub store: Option<StoreConfig>,
    /// Worker concurrency cap per tenant.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight_per_tenant: usize,
    /// Deliveries of one envelope before it is dead-lettered.
    #[serde(default = "default_max_deliveries")]
    pub max_deliveries: u32,
    /// Supervisor restart budget.
    #[serde(default)]
    pub restart: RestartConfig,
    /// Automatic deferral of interactions whose handler is slow.
    #[serde(default)]
    pub interactions: InteractionsConfig,
    /// Default lease TTL, seconds.
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl_secs: u64,
    /// Prefix of every Redis key.
    #[serde(default = "default_redis_prefix")]
    pub redis_prefix: String,
    /// A folder of one-tenant files merged with `providers`; relative paths are
    /// resolved against the folder of the main file.
    #[serde(default)]
    pub tenants_dir: Option<PathBuf>,
    /// Require every credential and secret to be a `${VAR}` reference.
    #[serde(default)]
    pub strict: bool,
    /// Where tenants added through the admin API live: `file` (files in
    /// `tenants_dir`, this node only) or `redis` (the cluster's shared registry next
    /// to the bus: every node sees them within a second).
    #[serde(default)]
    pub tenants_store: TenantsStore,
    /// Seconds a graceful shutdown waits for handlers to finish what is queued on
    /// this node before it stops them (a second SIGINT/SIGTERM stops at once).
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace_secs: u64,
    /// Limits of the `http.fetch` effect (`Ctx::fetch`).
    #[serde(default)]
    pub fetch: FetchConfig,
    /// The embeddings service (none: no embedder).
    #[serde(default)]
    pub embeddings: Option<EmbeddingsConfig>,
    /// Worker groups besides the default one (`runtime.workers` running the
    /// tenants' handlers), by name: each sees every tenant's events independently,
    /// with its own workers, handlers, retries, dead letters and backlog.
    #[serde(default)]
    pub groups: std::collections::BTreeMap<String, GroupConfig>,
}

/// `runtime.groups.<name>`: a worker group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GroupConfig {
    /// How many workers the group runs on each node that runs it.
    #[serde(default = "default_group_workers")]
    pub workers: usize,
    /// Built-in handlers the group runs for every tenant (code handlers are added
    /// with `RuntimeBuilder::group_handler`).
    #[serde(default)]
    pub handlers: Vec<String>,
}

fn default_group_workers() -> usize {
    2
}

fn default_shutdown_grace() -> u64 {
    30
}
fn default_workers() -> usize {
    8
}
fn default_max_in_flight() -> usize {
    4
}
fn default_max_deliveries() -> u32 {
    5
}
fn default_lease_ttl() -> u64 {
    30
}
fn default_redis_prefix() -> String {
    "sb".to_owned()
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            workers: default_workers(),
            handlers: Vec::new(),
            vault: VaultBackendConfig::default(),
            bus: BusBackendConfig::default(),
            admin: AdminConfig::default(),
            store: None,
            max_in_flight_per_tenant: default_max_in_flight(),
            max_deliveries: default_max_deliveries(),
            restart: RestartConfig::default(),
            interactions: InteractionsConfig::default(),
            lease_ttl_secs: default_lease_ttl(),
            redis_prefix: default_redis_prefix(),
            tenants_dir: None,
            strict: false,
            tenants_store: TenantsStore::File,
            shutdown_grace_secs: default_shutdown_grace(),
            fetch: FetchConfig::default(),
            embeddings: None,
            groups: std::collections::BTreeMap::new(),
        }
    }
}

/// `runtime.fetch`: limits of the `http.fetch` effect (`Ctx::fetch`, used by the
/// attachment indexer to download attachments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct FetchConfig {
    /// The largest body accepted, bytes; 1 to 1 GiB. Default 25 MiB.
    #[serde(default = "default_fetch_max_bytes")]
    pub max_bytes: u64,
    /// Deadline of one whole fetch (connect, headers, body), ms; 100–600000.
    /// Default 30000.
    #[serde(default = "default_fetch_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_fetch_max_bytes() -> u64 {
    crate::handler::DEFAULT_FETCH_MAX_BYTES
}
fn default_fetch_timeout_ms() -> u64 {
    crate::handler::DEFAULT_FETCH_TIMEOUT.as_millis() as u64
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            max_bytes: default_fetch_max_bytes(),
            timeout_ms: default_fetch_timeout_ms(),
        }
    }
}

/// `runtime.embeddings`: an OpenAI-compatible embeddings service
/// (`POST {url}/v1/embeddings`). Each tenant pays for its own: the API key is the
/// tenant's app secret named `secret`, read from the vault per request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EmbeddingsConfig {
    /// Base URL, `http://` or `https://` (e.g. `https://api.openai.com`).
    pub url: String,
    /// The model name sent with every request and stored with every vector.
    pub model: String,
    /// The name of the tenant's app secret holding the API key (e.g. `openai_key`).
    pub secret: String,
    /// The vector length the model returns, if known (responses of another length
    /// are refused).
    #[serde(default)]
    pub dimension: Option<usize>,
    /// Texts per request, 1–2048; larger inputs are split. Default 64.
    #[serde(default = "default_embed_batch")]
    pub batch: usize,
    /// Requests per second per tenant (a token bucket), at least 1. Default 10.
    #[serde(default = "default_embed_rate")]
    pub rate_per_sec: u32,
    /// Requests a tenant may make at once after being idle (the bucket's size);
    /// default `rate_per_sec`.
    #[serde(default)]
    pub burst: Option<u32>,
    /// Retries of a request answered 429 or 5xx (or failing to connect), 0–10;
    /// `Retry-After` is honoured. Default 5.
    #[serde(default = "default_embed_retries")]
    pub max_retries: u32,
    /// Deadline of one request, ms; 100–600000. Default 30000.
    #[serde(default = "default_embed_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_embed_batch() -> usize {
    64
}
fn default_embed_rate() -> u32 {
    10
}
fn default_embed_retries() -> u32 {
    5
}
fn default_embed_timeout_ms() -> u64 {
    30_000
}

/// A tenant's provider credentials. Only the access layer and the vault read them.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Credentials {
    /// The bot token.
    #[serde(default)]
    pub bot_token: Option<SecretString>,
    /// The application id (not secret).
    #[serde(default)]
    pub app_id: Option<String>,
    /// An OAuth2 client secret, if the tenant uses one.
    #[serde(default)]
    pub client_secret: Option<SecretString>,
}

/// `allow`: where a tenant's gateway publishes events from. `"*"` allows every id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AllowConfig {
    /// Guild ids, or `"*"`.
    #[serde(default = "star")]
    pub guilds: Vec<String>,
    /// Channel ids, or `"*"`.
    #[serde(default = "star")]
    pub channels: Vec<String>,
}

fn star() -> Vec<String> {
    vec!["*".to_owned()]
}

impl Default for AllowConfig {
    fn default() -> Self {
        Self {
            guilds: star(),
            channels: star(),
        }
    }
}

impl AllowConfig {
    /// Whether events from this guild (None: a direct message) and channel pass.
    #[must_use]
    pub fn allows(&self, guild_id: Option<&str>, channel_id: Option<&str>) -> bool {
        let matches = |list: &[String], id: Option<&str>| {
            list.iter().any(|a| a == "*") || id.is_some_and(|id| list.iter().any(|a| a == id))
        };
        // Direct messages have no guild; they pass the guild list only through "*".
        matches(&self.guilds, guild_id) && matches(&self.channels, channel_id)
    }
}

/// `commands.scope`: where a tenant's application commands are registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandScope {
    /// Once for the application, in every guild and DM (Discord takes up to an hour
    /// to show changes of global commands in clients).
    Global,
    /// To each guild `allow.guilds` lists (shown at once; needs explicit ids).
    Guilds,
}

/// `commands`: where the application commands of a tenant's handlers are
/// registered, and which of them. Without it a tenant registers all of them to
/// each guild `allow.guilds` lists, or globally when that list is `"*"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct CommandsConfig {
    /// `global` or `guilds`; `None`: from `allow.guilds`.
    #[serde(default)]
    pub scope: Option<CommandScope>,
    /// Only these commands (by name) of the ones the tenant's handlers declare;
    /// `None`: all of them.
    #[serde(default)]
    pub only: Option<Vec<String>>,
}

/// One entry of a tenant's `schedules:`: a cron pattern whose slots are delivered to
/// the tenant's handlers as [`Job`](crate::model::Job) events (`Handler::on_job`),
/// once per slot across a cluster. See [`crate::jobs`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScheduleConfig {
    /// The schedule's name, unique within the tenant (`[a-z0-9_-]{1,64}`).
    pub name: String,
    /// A cron pattern: 5 fields (minute precision), 6 with seconds first, or 7 with
    /// a year last; names (`MON`, `JAN`), ranges, steps, `L`, `W` and `#` as croner
    /// reads them.
    pub cron: String,
    /// Only the handler of this name gets the job; `None`: every handler.
    #[serde(default)]
    pub handler: Option<String>,
    /// What the job carries to the handler (any YAML value, as JSON).
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
    /// The IANA time zone the pattern is read in (`Europe/Berlin`); default UTC.
    #[serde(default)]
    pub tz: Option<String>,
    /// What to do at start-up with slots missed while no node ran.
    #[serde(default)]
    pub missed: crate::jobs::Missed,
}

/// `storage`: where the tenant's state lives.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct StorageConfig {
    /// The tenant's storage namespace; defaults to `<provider>__<tenant>`.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// How many gateway shards to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shards {
    /// As many as the provider recommends.
    #[default]
    Auto,
    /// A fixed count.
    Fixed(u32),
}

impl<'de> Deserialize<'de> for Shards {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u32),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(0) => Err(serde::de::Error::custom("shard count must be at least 1")),
            Raw::N(n) => Ok(Self::Fixed(n)),
            Raw::S(s) if s == "auto" => Ok(Self::Auto),
            Raw::S(s) => s
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .map(Self::Fixed)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "invalid shard count {s:?}: expected \"auto\" or a number of at least 1"
                    ))
                }),
        }
    }
}

/// `gateway`: how the tenant connects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct GatewayConfig {
    /// Intent names in snake case (`guilds`, `guild_messages`, `message_content`, ...).
    #[serde(default)]
    pub intents: Vec<String>,
    /// Shard count.
    #[serde(default)]
    pub shards: Shards,
}

/// `endpoints`: talk to an emulator or a proxy instead of the provider.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
pub struct Endpoints {
    /// REST base URL, e.g. `http://127.0.0.1:9000`.
    #[serde(default)]
    pub api: Option<String>,
    /// Gateway URL, e.g. `ws://127.0.0.1:9000/gateway`.
    #[serde(default)]
    pub gateway: Option<String>,
}

/// One tenant: a bot on one provider.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// The provider.
    pub provider: ProviderName,
    /// The tenant's name.
    pub tenant: TenantName,
    /// Credentials (access layer only).
    pub credentials: Credentials,
    /// Where events are accepted from.
    pub allow: AllowConfig,
    /// State storage.
    pub storage: StorageConfig,
    /// Gateway settings.
    pub gateway: GatewayConfig,
    /// Endpoint overrides.
    pub endpoints: Endpoints,
    /// Also publish raw gateway payloads.
    pub publish_raw: bool,
    /// This tenant's handlers; `None` uses `runtime.handlers`.
    pub handlers: Option<Vec<String>>,
    /// Where and which application commands it registers (`None`: every command
    /// its handlers declare, scoped by `allow.guilds`).
    pub commands: Option<CommandsConfig>,
    /// Free-form settings handed to handlers.
    pub settings: serde_json::Value,
    /// App secrets workers may lease for this tenant.
    pub secrets: BTreeMap<String, SecretString>,
    /// How this tenant's bot takes turns with the other bots of its namespace in
    /// shared channels (`Ctx::claim_turn`); `None`: it answers everything.
    pub coordination: Option<crate::state::Coordination>,
    /// Its scheduled jobs (checked: valid names, patterns and time zones).
    pub schedules: Vec<ScheduleConfig>,
    /// The file this tenant came from.
    pub source: PathBuf,
}

impl TenantConfig {
    /// The tenant's id.
    #[must_use]
    pub fn id(&self) -> TenantId {
        TenantId::new(self.provider.clone(), self.tenant.clone())
    }

    /// The storage namespace, defaulting to `<provider>__<tenant>`.
    #[must_use]
    pub fn storage_namespace(&self) -> String {
        self.storage
            .namespace
            .clone()
            .unwrap_or_else(|| format!("{}__{}", self.provider, self.tenant))
    }

    /// Where its application commands are registered: `None` for global, or each
    /// guild id (see [`CommandsConfig`]). Guild ids that are not snowflakes (which
    /// validation refuses) are skipped.
    #[must_use]
    pub fn command_scopes(&self) -> Vec<Option<u64>> {
        let star = self.allow.guilds.iter().any(|g| g == "*");
        let scope = self.commands.as_ref().and_then(|c| c.scope);
        match scope {
            Some(CommandScope::Global) => vec![None],
            None if star => vec![None],
            Some(CommandScope::Guilds) | None => {
                let mut ids: Vec<Option<u64>> = self
                    .allow
                    .guilds
                    .iter()
                    .filter_map(|g| g.parse::<u64>().ok())
                    .map(Some)
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                ids
            }
        }
    }

    /// The handlers that serve this tenant.
    #[must_use]
    pub fn handlers<'a>(&'a self, runtime: &'a RuntimeConfig) -> &'a [String] {
        self.handlers.as_deref().unwrap_or(&runtime.handlers)
    }
}

/// A tenant entry as written in YAML, before names are validated.
#[derive(Debug, Deserialize)]
pub(crate) struct RawTenant {
    pub(crate) provider: String,
    pub(crate) tenant: String,
    #[serde(default)]
    pub(crate) credentials: Credentials,
    #[serde(default)]
    pub(crate) allow: AllowConfig,
    #[serde(default)]
    pub(crate) storage: StorageConfig,
    #[serde(default)]
    pub(crate) gateway: GatewayConfig,
    #[serde(default)]
    pub(crate) endpoints: Endpoints,
    #[serde(default)]
    pub(crate) publish_raw: bool,
    #[serde(default)]
    pub(crate) handlers: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) commands: Option<CommandsConfig>,
    #[serde(default)]
    pub(crate) settings: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) secrets: BTreeMap<String, SecretString>,
    #[serde(default)]
    pub(crate) coordination: Option<crate::state::Coordination>,
    #[serde(default)]
    pub(crate) schedules: Vec<ScheduleConfig>,
}
