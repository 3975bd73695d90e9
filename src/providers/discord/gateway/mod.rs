//! Discord gateway side: intent names, and normalization of twilight-model dispatches
//! into the provider-neutral [`model::Event`](crate::model::Event)s.
//!
//! Normalization is a pure function of one dispatch and the bot's own user id (from
//! READY): it moves strings out of the twilight value rather than cloning them, turns
//! every timestamp into Unix milliseconds and every snowflake into its decimal string.
//! The interaction token is *not* part of the event: [`normalize`] hands it back
//! beside the event, as an [`InteractionToken`], for the access layer to keep in
//! [`InteractionTokens`](super::interactions::InteractionTokens).
//!
//! # Layout
//! - `intents.rs`: config intent names (`guild_messages`) → twilight [`Intents`](twilight_model::gateway::Intents).
//! - `normalize.rs`: the dispatch entry point, messages, members, users, timestamps.
//! - `identity.rs`: stable envelope ids from Discord's ids (replays dedupe).
//! - `interaction.rs`: commands (options, subcommands), components, modals,
//!   autocomplete, context menus.
//!
//! ```
//! use switchboard::providers::discord::gateway::{WANTED_EVENTS, normalize};
//! use switchboard::model::Event;
//!
//! let frame = include_str!("../../../../tests/fixtures/discord/gateway_message_create_guild.json");
//! let Some(twilight_model::gateway::event::GatewayEvent::Dispatch(_, event)) =
//!     twilight_gateway::parse(frame.to_owned(), WANTED_EVENTS)?
//! else {
//!     unreachable!("a dispatch")
//! };
//! let normalized = normalize(event, None).expect("MESSAGE_CREATE is normalized");
//! assert!(matches!(normalized.event, Event::SocialMessageCreated(_)));
//! assert!(normalized.interaction.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod identity;
mod intents;
mod interaction;
mod normalize;

pub use identity::{GatewayOrigin, event_id};
pub use intents::{UnknownIntent, intent_names, parse_intents, privileged_intents};
#[cfg(feature = "internals")]
pub use normalize::{InteractionToken, unix_ms};
pub use normalize::{Normalized, WANTED_EVENTS, normalize};
