//! # switchboard
//!
//! An actor-system runtime that hosts many chat bots ("tenants") safely and at scale.
//! Discord comes first; the model is provider-neutral.
//!
//! # Layout
//!
//! - [`model`]: the provider-neutral wire contract: [`model::Envelope`],
//!   [`model::Topic`], [`model::Urn`], events, commands, and the MessagePack codec.
//! - [`config`]: the tenant registry: YAML loading, `${VAR}` interpolation and
//!   validation that reports every problem with its file and field path.
//! - [`sim`]: a local Discord emulator (gateway and REST) that the real twilight
//!   clients talk to, for tests, the demo and offline use.
//! - [`commands`]: application commands (slash and context menus): the declared
//!   model, validation against the provider's limits, typed option access.
//! - [`vault`]: the secrets vault: leases with a TTL under a capability policy.
//!
//! `ARCHITECTURE.md` at the repository root describes the design and its invariants.
//!
//! # Example
//!
//! ```
//! use switchboard::model::{Envelope, Event, MemberLeft, Payload, TenantId, UserRef};
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

pub mod actors;
pub mod admin;
pub mod bus;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod demo;
pub mod handler;
pub mod model;
pub mod providers;
pub mod redis_acl;
mod redis_tls;
pub mod runtime;
pub mod sim;
pub mod state;
pub mod vault;

/// The README's Rust examples, compiled as doc tests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
