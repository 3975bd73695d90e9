//! [`TenantState`]: where a tenant's gateway or REST actor stands — one type for
//! both halves of the access layer.

use serde::Serialize;

/// Where a tenant's access-layer actor stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "reason")]
#[non_exhaustive]
pub enum TenantState {
    /// Leasing the token (and, for a gateway, planning shards).
    Starting,
    /// Running: shards connected, or serving commands.
    Running,
    /// Stopped on request.
    Stopped,
    /// Stopped for a reason that needs attention (a rejected token, a lost lease).
    Failed(String),
}
