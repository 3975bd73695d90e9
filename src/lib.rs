//! # switchboard
//!
//! An actor-system runtime that hosts many chat bots ("tenants") safely and at scale.
//! See `ARCHITECTURE.md` for the layout and the invariants.
#![warn(missing_docs)]

pub mod config;
pub mod model;
pub mod sim;
pub mod vault;
