//! What the admin API asks of the runtime it serves. The runtime implements
//! [`AdminBackend`]; the HTTP layer stays free of runtime internals.

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::cluster::ClusterStatus;
use super::status::RuntimeStatus;
use crate::store::indexer::{BackfillProgress, BackfillRequest, BackfillRun, BackfillState};

/// Why an admin operation failed; mapped onto an HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// No such thing (404).
    #[error("{0}")]
    NotFound(String),
    /// It exists already (409).
    #[error("{0}")]
    Conflict(String),
    /// The resulting configuration is invalid; nothing changed (422).
    #[error("invalid configuration")]
    InvalidConfig(Vec<String>),
    /// The node cannot do this in its role or state (409).
    #[error("{0}")]
    Unsupported(String),
    /// Something broke (500).
    #[error("{0}")]
    Internal(String),
}

/// `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// Whether this node can do its job.
    pub ready: bool,
    /// Why not, when not.
    pub reasons: Vec<String>,
}

/// The outcome of a reload (or of a tenant change, which reloads).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReloadReport {
    /// Tenants started.
    pub added: Vec<String>,
    /// Tenants stopped and their leases revoked.
    pub removed: Vec<String>,
    /// Tenants restarted because their settings or token changed.
    pub changed: Vec<String>,
    /// Tenants left as they were.
    pub unchanged: Vec<String>,
}

/// A tenant as the admin API lists it (never its credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantView {
    /// `provider/tenant`.
    pub id: String,
    /// The file that defines it.
    pub source: String,
    /// Whether the admin API manages it (it lives in `tenants_dir`).
    pub managed: bool,
}

/// A dead letter as the admin API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetterView {
    /// Its id, for replay.
    pub id: String,
    /// `provider/tenant`, when the envelope could be decoded.
    pub tenant: Option<String>,
    /// The envelope, when it could be decoded.
    pub envelope: Option<serde_json::Value>,
    /// Size of undecodable bytes.
    pub raw_bytes: Option<usize>,
    /// The last error.
    pub error: String,
    /// Deliveries attempted.
    pub attempts: u32,
    /// When, Unix ms.
    pub ts: u64,
    /// The worker group that gave up on it (`default`: the tenants' handlers); a
    /// replay goes back to this group only.
    #[serde(default = "default_group")]
    pub group: String,
}

fn default_group() -> String {
    crate::bus::DEFAULT_GROUP.to_owned()
}

/// A channel's backfill as the admin API shows it (`POST`/`GET
/// /v1/tenants/{provider}/{tenant}/backfills…`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillView {
    /// `provider/tenant`.
    pub tenant: String,
    /// The channel's id.
    pub channel: String,
    /// The stored cursor (`backfill:messages:<channel>`); `None` before the first
    /// page is stored, or when this node has no store to read it from.
    pub progress: Option<BackfillProgress>,
    /// `running`, `done` or `failed` (the cursor's error says why); `None` when this
    /// node has no store.
    #[serde(default)]
    pub state: Option<BackfillState>,
    /// The run holding the channel's lease (paging now, retrying, or handing over
    /// to its continuation); absent when none does, or when this node runs no
    /// workers and so cannot see the lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<BackfillRun>,
    /// The tenant's stored messages of this channel (backfilled or indexed live);
    /// `None` when this node has no store.
    pub stored: Option<i64>,
    /// The id of the job envelope published (`POST` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
}

/// Implemented by the runtime for the admin API.
pub trait AdminBackend: Send + Sync + 'static {
    /// The whole tree.
    fn status(&self) -> BoxFuture<'_, RuntimeStatus>;
    /// Whether this node can do its job.
    fn readiness(&self) -> BoxFuture<'_, Readiness>;
    /// Re-reads the registry and applies the difference.
    fn reload(&self) -> BoxFuture<'_, Result<ReloadReport, AdminError>>;
    /// Every configured tenant.
    fn tenants(&self) -> BoxFuture<'_, Vec<TenantView>>;
    /// Writes (creates or replaces) one tenant's file in `tenants_dir` from a YAML or
    /// JSON tenant entry, then reloads. `create` refuses to replace.
    fn put_tenant(
        &self,
        body: String,
        create: bool,
    ) -> BoxFuture<'_, Result<ReloadReport, AdminError>>;
    /// Removes one tenant's file from `tenants_dir`, then reloads.
    fn delete_tenant(
        &self,
        provider: String,
        tenant: String,
    ) -> BoxFuture<'_, Result<ReloadReport, AdminError>>;
    /// The newest dead letters.
    fn dead_letters(&self, limit: usize) -> BoxFuture<'_, Result<Vec<DeadLetterView>, AdminError>>;
    /// Publishes a dead letter again.
    fn replay(&self, id: String) -> BoxFuture<'_, Result<bool, AdminError>>;
    /// Vault lease counts (never values).
    fn leases(&self) -> BoxFuture<'_, Result<serde_json::Value, AdminError>>;

    /// The cluster as this node sees it; `None` when the node is not in one (an
    /// in-process bus).
    fn cluster(&self) -> BoxFuture<'_, Option<ClusterStatus>> {
        Box::pin(async { None })
    }

    /// Starts (or resumes) a backfill of `request.channel` for `provider/tenant`:
    /// publishes the `backfill` handler's job on the tenant's inbox and answers the
    /// progress stored so far. Unknown tenant: [`AdminError::NotFound`]; a run of
    /// the channel already holds its lease: [`AdminError::Conflict`], naming the
    /// channel and its progress.
    fn start_backfill(
        &self,
        provider: String,
        tenant: String,
        request: BackfillRequest,
    ) -> BoxFuture<'_, Result<BackfillView, AdminError>> {
        let _ = (provider, tenant, request);
        Box::pin(async {
            Err(AdminError::Unsupported(
                "this node does not run backfills".to_owned(),
            ))
        })
    }

    /// A channel's backfill progress and stored messages. A node without
    /// `runtime.store`: [`AdminError::Unsupported`].
    fn backfill(
        &self,
        provider: String,
        tenant: String,
        channel: String,
    ) -> BoxFuture<'_, Result<BackfillView, AdminError>> {
        let _ = (provider, tenant, channel);
        Box::pin(async {
            Err(AdminError::Unsupported(
                "this node does not run backfills".to_owned(),
            ))
        })
    }
}
