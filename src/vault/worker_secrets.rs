//! [`WorkerSecrets`]: the worker pool's capability, the source of `Ctx::secret`.
//!
//! Minted by the runtime with [`VaultHandle::worker_secrets`] and handed to the worker
//! pool (`WorkerPoolConfig::secrets`); handlers never see it. It can do one thing:
//! lease an app secret (`secret.read`) of the tenant a worker is serving, as
//! `Principal::Worker { serving: Some(tenant) }`. The tenant is the one of the
//! envelope the worker is handling (the worker builds the handler's `Ctx` from the
//! envelope), and the secret's path is built from that tenant and a single name
//! segment, so no other tenant's path can be named.
//!
//! The vault's policy decides as usual (the default grants a worker `secret.read` on
//! its served tenant's paths only). On top of it, and whatever the policy says, the
//! capability fails closed on anything but an app secret: it only asks for
//! `secret.read` (which the store refuses on a provider credential) and checks the
//! kind and path of the lease it got back before handing out the value.

use secrecy::SecretString;

use super::error::VaultError;
use super::handle::VaultHandle;
use super::path::{SecretKind, SecretPath};
use super::principal::{Capability, Principal};
use crate::model::TenantId;

/// The worker pool's capability: the app secrets of the tenant being served, and
/// nothing else. Minted by [`VaultHandle::worker_secrets`]; cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), switchboard::vault::VaultError> {
/// use secrecy::{ExposeSecret, SecretString};
/// use switchboard::vault::{SecretKind, TenantId, VaultConfig, VaultError, VaultHandle};
///
/// let vault = VaultHandle::memory(VaultConfig::default()).await?;
/// vault
///     .publish_tenant(
///         "discord",
///         "duck",
///         [
///             ("llm_key", SecretString::from("sk-duck"), SecretKind::AppSecret),
///             ("bot_token", SecretString::from("xyz"), SecretKind::ProviderCredential),
///         ],
///     )
///     .await?;
/// let secrets = vault.worker_secrets();
/// let duck = TenantId::parse("discord", "duck")?;
/// assert_eq!(secrets.app_secret(&duck, "llm_key").await?.expose_secret(), "sk-duck");
/// let token = secrets.app_secret(&duck, "bot_token").await;
/// assert!(matches!(token, Err(VaultError::PolicyDenied { .. })));
/// # vault.stop();
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct WorkerSecrets {
    vault: VaultHandle,
}

impl WorkerSecrets {
    pub(super) fn new(vault: VaultHandle) -> Self {
        Self { vault }
    }

    /// Leases app secret `name` of `serving` as `Worker { serving }` and returns its
    /// value. The lease is released at once: the value is handed out for one handler
    /// run.
    ///
    /// # Errors
    /// [`VaultError::InvalidPath`] when `name` is not one segment
    /// (`[a-z0-9_-]{1,64}`), [`VaultError::PolicyDenied`] when the policy refuses or
    /// the secret is not an app secret (a provider credential is always refused),
    /// [`VaultError::NotFound`], [`VaultError::Unavailable`].
    pub async fn app_secret(
        &self,
        serving: &TenantId,
        name: &str,
    ) -> Result<SecretString, VaultError> {
        let path = SecretPath::new(serving.provider.as_str(), serving.tenant.as_str(), name)?;
        let principal = Principal::Worker {
            serving: Some(serving.clone()),
        };
        let lease = self
            .vault
            .lease(&principal, path.clone(), Capability::SecretRead, None)
            .await?;
        // Defence in depth: whatever the policy (or a bug below it) let through, hand
        // out nothing but an app secret of the served tenant at the path asked for.
        let refused = if lease.kind() != SecretKind::AppSecret {
            Some(format!(
                "a secret of kind {} is never handed to a worker",
                lease.kind()
            ))
        } else if lease.path() != &path {
            Some(format!("the vault leased {} instead", lease.path()))
        } else {
            None
        };
        if let Some(reason) = refused {
            // Dropping the lease releases it.
            drop(lease);
            return Err(VaultError::PolicyDenied {
                principal: principal.to_string(),
                capability: Capability::SecretRead,
                path: path.to_string(),
                reason,
            });
        }
        let value = lease.secret()?.clone();
        // Dropping the lease releases it: the value is handed out once, for this
        // handler run.
        drop(lease);
        Ok(value)
    }
}
