//! Discord REST side: model commands mapped onto Discord routes and bodies, the
//! twilight-http client, rate-limit headers, and REST messages normalized for
//! backfill.
//!
//! # Layout
//! - `calls.rs`: [`Call`]s (twilight requests plus their rate-limit [`RouteKey`]).
//! - `body.rs`: JSON bodies (messages, embeds, interaction callbacks 4–9, modals).
//! - `nonce.rs`: deterministic create-message nonces ([`derive_nonce`]).
//! - `headers.rs`: [`RateLimitHeaders`].
//! - `errors.rs`: [`ApiError`] (error bodies, JSON error codes) and the ids of
//!   answered objects.
//! - `history.rs`: [`message_to_event`] (REST message → `SocialMessageCreated`).
//! - `client.rs`: [`build_client`] (proxy host, twilight's rate limiter, timeout).

mod body;
mod calls;
mod client;
mod errors;
mod headers;
mod history;
mod nonce;

pub use calls::{
    Auth, BuildError, Call, create_dm, current_application, current_user, delete_original,
    dm_message, get_commands, history, interaction, post_message, role, set_commands,
};
pub use client::{ClientError, build_client};
pub use errors::{ALREADY_ACKNOWLEDGED, ApiError, channel_id, message_ids, user_id};
pub use headers::RateLimitHeaders;
pub use history::message_to_event;
pub use nonce::nonce_for;
// The rest of the mapping's surface, for the `internals` build.
#[cfg(feature = "internals")]
pub use calls::{RouteKey, snowflake};
#[cfg(feature = "internals")]
pub use client::{install_crypto_provider, proxy_host};
#[cfg(feature = "internals")]
pub use errors::{INVALID_WEBHOOK_TOKEN, UNKNOWN_INTERACTION, UNKNOWN_WEBHOOK};
#[cfg(feature = "internals")]
pub use nonce::{MAX_NONCE_LEN, derive_nonce};
