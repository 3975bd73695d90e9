//! Tenant-scoped state for handlers: `ctx.state()`.
//!
//! Handlers are stateless; what they must remember (a cooldown, a game session, a
//! counter, per-user settings with a TTL) lives here, in Redis when the bus is on
//! Redis (so any worker on any node serves any bot) or in memory otherwise, behind
//! one API ([`TenantState`]).
//!
//! # Layout
//! - `store.rs`: [`StateStore`] (the backend: memory or Redis) and [`TenantState`]
//!   (the store bound to one tenant: every key a handler names lives under that
//!   tenant, so it cannot name another tenant's by construction).
//! - `memory.rs`, `redis.rs`: the backends; every compound operation is atomic (a
//!   per-key lock in memory, a Lua script in Redis).
//! - `cooldown.rs`: [`Cooldown`] rates and [`CooldownDecision`]s (GCRA: a burst of
//!   `rate`, then one per `window / rate`).
//! - `session.rs`: [`Session`]s — "at most one active X per scope" with an owner, a
//!   TTL renewed while active and takeover rules.
//! - `coordination.rs`: [`Coordination`] policies, [`Turn`] claims and channel
//!   [`Activity`], shared by the bots of a namespace ([`SharedChannels`]).
//! - `error.rs`: [`StateError`].
//!
//! # Redis keys
//! Everything of a tenant is `<prefix>:{<provider>:<tenant>}:state:<space>:<key>`
//! (`kv`, `set`, `map`, `cd`, `sess`, `sessidx`): one Cluster slot per tenant.
//! What the bots of a namespace share is `<prefix>:ns:{<namespace>}:<what>:…` (`turn`,
//! `pile`, `activity`). The worker's Redis ACL user (`crate::redis_acl`) reaches both.

mod cooldown;
mod coordination;
mod error;
mod memory;
mod redis;
mod session;
mod store;

pub use cooldown::{Cooldown, CooldownDecision, CooldownScope};
pub use coordination::{Activity, Coordination, Turn};
pub use error::StateError;
pub use session::{Session, Takeover};
pub use store::{MAX_KEY_LEN, SharedChannels, StateStore, TenantState};
