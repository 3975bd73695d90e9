//! The admin API that `switchboardctl` and operators use: health, readiness,
//! Prometheus metrics, the status tree, tenant management, reload and the dead-letter
//! queue. The runtime plugs in through [`AdminBackend`].

mod backend;
mod cluster;
mod metrics;
mod server;
mod status;

pub use backend::{AdminBackend, AdminError, DeadLetterView, Readiness, ReloadReport, TenantView};
pub use cluster::{ClusterStatus, NodeStatus, TenantPlacement};
pub use metrics::prometheus;
pub use server::AdminServer;
pub use status::{
    BacklogStatus, BucketStatus, BusStatus, RestStatus, RuntimeStatus, ShardStatus, TenantState,
    TenantStatus, VaultStatus, WorkersStatus,
};
