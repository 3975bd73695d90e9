//! Local Discord emulator (gateway v10 and REST v10 on one loopback port) for tests,
//! the demo and offline use. The real twilight clients work against it unchanged:
//! point `twilight_gateway::ConfigBuilder::proxy_url` at [`SimHandle::gateway_url`] and
//! `twilight_http::Client::builder().proxy(handle.api_host(), true)` at
//! [`SimHandle::api_host`].
//!
//! It is built to Discord's documented behaviour rather than to one client's habits:
//! complete payloads, documented close codes, per-route and global rate limits with
//! Discord's headers, the invalid-request ban, `MESSAGE_CONTENT` rules, RESUME with a
//! bounded replay buffer, and sharding by `(guild_id >> 22) % shard_count`.
//!
//! # Layout
//! - `config`: [`SimConfig`] and tenants, guilds, rate limits.
//! - `server`: binding, routing, tasks; `handle`: [`Sim`] / [`SimHandle`].
//! - `gateway`, `session`, `compress`: WebSocket connections, sessions and replay,
//!   `zstd-stream`.
//! - `rest`, `rest_channels`, `rest_commands`, `rest_misc`, `ratelimit`: the REST API
//!   and its limits.
//! - `state`, `events`, `messages`, `interactions`, `payloads`: the world and the
//!   Discord-shaped objects it sends.
//! - `control`, `inject`, `stats`: the `/__sim/` control API and its types.
//! - `cdn`: attachments of injected messages and the unauthenticated route serving
//!   their bytes at the URLs their objects carry.
//!
//! # Invariants
//! - Tokens are compared, never logged, never returned (stats are keyed by tenant name).
//! - A client's bad frame or JSON ends its own connection with the documented close
//!   code; nothing a client sends can panic the emulator.
//! - Sequence numbers are assigned and frames queued under one per-session lock, and
//!   world changes are dispatched under the world lock, so every session sees events
//!   in the order they happened.

mod cdn;
mod compress;
mod config;
#[cfg(test)]
mod conformance;
mod control;
mod error;
mod events;
mod gateway;
mod handle;
mod inject;
mod interaction_log;
mod interactions;
mod messages;
mod payloads;
mod ratelimit;
mod registry;
mod rest;
mod rest_channels;
mod rest_commands;
mod rest_misc;
mod server;
mod session;
mod state;
mod stats;

pub use cdn::SimAttachment;
pub use config::{
    ChannelConfig, GuildConfig, PrivilegedIntents, RateLimitConfig, RoleConfig, RouteLimit,
    SimConfig, TenantConfig, intents,
};
pub use error::SimError;
pub use handle::{Sim, SimHandle};
pub use inject::{
    Fault, FaultRequest, InjectInteraction, InjectMessage, InjectedInteraction, InteractionKind,
    MemberEvent, MessageDeletion, MessageEdit, PostedMessage, SimUser,
};
pub use interaction_log::InteractionLog;
pub use registry::{DEMO_CHANNELS, DEMO_GUILD, FromRegistryError};
pub use stats::{SimStats, TenantStats};
