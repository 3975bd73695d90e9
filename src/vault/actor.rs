//! The vault actor: policy checks, grants, renewals, revocations, the sweep, and the
//! bookkeeping of the leases this vault handed out (to notify their holders).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use secrecy::SecretString;
use tokio::task::JoinHandle;

use super::audit::{AuditEvent, AuditRecord, Auditor, Entry};
use super::backend::{Backend, GrantRequest, LeaseRecord};
use super::clock::Clock;
use super::config::VaultConfig;
use super::error::VaultError;
use super::handle::{PublishReport, VaultStats};
use super::lease::{LeaseShared, NewLease};
use super::path::{SecretKind, SecretPath, new_lease_id, parse_lease_id};
use super::principal::{Capability, Principal, TenantRef};

type Reply<T> = RpcReplyPort<Result<T, VaultError>>;

/// The vault's messages. Each request carries its reply port.
pub(crate) enum VaultMsg {
    Lease {
        principal: Principal,
        path: SecretPath,
        capability: Capability,
        ttl: Option<Duration>,
        reply: Reply<Arc<LeaseShared>>,
    },
    Renew {
        id: String,
        increment: Duration,
        reply: Reply<Duration>,
    },
    Revoke {
        id: String,
        by: String,
        /// Check that this principal has `lease.revoke` on the lease's path first.
        check: Option<Principal>,
        reply: Option<Reply<bool>>,
    },
    RevokePrefix {
        prefix: String,
        reply: Reply<usize>,
    },
    RevokePrincipal {
        principal: Principal,
        reply: Reply<usize>,
    },
    Put {
        principal: Principal,
        path: SecretPath,
        kind: SecretKind,
        value: SecretString,
        reply: Reply<u64>,
    },
    Delete {
        principal: Principal,
        path: SecretPath,
        reply: Reply<bool>,
    },
    Publish {
        tenant: TenantRef,
        items: Vec<(String, SecretString, SecretKind)>,
        reply: Reply<PublishReport>,
    },
    Audit {
        limit: usize,
        reply: Reply<Vec<AuditRecord>>,
    },
    Stats {
        reply: RpcReplyPort<VaultStats>,
    },
    Sweep,
}

/// The actor; `self` is configuration.
pub(crate) struct VaultActor<B> {
    pub(crate) config: VaultConfig,
    pub(crate) auditor: Auditor,
    pub(crate) clock: Clock,
    pub(crate) _backend: std::marker::PhantomData<fn() -> B>,
}

/// Mutable state, built in `pre_start`.
pub(crate) struct VaultState<B> {
    backend: B,
    /// Leases this vault granted that are still alive, by id.
    local: HashMap<String, Arc<LeaseShared>>,
    sweeper: JoinHandle<()>,
    /// Whether the last backend call worked (to log only the transitions).
    backend_ok: bool,
}

