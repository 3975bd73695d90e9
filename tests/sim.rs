//! Integration tests of the local Discord emulator (`switchboard::sim`): real sockets,
//! the real twilight-gateway and twilight-http clients, and raw WebSocket/HTTP clients
//! where a test needs to see the wire.
//!
//! One test binary (submodules in `tests/sim/`) keeps link time down.

#[path = "sim/cli.rs"]
mod cli;
#[path = "sim/commands.rs"]
mod commands;
#[path = "sim/control.rs"]
mod control;
#[path = "sim/gateway.rs"]
mod gateway;
#[path = "sim/gateway_faults.rs"]
mod gateway_faults;
#[path = "sim/interactions.rs"]
mod interactions;
#[path = "sim/ratelimit.rs"]
mod ratelimit;
#[path = "sim/rest.rs"]
mod rest;
#[path = "sim/util.rs"]
mod util;
