//! Cooldowns: "at most `rate` per `window`", per user, channel, guild or tenant.
//!
//! The algorithm is GCRA (the generic cell rate algorithm): one number per key, the
//! theoretical arrival time (TAT). A burst of up to `rate` is allowed, then one more
//! per `window / rate`. Both backends run [`gcra`]'s arithmetic (Redis in Lua, with
//! the server's clock), so a cooldown holds across workers on different nodes.

use std::time::Duration;

use super::error::StateError;

/// What a cooldown is counted per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CooldownScope {
    /// Per user (the key names the user).
    User,
    /// Per channel.
    Channel,
    /// Per guild.
    Guild,
    /// Once for the whole tenant.
    Tenant,
}

impl CooldownScope {
    /// `user`, `channel`, `guild`, `tenant`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Channel => "channel",
            Self::Guild => "guild",
            Self::Tenant => "tenant",
        }
    }
}

/// A rate: at most `rate` uses per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cooldown {
    /// Uses allowed per window (and the largest burst).
    pub rate: u32,
    /// The window.
    pub window: Duration,
}

impl Cooldown {
    /// `rate` uses per `window`.
    #[must_use]
    pub fn new(rate: u32, window: Duration) -> Self {
        Self { rate, window }
    }

    /// The window and the emission interval in ms, checked.
    pub(crate) fn params(self) -> Result<(u64, u64), StateError> {
        let window = u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX);
        if self.rate == 0 || window == 0 {
            return Err(StateError::Invalid(format!(
                "a cooldown needs a rate and a window above zero (got {} per {:?})",
                self.rate, self.window
            )));
        }
        Ok((window, (window / u64::from(self.rate)).max(1)))
    }
}

/// What a cooldown said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CooldownDecision {
    /// Go ahead; `remaining` more uses fit right now.
    Allowed {
        /// Uses left in the current burst.
        remaining: u32,
    },
    /// Not now: try again after this long.
    RetryAfter(Duration),
}

impl CooldownDecision {
    /// Whether the use is allowed.
    #[must_use]
    pub fn is_allowed(self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    /// The uniform answer to a user who must wait: `try again in N s` (rounded up).
    #[must_use]
    pub fn message(self) -> Option<String> {
        match self {
            Self::Allowed { .. } => None,
            Self::RetryAfter(d) => Some(format!(
                "try again in {} s",
                d.as_millis().div_ceil(1000).max(1)
            )),
        }
    }
}

/// One GCRA step: the stored TAT (ms, `None` if none), now (ms), the window and the
/// emission interval (ms). Returns the decision and, when allowed, the new TAT to store
/// (it expires at the TAT).
pub(crate) fn gcra(
    tat: Option<u64>,
    now: u64,
    window: u64,
    interval: u64,
) -> (CooldownDecision, Option<u64>) {
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat + interval;
    let ahead = new_tat - now;
    if ahead > window {
        return (
            CooldownDecision::RetryAfter(Duration::from_millis(ahead - window)),
            None,
        );
    }
    let remaining = u32::try_from((window - ahead) / interval).unwrap_or(u32::MAX);
    (CooldownDecision::Allowed { remaining }, Some(new_tat))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval() {
        let (window, interval) = Cooldown::new(3, Duration::from_secs(3))
            .params()
            .expect("ok");
        let mut tat = None;
        let mut allowed = 0;
        for _ in 0..5 {
            let (d, next) = gcra(tat, 10_000, window, interval);
            if let Some(t) = next {
                tat = Some(t);
                allowed += 1;
            } else {
                assert_eq!(d, CooldownDecision::RetryAfter(Duration::from_secs(1)));
            }
        }
        assert_eq!(allowed, 3, "a burst of the rate");
        let (d, _) = gcra(tat, 11_000, window, interval);
        assert!(d.is_allowed(), "one more after an interval");
        assert_eq!(
            CooldownDecision::RetryAfter(Duration::from_millis(1200))
                .message()
                .as_deref(),
            Some("try again in 2 s")
        );
        assert!(Cooldown::new(0, Duration::from_secs(1)).params().is_err());
    }
}
