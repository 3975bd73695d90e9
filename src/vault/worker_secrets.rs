//! The vault as the source of a handler's app secrets (`Ctx::secret`).
//!
//! A worker leases as `Principal::Worker { serving: Some(tenant) }`, bound to the
//! tenant whose envelope it is handling, with `secret.read`: the default policy grants
//! that only for the tenant's own app secrets, never for a provider credential.

use futures_util::future::BoxFuture;
use secrecy::SecretString;

use super::{Capability, Principal, SecretPath, TenantRef, VaultHandle};
use crate::handler::SecretSource;
use crate::model::TenantId;

impl SecretSource for VaultHandle {
    fn app_secret<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, Result<SecretString, String>> {
        Box::pin(async move {
            let serving = TenantRef::new(tenant.provider.as_str(), tenant.tenant.as_str())
                .map_err(|e| e.to_string())?;
            let path = SecretPath::new(tenant.provider.as_str(), tenant.tenant.as_str(), name)
                .map_err(|e| e.to_string())?;
            let principal = Principal::Worker {
                serving: Some(serving),
            };
            let lease = self
                .lease(&principal, path, Capability::SecretRead, None)
                .await
                .map_err(|e| e.to_string())?;
            let value = lease.secret().map_err(|e| e.to_string())?.clone();
            // Dropping the lease releases it: the value is handed out once, for this
            // handler run.
            drop(lease);
            Ok(value)
        })
    }
}
