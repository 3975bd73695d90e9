//! Publishing the registry's credentials and app secrets into the vault: at start,
//! periodically (so a Redis that lost its data is refilled) and on reload.
//!
//! The vault remembers what was published, so between two periodic publishes a lease
//! on a secret the store lost republishes its tenant at once (see
//! `VaultHandle::publish_tenant`); each publish here also tells the vault to forget
//! tenants no longer in the registry.

use secrecy::SecretString;

use crate::config::{Registry, TenantConfig};
use crate::vault::{SecretKind, VaultHandle};

fn items(t: &TenantConfig) -> Vec<(String, SecretString, SecretKind)> {
    let mut out = Vec::new();
    if let Some(token) = &t.credentials.bot_token {
        out.push((
            "bot_token".to_owned(),
            token.clone(),
            SecretKind::ProviderCredential,
        ));
    }
    if let Some(secret) = &t.credentials.client_secret {
        out.push((
            "client_secret".to_owned(),
            secret.clone(),
            SecretKind::ProviderCredential,
        ));
    }
    for (name, value) in &t.secrets {
        out.push((name.clone(), value.clone(), SecretKind::AppSecret));
    }
    out
}

/// Publishes every tenant's secrets, and has the vault forget what it remembers of
/// tenants the registry no longer has. Errors are per tenant: logged, counted, and the
/// rest go on.
pub(crate) async fn publish_all(vault: &VaultHandle, registry: &Registry) -> usize {
    let configured: std::collections::HashSet<(&str, &str)> = registry
        .tenants
        .iter()
        .map(|t| (t.provider.as_str(), t.tenant.as_str()))
        .collect();
    vault.retain_published(|t| configured.contains(&(t.provider.as_str(), t.tenant.as_str())));
    let mut failed = 0;
    for t in &registry.tenants {
        if let Err(e) = vault
            .publish_tenant(t.provider.as_str(), t.tenant.as_str(), items(t))
            .await
        {
            failed += 1;
            metrics::counter!("switchboard_vault_publish_errors_total").increment(1);
            tracing::error!(provider = %t.provider, tenant = %t.tenant, error = %crate::Report(&e), "publishing credentials failed");
        }
    }
    failed
}

/// A fingerprint of a tenant's secrets (SHA-256 over names and values), so a reload
/// can tell a changed token without keeping a second copy of it.
pub(crate) fn fingerprint(t: &TenantConfig) -> [u8; 32] {
    use secrecy::ExposeSecret;
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (name, value, _) in items(t) {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(value.expose_secret().as_bytes());
        h.update([0]);
    }
    h.finalize().into()
}
