//! How a gateway start error maps to an [`AccessExit`].

use super::error::GatewayError;
use crate::actors::access::AccessExit as GatewayExit;
use crate::vault::VaultError;

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
