//! Priority classes: which work a worker takes first when several kinds wait.
//!
//! Interactions come first because Discord requires an answer within three seconds;
//! backfill comes last because nobody is waiting for it.

use serde::{Deserialize, Serialize};

/// A priority class, highest first. `Ord` follows urgency: `Interaction < Backfill`
/// compares as "more urgent first", so sorting ascending yields the service order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Slash commands, autocomplete, modal submits, and responses awaited by handlers.
    Interaction,
    /// Button clicks and select menus.
    Component,
    /// Members joining, leaving, changing.
    Member,
    /// Ordinary messages.
    Message,
    /// History fetches and other bulk work.
    Backfill,
}

impl Priority {
    /// Every class, most urgent first.
    pub const ALL: [Priority; 5] = [
        Self::Interaction,
        Self::Component,
        Self::Member,
        Self::Message,
        Self::Backfill,
    ];

    /// A short stable name, used in Redis keys and metrics labels.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Interaction => "interaction",
            Self::Component => "component",
            Self::Member => "member",
            Self::Message => "message",
            Self::Backfill => "backfill",
        }
    }

    /// The class's position in [`Priority::ALL`].
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }
}

#[cfg(test)]
mod tests {
    use super::Priority;

    #[test]
    fn order_is_interaction_component_member_message_backfill() {
        let mut v = vec![
            Priority::Backfill,
            Priority::Message,
            Priority::Interaction,
            Priority::Member,
            Priority::Component,
        ];
        v.sort();
        assert_eq!(v, Priority::ALL.to_vec());
        for (i, p) in Priority::ALL.iter().enumerate() {
            assert_eq!(p.index(), i);
        }
    }
}
