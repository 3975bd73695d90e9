//! Coordination between the bots of a namespace that share channels: turn claims,
//! so that several tenant bots in one channel do not all answer the same message
//! (the N² pile-on), and the channel activity every handler can read.
//!
//! A claim is per `(channel, message)`: the first `max_bots_per_message` claimants
//! get [`Turn::Mine`], later ones [`Turn::Taken`] naming who holds it. A claimant
//! asking again (a retried handler) gets its turn again. With a pile-on cooldown, a
//! bot that just took a turn in a channel lets the others take the next ones there
//! for that long ([`Turn::Cooldown`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A tenant's coordination policy (the registry's `coordination:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Coordination {
    /// How many bots may answer one message (default 1).
    #[serde(default = "one")]
    pub max_bots_per_message: u32,
    /// After taking a turn in a channel, how long this bot lets others take the
    /// next turns there, seconds (default 0: no cooldown).
    #[serde(default)]
    pub pile_on_cooldown_secs: u64,
    /// How long a claim is remembered (longer than any redelivery of the message),
    /// seconds (default 3600).
    #[serde(default = "hour")]
    pub claim_ttl_secs: u64,
}

fn one() -> u32 {
    1
}
fn hour() -> u64 {
    3600
}

impl Default for Coordination {
    fn default() -> Self {
        Self {
            max_bots_per_message: one(),
            pile_on_cooldown_secs: 0,
            claim_ttl_secs: hour(),
        }
    }
}

impl Coordination {
    pub(crate) fn claim_ttl(&self) -> Duration {
        Duration::from_secs(self.claim_ttl_secs.max(1))
    }

    pub(crate) fn pile_on(&self) -> Option<Duration> {
        (self.pile_on_cooldown_secs > 0).then(|| Duration::from_secs(self.pile_on_cooldown_secs))
    }
}

/// The answer to a turn claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Turn {
    /// Answer it.
    Mine,
    /// Others hold the turn (`provider/tenant` of each).
    Taken {
        /// Who holds it.
        by: Vec<String>,
    },
    /// This bot took a turn in the channel within its pile-on cooldown.
    Cooldown,
}

impl Turn {
    /// Whether this bot should answer.
    #[must_use]
    pub fn is_mine(&self) -> bool {
        matches!(self, Self::Mine)
    }
}

/// One bot's recent turn in a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// `provider/tenant`.
    pub bot: String,
    /// When it last took a turn there (Unix ms).
    pub at_ms: u64,
}

/// One turn claim, as the backends take it.
pub(crate) struct Claim<'a> {
    /// The set of claimants of the message.
    pub(crate) turn: String,
    /// The claimant's pile-on marker in the channel.
    pub(crate) pile: String,
    /// The channel's activity.
    pub(crate) activity: String,
    pub(crate) claimant: &'a str,
    pub(crate) max: u32,
    pub(crate) ttl: Duration,
    pub(crate) cooldown: Option<Duration>,
}

/// How long channel activity is kept.
pub(crate) const ACTIVITY_KEPT: Duration = Duration::from_secs(3600);
