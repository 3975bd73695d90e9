//! Lease operations of the vault actor: grant, renew, revoke (one, by prefix, by
//! principal) and the sweep of expired leases.

use std::sync::Arc;
use std::time::Duration;

use super::{VaultActor, VaultState};
use crate::vault::audit::AuditEvent;
use crate::vault::backend::{Backend, GrantRequest, LeaseRecord, Removal, RenewOutcome};
use crate::vault::error::VaultError;
use crate::vault::lease::{LeaseShared, NewLease};
use crate::vault::path::{SecretPath, new_lease_id, parse_lease_id};
use crate::vault::principal::{Capability, Principal};

impl<B: Backend> VaultActor<B> {
    pub(super) async fn lease(
        &self,
        st: &mut VaultState<B>,
        principal: &Principal,
        path: SecretPath,
        capability: Capability,
        ttl: Option<Duration>,
    ) -> Result<Arc<LeaseShared>, VaultError> {
        let Some(kind) = capability.leases() else {
            return Err(self.deny(
                st,
                principal,
                capability,
                &path,
                format!("{capability} does not grant leases"),
            ));
        };
        if let Err(reason) = self.config.policy.check(principal, capability, &path) {
            return Err(self.deny(st, principal, capability, &path, reason));
        }
        let max_ms = self.config.max_ttl.as_millis() as u64;
        let ttl_ms =
            (ttl.unwrap_or(self.config.default_ttl).as_millis() as u64).clamp(1, max_ms.max(1));
        let now = self.clock.now_ms();
        let record = LeaseRecord {
            id: new_lease_id(&path),
            path,
            principal_key: principal.key(),
            principal: principal.to_string(),
            capability,
            version: 0,
            issued_ms: now,
            expires_ms: now + ttl_ms,
            max_expires_ms: now + max_ms.max(ttl_ms),
            renewable: true,
            fence: None,
        };
        let req = GrantRequest {
            record,
            kind,
            quota: self.config.quota_per_principal,
            exclusive: capability.is_exclusive(),
        };
        let r = self.grant_or_refill(st, &req, now).await;
        Self::note_backend(st, &r);
        let rec = req.record;
        let path_s = rec.path.to_string();
        match r {
            Ok(g) => {
                let detail = format!(
                    "version {} ttl {}ms{}",
                    g.version,
                    ttl_ms,
                    g.fence.map(|f| format!(" fence {f}")).unwrap_or_default()
                );
                self.audit(
                    st,
                    AuditEvent::Grant,
                    &rec.principal,
                    Some(capability),
                    &path_s,
                    Some(&rec.id),
                    Some(detail),
                );
                let shared = Arc::new(LeaseShared::new(
                    NewLease {
                        id: rec.id.clone(),
                        path: rec.path,
                        principal_key: rec.principal_key,
                        principal: rec.principal.clone(),
                        capability,
                        kind,
                        version: g.version,
                        fence: g.fence,
                        renewable: rec.renewable,
                        ttl_ms,
                        expires_ms: rec.expires_ms,
                        max_expires_ms: rec.max_expires_ms,
                        secret: g.secret,
                    },
                    self.clock,
                ));
                st.local.insert(rec.id, Arc::clone(&shared));
                Ok(shared)
            }
            Err(
                e @ (VaultError::PolicyDenied { .. }
                | VaultError::QuotaExceeded { .. }
                | VaultError::AlreadyHeld { .. }),
            ) => {
                self.audit(
                    st,
                    AuditEvent::Deny,
                    &rec.principal,
                    Some(capability),
                    &path_s,
                    None,
                    Some(e.to_string()),
                );
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Renews one lease (an explicit renewal by id or through [`Lease::renew`]); audited
    /// on its own.
    ///
    /// [`Lease::renew`]: crate::vault::Lease::renew
    pub(super) async fn renew(
        &self,
        st: &mut VaultState<B>,
        id: &str,
        increment: Duration,
        holder: Option<&LeaseShared>,
    ) -> Result<Duration, VaultError> {
        let (path, _) = parse_lease_id(id)?;
        let now = self.clock.now_ms();
        let increment_ms = increment.as_millis() as u64;
        let r = st.backend.renew(id, now, increment_ms).await;
        let renewed = self
            .settle_renewal(st, id, &path, holder, now, increment_ms, r)
            .await?;
        self.audit_renewal(st, id, &path, &renewed);
        Ok(renewed.ttl)
    }

    /// Renews the renewal schedule's batch: one `renew_many` (one round trip per
    /// chunk on Redis), then each lease settled on its own. Successful plain renewals
    /// are audited as one summary record; a restored record, and every renewal that
    /// ended a lease, get a record of their own.
    pub(super) async fn renew_many(
        &self,
        st: &mut VaultState<B>,
        holders: &[Arc<LeaseShared>],
    ) -> Vec<Result<Duration, VaultError>> {
        // A restarted actor adopts the leases its holders renew.
        for h in holders {
            st.local.adopt(&h.id, h);
        }
        let now = self.clock.now_ms();
        let items: Vec<(&str, u64)> = holders.iter().map(|h| (h.id.as_str(), h.ttl_ms)).collect();
        let mut results = st.backend.renew_many(&items, now).await;
        // A backend that answered short leaves the rest unanswered (retried).
        results.resize_with(holders.len(), || {
            Err(VaultError::Unavailable {
                backend: st.backend.name(),
                reason: "no answer for this lease".to_owned(),
            })
        });
        let mut out = Vec::with_capacity(holders.len());
        let mut plain = 0_usize;
        for (h, r) in holders.iter().zip(results) {
            let settled = self
                .settle_renewal(st, &h.id, &h.path, Some(h), now, h.ttl_ms, r)
                .await;
            out.push(settled.map(|renewed| {
                if renewed.restored {
                    self.audit_renewal(st, &h.id, &h.path, &renewed);
                } else {
                    plain += 1;
                }
                renewed.ttl
            }));
        }
        if plain > 0 {
            metrics::counter!("switchboard_vault_renewal_batches_total").increment(1);
            self.audit(
                st,
                AuditEvent::Renew,
                "system",
                None,
                "*",
                None,
                Some(format!("renewed {plain} leases in one batch")),
            );
        }
        out
    }

    /// Finishes one renewal: restores a record the store lost (from its holder),
    /// tells the holder (renewed, rotated, or ended) and audits a renewal that ended
    /// the lease.
    #[allow(clippy::too_many_arguments)] // one renewal's facts, named at each call
    async fn settle_renewal(
        &self,
        st: &mut VaultState<B>,
        id: &str,
        path: &SecretPath,
        holder: Option<&LeaseShared>,
        now: u64,
        increment_ms: u64,
        mut r: Result<RenewOutcome, VaultError>,
    ) -> Result<Renewed, VaultError> {
        let mut restored = false;
        if matches!(r, Err(VaultError::LeaseNotFound { .. })) {
            // A holder still has it and the store does not: lost with the store's
            // data, or revoked (then a tombstone says so). The store decides.
            let record = holder
                .or_else(|| st.local.get(id).map(AsRef::as_ref))
                .map(|h| Self::record_of(h, now));
            if let Some(record) = record {
                r = st.backend.restore(&record, now, increment_ms).await;
                restored = r.is_ok();
            }
        }
        Self::note_backend(st, &r);
        match r {
            Ok(out) => {
                if restored {
                    self.restored(st, id, path, out.current_version.is_none())
                        .await;
                }
                if let Some(l) = st.local.get(id) {
                    l.renewed(out.expires_ms);
                    if let Some(v) = out.current_version {
                        l.rotated(v);
                    }
                }
                Ok(Renewed {
                    ttl: Duration::from_millis(out.expires_ms.saturating_sub(now)),
                    restored,
                })
            }
            Err(e) => {
                let ended = match &e {
                    VaultError::LeaseExpired { .. } => Some(true),
                    VaultError::LeaseNotFound { .. } | VaultError::LeaseRevoked { .. } => {
                        Some(false)
                    }
                    _ => None,
                };
                if let Some(expired) = ended
                    && let Some(l) = st.local.remove(id)
                {
                    l.end(expired);
                    self.audit(
                        st,
                        AuditEvent::Renew,
                        &l.principal,
                        Some(l.capability),
                        &path.to_string(),
                        Some(id),
                        Some(format!("refused: {e}")),
                    );
                }
                Err(e)
            }
        }
    }

    /// One renewal's own audit record.
    fn audit_renewal(&self, st: &VaultState<B>, id: &str, path: &SecretPath, renewed: &Renewed) {
        let local = st.local.get(id);
        let principal = local.map_or("-", |l| l.principal.as_str());
        let restored = if renewed.restored { ", restored" } else { "" };
        self.audit(
            st,
            AuditEvent::Renew,
            principal,
            local.map(|l| l.capability),
            &path.to_string(),
            Some(id),
            Some(format!("ttl {}ms{restored}", renewed.ttl.as_millis())),
        );
    }

    pub(super) async fn revoke(
        &self,
        st: &mut VaultState<B>,
        id: &str,
        by: &str,
    ) -> Result<bool, VaultError> {
        let (path, _) = parse_lease_id(id)?;
        // Stop serving the secret locally first, whatever the store says.
        let local = st.local.remove(id);
        if let Some(l) = &local {
            l.end(false);
        }
        let now = self.clock.now_ms();
        // The tombstone outlives whatever the lease could still live; without a local
        // holder or a record, the longest any lease lives.
        let until_ms = local.as_ref().map_or_else(
            || now + self.config.max_ttl.as_millis() as u64,
            |l| l.max_expires_ms,
        );
        let r = st
            .backend
            .revoke(
                id,
                Removal::Revoked {
                    now_ms: now,
                    until_ms,
                },
            )
            .await;
        Self::note_backend(st, &r);
        let removed = r?;
        if let Some(rec) = &removed {
            self.audit(
                st,
                AuditEvent::Revoke,
                &rec.principal,
                Some(rec.capability),
                &path.to_string(),
                Some(id),
                Some(format!("by {by}")),
            );
        }
        Ok(removed.is_some() || local.is_some())
    }

    pub(super) async fn revoke_checked(
        &self,
        st: &mut VaultState<B>,
        id: &str,
        principal: &Principal,
    ) -> Result<bool, VaultError> {
        let (path, _) = parse_lease_id(id)?;
        if let Err(reason) = self
            .config
            .policy
            .check(principal, Capability::LeaseRevoke, &path)
        {
            return Err(self.deny(st, principal, Capability::LeaseRevoke, &path, reason));
        }
        self.revoke(st, id, &principal.to_string()).await
    }

    async fn revoke_ids(
        &self,
        st: &mut VaultState<B>,
        mut ids: Vec<String>,
        by: &str,
    ) -> Result<usize, VaultError> {
        ids.sort();
        ids.dedup();
        let mut n = 0;
        let mut first_err = None;
        for id in ids {
            match self.revoke(st, &id, by).await {
                Ok(true) => n += 1,
                Ok(false) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(n), Err)
    }

    pub(super) async fn revoke_prefix(
        &self,
        st: &mut VaultState<B>,
        prefix: &str,
    ) -> Result<usize, VaultError> {
        let mut ids: Vec<String> = st
            .local
            .ids()
            .filter(|id| id.starts_with(prefix))
            .cloned()
            .collect();
        let r = st.backend.lease_ids_with_prefix(prefix).await;
        Self::note_backend(st, &r);
        let stored = r;
        if let Ok(more) = &stored {
            ids.extend(more.iter().cloned());
        }
        let n = self
            .revoke_ids(st, ids, &format!("revoke_prefix {prefix}"))
            .await?;
        stored.map(|_| n)
    }

    pub(super) async fn revoke_principal(
        &self,
        st: &mut VaultState<B>,
        principal: &Principal,
    ) -> Result<usize, VaultError> {
        let key = principal.key();
        let mut ids: Vec<String> = st
            .local
            .leases()
            .filter(|l| l.principal_key == key)
            .map(|l| l.id.clone())
            .collect();
        let r = st.backend.lease_ids_of(&key).await;
        Self::note_backend(st, &r);
        let stored = r;
        if let Ok(more) = &stored {
            ids.extend(more.iter().cloned());
        }
        let n = self
            .revoke_ids(st, ids, &format!("revoke_principal {principal}"))
            .await?;
        stored.map(|_| n)
    }

    /// Writes a secret; returns `(version, changed)`. Tells local holders of older
    /// versions that it rotated.
    pub(super) async fn sweep(&self, st: &mut VaultState<B>) {
        let now = self.clock.now_ms();
        // Local leases first: they end on time even if the store is unreachable.
        let ended: Vec<String> = st
            .local
            .leases()
            .filter(|l| l.expires_ms() <= now || !l.is_active())
            .map(|l| l.id.clone())
            .collect();
        for id in ended {
            if let Some(l) = st.local.remove(&id) {
                l.end(true);
            }
        }
        let r = st.backend.expired_lease_ids(now, 256).await;
        Self::note_backend(st, &r);
        let Ok(ids) = r else { return };
        for id in ids {
            match st
                .backend
                .revoke(&id, Removal::Expired { at_ms: now })
                .await
            {
                Ok(Some(rec)) => {
                    self.audit(
                        st,
                        AuditEvent::Expire,
                        &rec.principal,
                        Some(rec.capability),
                        &rec.path.to_string(),
                        Some(&id),
                        None,
                    );
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(target: "switchboard::vault", error = %crate::Report(&e), "sweep stopped");
                    return;
                }
            }
        }
    }
}

/// A renewal that went through.
struct Renewed {
    /// Time the lease now has left.
    ttl: Duration,
    /// Whether its record had to be restored from the holder first.
    restored: bool,
}
