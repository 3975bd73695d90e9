//! [`ScopedVault`]: a vault handle bound to one principal (what the runtime hands to
//! each actor), so the code holding it cannot choose who it acts as.

use std::time::Duration;

use secrecy::SecretString;

use super::actor::VaultMsg;
use super::error::VaultError;
use super::handle::VaultHandle;
use super::lease::Lease;
use super::path::{SecretKind, SecretPath};
use super::principal::{Capability, Principal};

/// A vault handle bound to one principal: the principal cannot be chosen by the code
/// holding it.
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

    /// [`VaultHandle::lease`] as this principal.
    ///
    /// # Errors
    /// As [`VaultHandle::lease`].
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

    /// [`VaultHandle::put`] as this principal.
    ///
    /// # Errors
    /// As [`VaultHandle::put`].
    pub async fn put(
        &self,
        path: SecretPath,
        kind: SecretKind,
        value: SecretString,
    ) -> Result<u64, VaultError> {
        self.vault.put(&self.principal, path, kind, value).await
    }

    /// [`VaultHandle::delete`] as this principal.
    ///
    /// # Errors
    /// As [`VaultHandle::delete`].
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
