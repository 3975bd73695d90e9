//! [`GatewayExit`]: why a gateway stopped on its own, as a type its supervisor
//! matches on (no stop-reason strings parsed back).

use super::error::GatewayError;
use crate::vault::VaultError;

/// Why a tenant's gateway stopped, or could not start, on its own.
///
/// A supervisor reads it with [`GatewayHandle::exit`](super::GatewayHandle::exit)
/// (after the actor stopped) or [`GatewayError::exit`] (when it could not start);
/// `None` from either means an ordinary failure: restart within the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GatewayExit {
    /// Retrying cannot help (a rejected token, disallowed intents, bad
    /// configuration): leave the tenant failed with this reason.
    Fatal(String),
    /// Another gateway — another node — holds the tenant's exclusive lease: stand by
    /// and take over when it expires. Not a failure; no restart budget is spent.
    HeldElsewhere,
    /// This gateway lost its lease (expired while the store was unreachable or the
    /// process was paused, or revoked): take it back if it is free, else stand by.
    LeaseLost(String),
    /// The vault's store could not be reached to take the lease: look again when it
    /// is back (not a failure of the tenant; no restart budget is spent).
    StoreUnavailable(String),
}

impl GatewayError {
    /// What the supervisor should make of a gateway that could not start.
    #[must_use]
    pub fn exit(&self) -> Option<GatewayExit> {
        if self.is_fatal() {
            Some(GatewayExit::Fatal(self.to_string()))
        } else if matches!(self, Self::Lease(VaultError::AlreadyHeld { .. })) {
            Some(GatewayExit::HeldElsewhere)
        } else if matches!(self, Self::Lease(e) if e.is_unavailable()) {
            Some(GatewayExit::StoreUnavailable(self.to_string()))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_exits() {
        let held = GatewayError::Lease(VaultError::AlreadyHeld {
            path: "discord/duck/bot_token".into(),
        });
        assert_eq!(held.exit(), Some(GatewayExit::HeldElsewhere));
        assert!(matches!(
            GatewayError::Unauthorized.exit(),
            Some(GatewayExit::Fatal(r)) if r.contains("401")
        ));
        let down = GatewayError::Lease(VaultError::Unavailable {
            backend: "redis",
            reason: "down".into(),
        });
        assert!(
            matches!(down.exit(), Some(GatewayExit::StoreUnavailable(_))),
            "an outage is waited out"
        );
        assert_eq!(GatewayError::Store("x".into()).exit(), None, "retried");
    }
}
