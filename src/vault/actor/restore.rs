//! Recovering from a store that lost its data (Redis restarted empty): lease records
//! restored from their holders, secrets refilled from what was published.
//!
//! A renewal that finds no record asks the store to restore it from the holder's
//! view ([`Backend::restore`]): the store answers "revoked" if a tombstone says the
//! lease was revoked, "lost" if another holder took the exclusive lock meanwhile, and
//! otherwise puts the record (and the lock, and a fencing counter at least the
//! holder's fence) back. A grant that finds a published secret missing republishes
//! its tenant at once instead of failing until the runtime's periodic republish.

use super::{VaultActor, VaultState};
use crate::vault::backend::{Backend, GrantRequest, Granted, LeaseRecord};
use crate::vault::error::VaultError;
use crate::vault::lease::LeaseShared;
use crate::vault::path::SecretPath;

impl<B: Backend> VaultActor<B> {
    /// The holder's view of a lease, as the store would keep it.
    pub(super) fn record_of(holder: &LeaseShared, now_ms: u64) -> LeaseRecord {
        LeaseRecord {
            id: holder.id.clone(),
            path: holder.path.clone(),
            principal_key: holder.principal_key.clone(),
            principal: holder.principal.clone(),
            capability: holder.capability,
            version: holder.version,
            // The grant time is not kept in the handle; the restore time stands in.
            issued_ms: now_ms,
            expires_ms: holder.expires_ms(),
            max_expires_ms: holder.max_expires_ms,
            renewable: holder.renewable,
            fence: holder.fence,
        }
    }

    /// After a lease record was restored: logs, counts, and refills its secret if the
    /// store lost that too (so the next grant on it finds it).
    pub(super) async fn restored(
        &self,
        st: &mut VaultState<B>,
        id: &str,
        path: &SecretPath,
        secret_missing: bool,
    ) {
        metrics::counter!("switchboard_vault_leases_restored_total").increment(1);
        let exclusive = st.local.get(id).is_some_and(|l| l.fence.is_some());
        tracing::warn!(
            target: "switchboard::vault",
            provider = path.provider(), tenant = path.tenant(), secret = path.name(), exclusive,
            "lease record was missing from the store (did it lose its data?); restored it from its holder"
        );
        if secret_missing {
            self.refill_lost(st, path).await;
        }
    }

    /// Grants; if the secret is missing but was published (the store lost it),
    /// republishes its tenant and grants again.
    pub(super) async fn grant_or_refill(
        &self,
        st: &mut VaultState<B>,
        req: &GrantRequest,
        now_ms: u64,
    ) -> Result<Granted, VaultError> {
        let r = st.backend.grant(req, now_ms).await;
        if matches!(r, Err(VaultError::NotFound { .. }))
            && self.refill_lost(st, &req.record.path).await
        {
            return st.backend.grant(req, self.clock.now_ms()).await;
        }
        r
    }

    /// Republishes the tenant of `path` from what was published, if `path` was; returns
    /// whether it did (then a grant is worth trying again).
    pub(super) async fn refill_lost(&self, st: &mut VaultState<B>, path: &SecretPath) -> bool {
        let Some((tenant, items)) = self.published.tenant_of(path) else {
            return false;
        };
        match self.publish(st, &tenant, items).await {
            Ok(report) => {
                metrics::counter!("switchboard_vault_secrets_republished_total")
                    .increment(report.written as u64);
                tracing::warn!(
                    target: "switchboard::vault",
                    provider = %tenant.provider, tenant = %tenant.tenant, secret = path.name(),
                    written = report.written,
                    "a published secret was missing from the store (did it lose its data?); republished the tenant's secrets"
                );
                true
            }
            Err(e) => {
                tracing::warn!(
                    target: "switchboard::vault",
                    provider = %tenant.provider, tenant = %tenant.tenant, error = %crate::Report(&e),
                    "republishing a tenant's missing secrets failed"
                );
                false
            }
        }
    }
}
