//! The actors: supervision helpers (restart budgets), the generic worker pool, and
//! the per-tenant access layer (gateway, REST). The root and tenant supervisors,
//! which wire these together, live in `runtime/`.

pub mod access;
pub mod gateway;
mod latency;
mod pool;
pub mod rest;
mod restart;
mod worker;

#[cfg(feature = "internals")]
pub use latency::LatencyHistogram;
#[cfg(feature = "internals")]
pub use pool::PoolStats;
pub use pool::{SecretEmbedder, WorkerPoolConfig, WorkerPoolHandle};
pub(crate) use restart::child_exit;
pub use restart::{RestartBudget, RestartPolicy};
