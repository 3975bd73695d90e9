//! The token lease both halves of the access layer hold: taking it with the
//! [`ScopedVault`] the tenant supervisor minted for the actor (its own principal),
//! and forwarding its events to the actor.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::config::TenantConfig;
use crate::vault::{Capability, Lease, LeaseEvent, Principal, ScopedVault, SecretPath, VaultError};

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

/// Leases the tenant's bot token for `capability` with the actor's scope, which must
/// be bound to the matching access principal of this very tenant
/// (`provider.gateway`: exclusive, as its gateway; else as its REST actor). A scope
/// minted for another principal is refused here, before the vault is asked.
///
/// # Errors
/// [`VaultError::PolicyDenied`] for a scope of another principal, or as
/// [`ScopedVault::lease`].
pub(crate) async fn acquire(
    vault: &ScopedVault,
    tenant: &TenantConfig,
    capability: Capability,
    ttl: Option<Duration>,
) -> Result<Lease, VaultError> {
    let path = token_path(tenant)?;
    let own = tenant.id();
    let matches = match vault.principal() {
        Principal::Gateway(t) => capability == Capability::ProviderGateway && *t == own,
        Principal::Rest(t) => capability == Capability::ProviderRest && *t == own,
        _ => false,
    };
    if !matches {
        return Err(VaultError::PolicyDenied {
            principal: vault.principal().to_string(),
            capability,
            path: path.to_string(),
            reason: format!("this scope was not minted for the access actor of {own}"),
        });
    }
    vault.lease(path, capability, ttl).await
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
