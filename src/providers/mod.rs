//! Provider adapters: the only code (with the access-layer actors and the emulator)
//! that knows a provider's SDK. Each turns provider payloads into the model's events
//! and the model's commands into provider API calls.

pub mod discord;
