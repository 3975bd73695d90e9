//! The provider-neutral model: golden envelopes, and MessagePack round-trips.

#[path = "model/golden.rs"]
mod golden;
#[path = "model/roundtrip.rs"]
mod roundtrip;
#[path = "model/strategies.rs"]
mod strategies;
