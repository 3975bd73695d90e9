//! [`ScopedVault`]: a vault handle bound to one principal, so the code holding it
//! cannot choose who it acts as.
//!
//! Scopes are minted by the holder of the [`VaultHandle`] — the runtime and its
//! supervisors — and by nobody else: [`VaultHandle::gateway_scope`] and
//! [`VaultHandle::rest_scope`] (the tenant supervisor, for the gateway and REST
//! actors it starts), [`VaultHandle::worker_scope`], [`VaultHandle::admin_scope`] and
//! [`VaultHandle::named_scope`]. The principal is fixed at minting; the scope has no
//! way to change it or to hand out the `VaultHandle` behind it. The worker pool does
//! not get a scope at all but a narrower [`WorkerSecrets`](super::WorkerSecrets).

use std::time::Duration;

use secrecy::SecretString;

use super::actor::VaultMsg;
use super::error::VaultError;
use super::handle::VaultHandle;
use super::lease::Lease;
use super::path::{SecretKind, SecretPath};
use super::principal::{Capability, Principal};

/// A vault handle bound to one principal: the principal cannot be chosen by the code
/// holding it. Minted by the [`VaultHandle`]'s holder (see the module docs).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), switchboard::vault::VaultError> {
/// use secrecy::SecretString;
/// use switchboard::vault::{Capability, SecretKind, TenantId, VaultConfig, VaultError, VaultHandle};
///
/// let vault = VaultHandle::memory(VaultConfig::default()).await?;
/// for tenant in ["duck", "goose"] {
///     let token = SecretString::from(format!("token-of-{tenant}"));
///     vault
///         .publish_tenant("discord", tenant, [("bot_token", token, SecretKind::ProviderCredential)])
///         .await?;
/// }
/// let rest = vault.rest_scope(&TenantId::parse("discord", "duck")?);
/// assert_eq!(rest.principal().to_string(), "rest(discord/duck)");
/// rest.lease("discord/duck/bot_token".parse()?, Capability::ProviderRest, None)
///     .await?;
/// let other = rest
///     .lease("discord/goose/bot_token".parse()?, Capability::ProviderRest, None)
///     .await;
/// assert!(matches!(other, Err(VaultError::PolicyDenied { .. })));
/// # vault.stop();
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ScopedVault {
    vault: VaultHandle,
    principal: Principal,
}

impl ScopedVault {
    pub(super) fn new(vault: VaultHandle, principal: Principal) -> Self {
        Self { vault, principal }
    }

    /// The bound principal.
    #[must_use]
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Leases the secret at `path` for `capability` as this principal, for `ttl` (the
    /// configured default if `None`; capped by the maximum). The returned [`Lease`]
    /// holds the value, renews itself at about 2/3 of its TTL and reports events.
    ///
    /// # Errors
    /// [`VaultError::PolicyDenied`] (audited), [`VaultError::NotFound`],
    /// [`VaultError::QuotaExceeded`], [`VaultError::AlreadyHeld`] (exclusive
    /// `provider.gateway`), [`VaultError::Unavailable`], [`VaultError::Decrypt`].
    pub async fn lease(
        &self,
        path: SecretPath,
        capability: Capability,
        ttl: Option<Duration>,
    ) -> Result<Lease, VaultError> {
        self.vault
            .lease(&self.principal, path, capability, ttl)
            .await
    }

    /// Writes (or rotates) a secret as this principal: a new current version; the old
    /// one becomes the previous version and its holders get
    /// [`LeaseEvent::Rotated`](super::LeaseEvent::Rotated). Returns the new version.
    ///
    /// # Errors
    /// [`VaultError::PolicyDenied`] without `secret.write`, [`VaultError::Unavailable`].
    pub async fn put(
        &self,
        path: SecretPath,
        kind: SecretKind,
        value: SecretString,
    ) -> Result<u64, VaultError> {
        self.vault.put(&self.principal, path, kind, value).await
    }

    /// Rotates a secret as this principal: [`ScopedVault::put`] of a new value.
    ///
    /// # Errors
    /// As [`ScopedVault::put`].
    pub async fn rotate(
        &self,
        path: SecretPath,
        kind: SecretKind,
        value: SecretString,
    ) -> Result<u64, VaultError> {
        self.put(path, kind, value).await
    }

    /// Deletes a secret as this principal and revokes its leases; `false` if there
    /// was none.
    ///
    /// # Errors
    /// [`VaultError::PolicyDenied`] without `secret.write`, [`VaultError::Unavailable`].
    pub async fn delete(&self, path: SecretPath) -> Result<bool, VaultError> {
        self.vault.delete(&self.principal, path).await
    }

    /// Revokes a lease, if this principal has `lease.revoke` on its path (a denial is
    /// audited).
    ///
    /// # Errors
    /// [`VaultError::PolicyDenied`], or as [`VaultHandle::revoke`].
    pub async fn revoke(&self, lease_id: &str) -> Result<bool, VaultError> {
        let id = lease_id.to_owned();
        let principal = self.principal.clone();
        self.vault
            .call(|reply| VaultMsg::Revoke {
                id,
                by: principal.to_string(),
                check: Some(principal),
                reply: Some(reply),
            })
            .await
    }
}
