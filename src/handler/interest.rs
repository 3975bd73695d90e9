//! Which of a tenant's events a handler wants: [`Interest`], and the [`InterestCell`]
//! a gateway reads it from.
//!
//! A handler declares its interest ([`Handler::interest`](super::Handler::interest));
//! workers give it only the events it wants, and a runtime's gateways do not
//! publish an event none of the tenant's handlers wants. The common case is the
//! bot's own messages: every reply a bot posts comes back through the gateway as a
//! new message, and a command handler ignores it. Published, that echo would cost a
//! bus round trip, a worker turn and an acknowledgement per reply.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::model::Event;

/// Which events a handler wants. [`Interest::ALL`] (the default) is every event.
///
/// ```
/// use switchboard::handler::Interest;
///
/// let commands = Interest::ALL.without_own_messages();
/// assert!(!commands.own_messages());
/// assert_eq!(commands.union(Interest::ALL), Interest::ALL);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest {
    bits: u8,
}

/// The bot's own new messages (`SocialMessageCreated::from_self`).
const OWN_MESSAGES: u8 = 1;

impl Interest {
    /// Every event.
    pub const ALL: Self = Self { bits: OWN_MESSAGES };

    /// Every event but the messages the tenant's own bot wrote
    /// ([`SocialMessageCreated::from_self`](crate::model::SocialMessageCreated::from_self)).
    #[must_use]
    pub const fn without_own_messages(self) -> Self {
        Self {
            bits: self.bits & !OWN_MESSAGES,
        }
    }

    /// Whether the bot's own new messages are wanted.
    #[must_use]
    pub const fn own_messages(self) -> bool {
        self.bits & OWN_MESSAGES != 0
    }

    /// What either wants: the interest of several handlers together.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self {
            bits: self.bits | other.bits,
        }
    }

    /// Whether `event` is wanted. Jobs always are: they name their handler.
    #[must_use]
    pub fn wants(self, event: &Event) -> bool {
        match event {
            Event::SocialMessageCreated(m) if m.from_self => self.own_messages(),
            _ => true,
        }
    }
}

impl Default for Interest {
    fn default() -> Self {
        Self::ALL
    }
}

/// A tenant's [`Interest`], shared: a gateway reads it per event, and the runtime
/// sets it whenever the tenant's handlers change (at start and on every reload).
/// Clones share one value.
#[derive(Debug, Clone)]
pub struct InterestCell(Arc<AtomicU8>);

impl InterestCell {
    /// A cell holding `interest`.
    #[must_use]
    pub fn new(interest: Interest) -> Self {
        Self(Arc::new(AtomicU8::new(interest.bits)))
    }

    /// The interest now.
    #[must_use]
    pub fn get(&self) -> Interest {
        Interest {
            bits: self.0.load(Ordering::Relaxed),
        }
    }

    /// Replaces the interest; every clone sees it.
    pub fn set(&self, interest: Interest) {
        self.0.store(interest.bits, Ordering::Relaxed);
    }
}

impl Default for InterestCell {
    /// Every event.
    fn default() -> Self {
        Self::new(Interest::ALL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SocialMessageCreated, SocialMessageDeleted, UserRef};

    fn message(from_self: bool) -> Event {
        Event::SocialMessageCreated(SocialMessageCreated {
            message_id: "1".into(),
            channel_id: "2".into(),
            guild_id: Some("3".into()),
            author: UserRef {
                id: "4".into(),
                name: "duck".into(),
                display_name: None,
                bot: true,
            },
            content: "pong".into(),
            attachments: Vec::new(),
            mentions: Vec::new(),
            reply_to: None,
            timestamp_ms: 0,
            from_self,
        })
    }

    #[test]
    fn own_messages_are_the_only_ones_left_out() {
        let commands = Interest::ALL.without_own_messages();
        assert!(!commands.wants(&message(true)));
        assert!(commands.wants(&message(false)));
        let deleted = Event::SocialMessageDeleted(SocialMessageDeleted {
            message_id: "1".into(),
            channel_id: "2".into(),
            guild_id: None,
        });
        assert!(commands.wants(&deleted));
        assert!(Interest::ALL.wants(&message(true)));
        assert_eq!(Interest::default(), Interest::ALL);
    }

    #[test]
    fn a_union_wants_what_either_wants() {
        let commands = Interest::ALL.without_own_messages();
        assert_eq!(commands.union(commands), commands);
        assert_eq!(commands.union(Interest::ALL), Interest::ALL);
        assert_eq!(Interest::ALL.union(commands), Interest::ALL);
    }

    #[test]
    fn clones_of_a_cell_share_its_value() {
        let cell = InterestCell::default();
        let seen = cell.clone();
        assert_eq!(seen.get(), Interest::ALL);
        cell.set(Interest::ALL.without_own_messages());
        assert!(!seen.get().own_messages());
    }
}
