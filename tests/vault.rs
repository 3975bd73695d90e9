//! Integration tests of the secrets vault (`src/vault/`) against real parts: the
//! memory backend (time-based tests with paused tokio time) and a throwaway
//! `redis-server` per test (random key prefix, killed on drop).

mod common;

#[path = "vault/audit.rs"]
mod audit;
#[path = "vault/batch_renewal.rs"]
mod batch_renewal;
#[path = "vault/canary.rs"]
mod canary;
#[path = "vault/capabilities.rs"]
mod capabilities;
#[path = "vault/empty_restart.rs"]
mod empty_restart;
#[path = "vault/exclusive.rs"]
mod exclusive;
#[path = "vault/lifecycle.rs"]
mod lifecycle;
#[path = "vault/outage.rs"]
mod outage;
#[path = "vault/policy_matrix.rs"]
mod policy_matrix;
#[path = "vault/rotation.rs"]
mod rotation;
#[path = "vault/secret_ttl.rs"]
mod secret_ttl;
#[path = "vault/support.rs"]
mod support;
#[path = "vault/worker_key.rs"]
mod worker_key;
