#![doc = include_str!("../README.md")]
//!
//! # The library at a glance
//!
//! The items most programs need are re-exported here:
//!
//! - [`Runtime`] (built with [`Runtime::builder`]) runs the whole supervision tree
//!   inside your service: tenants from a [`Registry`], your [`Handler`]s, the vault,
//!   the bus and the admin API.
//! - A [`Handler`] receives provider-neutral events with a [`Ctx`]: the tenant it runs
//!   for, effects (`ctx.reply(..)`, `ctx.post_message(..)`), state
//!   (`ctx.state()`, `ctx.cooldown(..)`) and coordination (`ctx.claim_turn(..)`) —
//!   never a token.
//! - [`AppCommand`] declares slash and context-menu commands; a [`Router`] routes them
//!   (and buttons, selects, modals) to async functions.
//! - [`Envelope`], [`Event`] and [`Command`] are the wire contract on the bus.
//!
//! Modules, by what they are for:
//!
//! - [`runtime`], [`handler`], [`commands`], [`state`], [`jobs`]: writing and running
//!   bots (scheduled jobs: per-tenant cron schedules delivered as `Job` events).
//! - [`store`]: the tenant-scoped store (`ctx.store()`: messages, attachments,
//!   cursors, embeddings in SQLite or PostgreSQL) and its indexer handlers.
//! - [`model`]: the provider-neutral wire contract and its MessagePack codec.
//! - [`config`]: the tenant registry (YAML, `${VAR}` interpolation, validation that
//!   reports every problem with its path).
//! - [`embed`]: texts to vectors for similarity search (an `OpenAI`-compatible
//!   embedder), each tenant paying with its own key.
//! - [`vault`]: credentials and app secrets leased with a TTL under a capability
//!   policy, and the Redis ACL users of worker and access nodes.
//! - [`admin`]: the admin API's status model and metrics.
//! - `sim` and `demo` (feature `sim`, on by default): the local Discord emulator the
//!   real twilight clients talk to, and the offline demo.
//!
//! The building blocks the runtime is made of — the actors, the bus, the cluster
//! registry, the Discord mapping — are private: nothing above needs them, and they
//! change freely.
//!
//! # Features
//!
//! - `sim` (default): the emulator and the demo (`axum` with `ws`, `zstd`).
//! - `cli` (default): what the `switchboard` and `switchboardctl` binaries need
//!   (clap, reqwest, anyhow, tracing-subscriber, sd-notify). An embedder that only
//!   wants the library uses `default-features = false`.
//! - `internals` (off): makes those building blocks public (`actors`, `bus`,
//!   `cluster`, `providers`, `redis_acl`, and `Runtime::bus`) for this crate's own
//!   integration tests and benches. Unstable: no semver promise covers them.
//!
//! `ARCHITECTURE.md` at the repository root describes the design and its invariants.
//!
//! # Example: the wire contract
//!
//! ```
//! use switchboard::model::{MemberLeft, Payload, TenantId, UserRef};
//! use switchboard::{Envelope, Event};
//!
//! let duck = TenantId::parse("discord", "duck")?;
//! let left = MemberLeft {
//!     guild_id: "111111111111111111".into(),
//!     user: UserRef { id: "3".into(), name: "mallard".into(), display_name: None, bot: false },
//! };
//! let env = Envelope::new("promethean", &duck, Payload::Event(Event::MemberLeft(left)))?;
//! assert_eq!(env.topic.to_string(), "promethean.p.discord.t.duck.events.member_left");
//!
//! let bytes = switchboard::model::encode(&env)?;
//! assert_eq!(switchboard::model::decode(&bytes)?, env);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod admin;
pub mod commands;
pub mod config;
#[cfg(feature = "sim")]
pub mod demo;
pub mod embed;
pub mod handler;
mod http;
pub mod jobs;
pub mod model;
mod redis_tls;
mod report;
pub mod runtime;
#[cfg(feature = "sim")]
pub mod sim;
pub mod state;
pub mod store;
pub mod vault;

// The building blocks the runtime is made of: public only with the `internals`
// feature (this crate's integration tests and benches), without a semver promise.
// Their items are `pub` for that build, hence the `unreachable_pub` allowance when
// they are private; the lint still checks them in the `internals` build (`clippy
// --all-targets`). `internal_mods!` declares each both ways.
macro_rules! internal_mods {
    ($($name:ident),* $(,)?) => {$(
        #[cfg(feature = "internals")]
        pub mod $name;
        #[cfg(not(feature = "internals"))]
        #[allow(unreachable_pub, reason = "public with the `internals` feature")]
        mod $name;
    )*};
}
internal_mods!(actors, bus, cluster, providers, redis_acl);

pub use commands::{AppCommand, Reply, Router};
pub use config::Registry;
pub use handler::{Ctx, Handler, HandlerResult};
pub use model::{Command, Envelope, Event, TenantId};
pub use report::Report;
pub use runtime::{Role, Runtime, RuntimeBuilder, RuntimeError};
