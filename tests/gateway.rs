//! Integration tests of the Discord gateway half of the access layer: golden
//! normalization snapshots, and the `GatewayActor` against the emulator with the real
//! twilight shards (bus, vault, session store, faults, fatal closes).
//!
//! One test binary (submodules in `tests/gateway/`) keeps link time down.

#[path = "gateway/actor.rs"]
mod actor;
#[path = "common/mod.rs"]
mod common;
#[path = "gateway/faults.rs"]
mod faults;
#[path = "gateway/golden.rs"]
mod golden;
#[path = "gateway/interactions.rs"]
mod interactions;
#[path = "gateway/lifecycle.rs"]
mod lifecycle;
#[path = "gateway/redis.rs"]
mod redis;
#[path = "gateway/support.rs"]
mod support;
