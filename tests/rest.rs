//! Integration tests of the `RestActor` against the Discord emulator with the real
//! twilight-http client: commands published on the in-process bus the way workers
//! publish them, answers and the emulator's state checked.
//!
//! One test binary (submodules in `tests/rest/`) keeps link time down.

#[path = "rest/backfill.rs"]
mod backfill;
#[path = "rest/budget.rs"]
mod budget;
#[path = "rest/deferral.rs"]
mod deferral;
#[path = "rest/failures.rs"]
mod failures;
#[path = "rest/handover.rs"]
mod handover;
#[path = "rest/interactions.rs"]
mod interactions;
#[path = "rest/messages.rs"]
mod messages;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "rest/support.rs"]
mod support;
