//! The token lease both halves of the access layer hold: taking it as the
//! principal of the capability, and forwarding its events to the actor.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::config::TenantConfig;
use crate::vault::{Capability, Lease, LeaseEvent, Principal, SecretPath, VaultError, VaultHandle};

/// The vault path of a tenant's bot token.
///
/// # Errors
/// [`VaultError::InvalidPath`] (names are validated with the registry, so only a bug
/// reaches it).
pub(crate) fn token_path(tenant: &TenantConfig) -> Result<SecretPath, VaultError> {
    SecretPath::new(
        tenant.provider.as_str(),
        tenant.tenant.as_str(),
        "bot_token",
    )
}

/// Leases the tenant's bot token for `capability` as the matching access principal
/// (`provider.gateway`: exclusive, as the gateway; else as the REST actor).
pub(crate) async fn acquire(
    vault: &VaultHandle,
    tenant: &TenantConfig,
    capability: Capability,
    ttl: Option<Duration>,
) -> Result<Lease, VaultError> {
    let (p, t) = (tenant.provider.as_str(), tenant.tenant.as_str());
    let principal = if capability == Capability::ProviderGateway {
        Principal::gateway(p, t)?
    } else {
        Principal::rest(p, t)?
    };
    vault
        .lease(&principal, token_path(tenant)?, capability, ttl)
        .await
}

/// Forwards the lease's events to `deliver` until it returns `false` or the lease
/// is gone.
pub(crate) fn forward(
    lease: &Lease,
    deliver: impl Fn(LeaseEvent) -> bool + Send + 'static,
) -> JoinHandle<()> {
    let mut rx = lease.subscribe();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    if !deliver(ev) {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    })
}
