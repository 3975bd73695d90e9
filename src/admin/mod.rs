//! The admin API that `switchboardctl` and operators use: health, readiness,
//! Prometheus metrics, the status tree, tenant management, reload and the dead-letter
//! queue, backfills. The runtime plugs in through [`AdminBackend`]; [`AdminOptions`] say how
//! routes are guarded; [`ROUTES`] lists every route.

mod auth;
mod backend;
mod cluster;
mod errors;
mod handlers;
mod limits;
mod metrics;
mod options;
mod routes;
mod server;
mod status;

pub use crate::cluster::NodeRecord;
pub use backend::{
    AdminBackend, AdminError, BackfillView, DeadLetterView, Readiness, ReloadReport, TenantView,
};
pub use cluster::{ClusterStatus, NodeStatus, TenantPlacement};
pub use metrics::prometheus;
pub use options::{
    AdminOptions, AdminStartError, DEFAULT_BODY_LIMIT, DEFAULT_REQUEST_TIMEOUT, is_loopback,
};
pub use routes::{AdminRoute, ROUTES, RouteBody, RouteMethod};
pub use server::AdminServer;
pub use status::{
    BacklogStatus, BucketStatus, BusStatus, CommandsStatus, GroupStatus, RestStatus, RuntimeStatus,
    ScheduleStatus, ShardStatus, TenantState, TenantStatus, VaultStatus, WorkersStatus,
};