impl<B: Backend> Actor for VaultActor<B> {
    type Msg = VaultMsg;
    type State = VaultState<B>;
    type Arguments = B;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        backend: B,
    ) -> Result<Self::State, ActorProcessingErr> {
        let sweeper = myself.send_interval(self.config.sweep_interval, || VaultMsg::Sweep);
        Ok(VaultState {
            backend,
            local: HashMap::new(),
            sweeper,
            backend_ok: true,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.sweeper.abort();
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        st: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            VaultMsg::Lease {
                principal,
                path,
                capability,
                ttl,
                reply,
            } => {
                let r = self.lease(st, &principal, path, capability, ttl).await;
                let _ = reply.send(r);
            }
            VaultMsg::Renew {
                id,
                increment,
                reply,
            } => {
                let r = self.renew(st, &id, increment).await;
                let _ = reply.send(r);
            }
            VaultMsg::Revoke {
                id,
                by,
                check,
                reply,
            } => {
                let r = match check {
                    Some(p) => self.revoke_checked(st, &id, &p).await,
                    None => self.revoke(st, &id, &by).await,
                };
                if let Some(reply) = reply {
                    let _ = reply.send(r);
                }
            }
            VaultMsg::RevokePrefix { prefix, reply } => {
                let r = self.revoke_prefix(st, &prefix).await;
                let _ = reply.send(r);
            }
            VaultMsg::RevokePrincipal { principal, reply } => {
                let r = self.revoke_principal(st, &principal).await;
                let _ = reply.send(r);
            }
            VaultMsg::Put {
                principal,
                path,
                kind,
                value,
                reply,
            } => {
                let r = self.put(st, &principal, &path, kind, &value, false).await;
                let _ = reply.send(r.map(|(v, _)| v));
            }
            VaultMsg::Delete {
                principal,
                path,
                reply,
            } => {
                let r = self.delete(st, &principal, &path).await;
                let _ = reply.send(r);
            }
            VaultMsg::Publish {
                tenant,
                items,
                reply,
            } => {
                let r = self.publish(st, &tenant, items).await;
                let _ = reply.send(r);
            }
            VaultMsg::Audit { limit, reply } => {
                let _ = reply.send(st.backend.audit(limit).await);
            }
            VaultMsg::Stats { reply } => {
                let _ = reply.send(VaultStats {
                    backend: st.backend.name(),
                    local_leases: st.local.len(),
                    backend_available: st.backend_ok,
                });
            }
            VaultMsg::Sweep => self.sweep(st).await,
        }
        Ok(())
    }
}

impl<B: Backend> VaultActor<B> {
    #[allow(clippy::too_many_arguments)] // the fields of one record, named at each call
    fn audit(
        &self,
        st: &VaultState<B>,
        event: AuditEvent,
        principal: &str,
        capability: Option<Capability>,
        path: &str,
        lease_id: Option<&str>,
        detail: Option<String>,
    ) {
        let rec = self.auditor.record(
            self.clock.now_ms(),
            Entry {
                event,
                principal,
                capability,
                path,
                lease_id,
                detail,
            },
        );
        st.backend.record_audit(rec);
    }

    /// Tracks whether the backend answers, logging only the changes.
    fn note_backend<T>(st: &mut VaultState<B>, r: &Result<T, VaultError>) {
        let ok = !matches!(r, Err(e) if e.is_unavailable());
        if ok != st.backend_ok {
            st.backend_ok = ok;
            metrics::gauge!("switchboard_vault_backend_up", "backend" => st.backend.name())
                .set(if ok { 1.0 } else { 0.0 });
            if ok {
                tracing::info!(target: "switchboard::vault", backend = st.backend.name(), "vault backend is back");
            } else if let Err(e) = r {
                tracing::warn!(target: "switchboard::vault", backend = st.backend.name(), error = %e, "vault backend unavailable: new grants fail, cached leases keep working until they expire");
            }
        }
    }

    fn deny(
        &self,
        st: &VaultState<B>,
        principal: &Principal,
        capability: Capability,
        path: &SecretPath,
        reason: String,
    ) -> VaultError {
        let p = principal.to_string();
        let path_s = path.to_string();
        self.audit(
            st,
            AuditEvent::Deny,
            &p,
            Some(capability),
            &path_s,
            None,
            Some(reason.clone()),
        );
        VaultError::PolicyDenied {
            principal: p,
            capability,
            path: path_s,
            reason,
        }
    }

