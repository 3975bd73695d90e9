//! Secrets vault: leases with a TTL, a capability policy, memory and Redis backends.
//!
//! The vault is what keeps workers token-less and tenants apart. Secrets live at
//! `<provider>/<tenant>/<name>` as [`SecretString`](secrecy::SecretString)s; callers
//! get them only through a [`Lease`], which caches the value in the handle (reads
//! cost no actor round trip), renews itself at about 2/3 of its TTL and reports
//! [`LeaseEvent`]s. Every lease is checked against a [`Policy`] (deny wins, default
//! deny) and audited.
//!
//! # Capabilities are minted, not declared
//! The vault acts for the [`Principal`] its caller names, so only one kind of caller
//! may name one: the holder of the [`VaultHandle`]. The runtime keeps the handle (the
//! root supervisor, the tenant supervisors, credential publishing, reload, status)
//! and hands everyone else a capability minted for them:
//! - a tenant supervisor gives its gateway actor [`VaultHandle::gateway_scope`] and
//!   its REST actor [`VaultHandle::rest_scope`], each a [`ScopedVault`] bound to that
//!   actor's own principal (`gateway(p/t)`, `rest(p/t)`);
//! - the runtime gives the worker pool [`VaultHandle::worker_secrets`], a
//!   [`WorkerSecrets`] that can only lease app secrets of the tenant whose envelope a
//!   worker is handling, as `Worker { serving }`; handlers see only `Ctx::secret`;
//! - operator tools and embedders get [`VaultHandle::admin_scope`],
//!   [`VaultHandle::worker_scope`] or [`VaultHandle::named_scope`].
//!
//! The privileged [`Principal`] variants cannot be built outside the crate, and the
//! handle's operations that take a principal are crate-private, so a capability's
//! holder cannot act as anyone else.
//!
//! # Layout
//! - `handle.rs`: [`VaultHandle`] (the typed actor handle, which mints capabilities);
//!   `scoped.rs`: [`ScopedVault`] (a handle bound to one principal);
//!   `worker_secrets.rs`: [`WorkerSecrets`] (the workers' app secrets).
//! - `actor.rs`: the actor: policy checks, grants, renewals, revocations, the sweep.
//! - `lease.rs`: [`Lease`], [`LeaseInfo`], [`LeaseEvent`]; `renewals.rs`: the
//!   handle's renewal schedule (one task renews every lease, in batches).
//! - `policy.rs`: [`Policy`], [`Rule`], [`PathPattern`].
//! - `principal.rs`: [`Principal`], [`Capability`] (tenants are the model's
//!   [`TenantId`], re-exported here).
//! - `path.rs`: [`SecretPath`], [`SecretKind`].
//! - `crypto.rs`: [`VaultKey`], encryption at rest, the audit HMAC.
//! - `keys.rs`: [`VaultKeys`]: the access key (provider credentials) and the worker
//!   key (app secrets); a worker node holds only the latter.
//! - `audit.rs`: [`AuditRecord`], [`AuditEvent`].
//! - `published.rs`: what was published, kept to refill a store that lost its data.
//! - `backend/`: the [`Backend`](backend::Backend) trait, [`MemoryBackend`] and
//!   [`RedisBackend`].
//!
//! # Invariants
//! - Only this module reads secret values; they never reach `Debug`, `Display`, logs,
//!   metrics, audit records or error messages.
//! - `provider.*` capabilities lease only provider credentials, `secret.read` only
//!   app secrets: a worker never holds a token ([`WorkerSecrets`] checks the kind of
//!   what it leased again and fails closed).
//! - Provider credentials are sealed with the access key, app secrets with the worker
//!   key: a vault given only the worker key cannot open a credential, and in Redis
//!   credentials live under key patterns a worker's Redis user cannot read.
//! - Only the holder of the [`VaultHandle`] chooses principals; everyone else acts
//!   through a capability minted for them.
//! - Fencing tokens of exclusive leases only go up, even across a store restart.
//! - A revoked lease stays revoked: revocations leave a tombstone in the store, so a
//!   lease record lost with the store's data (restored from its holder on renewal)
//!   is never confused with a revocation. An exclusive lease is restored only if its
//!   lock is free: never two holders.
//!
//! # Redis users per node role
//! On Redis, a worker node's connection should not reach a credential even if the
//! node is compromised: [`setuser_args`] and [`aclfile_line`] give the Redis ACL
//! user of an [`AclRole`] under a key prefix (`switchboard redis-acl` prints it).
//! A worker's user gets the bus, the cluster registry, app secrets and lease
//! records, and answers `NOPERM` on provider credentials, gateway locks and fences,
//! gateway sessions and interaction tokens.

mod actor;
mod audit;
pub mod backend;
mod clock;
mod config;
mod crypto;
mod error;
mod handle;
mod keys;
mod lease;
mod path;
mod policy;
mod principal;
mod published;
mod renewals;
mod scoped;
mod sealer;
mod worker_secrets;

pub use crate::model::TenantId;
pub use audit::{AuditEvent, AuditRecord};
pub use backend::{DEFAULT_SECRET_TTL, MemoryBackend, RedisBackend, RedisOptions};
pub use config::VaultConfig;
pub use crypto::{VAULT_KEY_ENV, VaultKey};
pub use error::VaultError;
pub use handle::{PublishReport, VaultHandle, VaultStats};
pub use keys::{VaultKeys, WORKER_KEY_ENV};
pub use lease::{Lease, LeaseEvent, LeaseInfo};
pub use path::{MAX_SEGMENT_LEN, SecretKind, SecretPath};
pub use policy::{Effect, PathPattern, Policy, PrincipalMatch, Rule};
pub use principal::{Capability, Principal};
pub use scoped::ScopedVault;
pub use sealer::TokenSealer;
pub use worker_secrets::WorkerSecrets;

// The Redis side of "a worker node cannot reach a token": what `switchboard
// redis-acl` prints.
pub use crate::redis_acl::{AclRole, aclfile_line, setuser_args};
