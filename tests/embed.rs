//! The `http.fetch` effect, attachments served by the emulator, and the embedder
//! (issue 16): real sockets, the emulator, twilight's parser and the normaliser, a
//! local deterministic embeddings server (`common/embed_server.rs`); no network.
//!
//! One test binary (submodules in `tests/embed/`) keeps link time down.

#[path = "embed/attachments.rs"]
mod attachments;
#[path = "common/mod.rs"]
mod common;
#[path = "embed/config.rs"]
mod config;
#[path = "embed/embedder.rs"]
mod embedder;
#[path = "embed/fetch.rs"]
mod fetch;
#[path = "embed/measure.rs"]
mod measure;
#[path = "embed/rate.rs"]
mod rate;
#[path = "embed/runtime.rs"]
mod runtime;
#[path = "embed/support.rs"]
mod support;
