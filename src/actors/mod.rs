//! The actors: supervision helpers, the generic worker pool, and (to come) the
//! per-tenant access layer and the root supervisor.

pub mod gateway;
mod latency;
mod pool;
pub mod rest;
mod restart;
mod worker;

pub use latency::LatencyHistogram;
pub use pool::{PoolStats, WorkerPoolConfig, WorkerPoolHandle};
pub use restart::{RestartBudget, RestartPolicy};
