//! The actors: supervision helpers, the generic worker pool, and (to come) the
//! per-tenant access layer and the root supervisor.

mod latency;
mod pool;
mod restart;
mod worker;

pub use latency::LatencyHistogram;
pub use pool::{PoolStats, WorkerPoolConfig, WorkerPoolHandle};
pub use restart::{RestartBudget, RestartPolicy};