    async fn lease(
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
        let r = st.backend.grant(&req, now).await;
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

    async fn renew(
        &self,
        st: &mut VaultState<B>,
        id: &str,
        increment: Duration,
    ) -> Result<Duration, VaultError> {
        let (path, _) = parse_lease_id(id)?;
        let now = self.clock.now_ms();
        let r = st
            .backend
            .renew(id, now, increment.as_millis() as u64)
            .await;
        Self::note_backend(st, &r);
        match r {
            Ok(out) => {
                let local = st.local.get(id).cloned();
                let principal = local
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |l| l.principal.clone());
                let ttl = Duration::from_millis(out.expires_ms.saturating_sub(now));
                self.audit(
                    st,
                    AuditEvent::Renew,
                    &principal,
                    local.as_ref().map(|l| l.capability),
                    &path.to_string(),
                    Some(id),
                    Some(format!("ttl {}ms", ttl.as_millis())),
                );
                if let Some(l) = local {
                    l.renewed(out.expires_ms);
                    if let Some(v) = out.current_version {
                        l.rotated(v);
                    }
                }
                Ok(ttl)
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
                }
                Err(e)
            }
        }
    }

    async fn revoke(&self, st: &mut VaultState<B>, id: &str, by: &str) -> Result<bool, VaultError> {
        let (path, _) = parse_lease_id(id)?;
        // Stop serving the secret locally first, whatever the store says.
        let local = st.local.remove(id);
        if let Some(l) = &local {
            l.end(false);
        }
        let r = st.backend.revoke(id, None).await;
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

    async fn revoke_checked(
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

    async fn revoke_prefix(
        &self,
        st: &mut VaultState<B>,
        prefix: &str,
    ) -> Result<usize, VaultError> {
        let mut ids: Vec<String> = st
            .local
            .keys()
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

    async fn revoke_principal(
        &self,
        st: &mut VaultState<B>,
        principal: &Principal,
    ) -> Result<usize, VaultError> {
        let key = principal.key();
        let mut ids: Vec<String> = st
            .local
            .values()
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
    async fn put(
        &self,
        st: &mut VaultState<B>,
        principal: &Principal,
        path: &SecretPath,
        kind: SecretKind,
        value: &SecretString,
        only_if_changed: bool,
    ) -> Result<(u64, bool), VaultError> {
        if let Err(reason) = self
            .config
            .policy
            .check(principal, Capability::SecretWrite, path)
        {
            return Err(self.deny(st, principal, Capability::SecretWrite, path, reason));
        }
        let r = st
            .backend
            .put_secret(path, kind, value, only_if_changed)
            .await;
        Self::note_backend(st, &r);
        let out = r?;
        if out.changed {
            self.audit(
                st,
                AuditEvent::Write,
                &principal.to_string(),
                Some(Capability::SecretWrite),
                &path.to_string(),
                None,
                Some(format!("version {} kind {kind}", out.version)),
            );
            for l in st.local.values().filter(|l| &l.path == path) {
                l.rotated(out.version);
            }
        }
        Ok((out.version, out.changed))
    }

    async fn delete(
        &self,
        st: &mut VaultState<B>,
        principal: &Principal,
        path: &SecretPath,
    ) -> Result<bool, VaultError> {
        if let Err(reason) = self
            .config
            .policy
            .check(principal, Capability::SecretWrite, path)
        {
            return Err(self.deny(st, principal, Capability::SecretWrite, path, reason));
        }
        let r = st.backend.delete_secret(path).await;
        Self::note_backend(st, &r);
        let existed = r?;
        self.audit(
            st,
            AuditEvent::Delete,
            &principal.to_string(),
            Some(Capability::SecretWrite),
            &path.to_string(),
            None,
            None,
        );
        self.revoke_prefix(st, &format!("{path}/")).await?;
        Ok(existed)
    }

    async fn publish(
        &self,
        st: &mut VaultState<B>,
        tenant: &TenantRef,
        items: Vec<(String, SecretString, SecretKind)>,
    ) -> Result<PublishReport, VaultError> {
        let mut report = PublishReport::default();
        for (name, value, kind) in items {
            let path = SecretPath::new(tenant.provider(), tenant.tenant(), &name)?;
            let (_, changed) = self
                .put(st, &Principal::Admin, &path, kind, &value, true)
                .await?;
            if changed {
                report.written += 1;
            } else {
                report.unchanged += 1;
            }
        }
        Ok(report)
    }

    async fn sweep(&self, st: &mut VaultState<B>) {
        let now = self.clock.now_ms();
        // Local leases first: they end on time even if the store is unreachable.
        let ended: Vec<String> = st
            .local
            .iter()
            .filter(|(_, l)| l.expires_ms() <= now || !l.is_active())
            .map(|(id, _)| id.clone())
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
            match st.backend.revoke(&id, Some(now)).await {
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
                    tracing::debug!(target: "switchboard::vault", error = %e, "sweep stopped");
                    return;
                }
            }
        }
    }
}
