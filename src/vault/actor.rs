//! The vault actor: policy checks, grants, renewals, revocations, the sweep, and the
//! bookkeeping of the leases this vault handed out (to notify their holders).

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use secrecy::SecretString;
use tokio::task::JoinHandle;

mod leases;
mod local;
mod restore;
mod secrets;

use super::audit::{AuditEvent, AuditRecord, Auditor, Entry};
use super::backend::Backend;
use super::clock::Clock;
use super::config::VaultConfig;
use super::error::VaultError;
use super::handle::{PublishReport, VaultStats};
use super::lease::LeaseShared;
use super::path::{SecretKind, SecretPath};
use super::principal::{Capability, Principal};
use super::published::Published;
use crate::model::TenantId;

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
        /// The holder's side of the lease, when its own handle renews: a vault actor
        /// that does not know it (it was restarted) adopts it, so renewals, rotations
        /// and revocations reach the holder again.
        holder: Option<Arc<LeaseShared>>,
        reply: Reply<Duration>,
    },
    /// Renews leases this process holds (the renewal schedule's batch), adopting
    /// those a restarted actor does not know; one result per lease, in order.
    RenewMany {
        holders: Vec<Arc<LeaseShared>>,
        reply: RpcReplyPort<Vec<Result<Duration, VaultError>>>,
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
        tenant: TenantId,
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
    ExclusiveRemaining {
        path: SecretPath,
        reply: Reply<Option<Duration>>,
    },
    Sweep,
}

/// The actor; `self` is configuration.
pub(crate) struct VaultActor<B> {
    pub(crate) config: VaultConfig,
    pub(crate) auditor: Auditor,
    pub(crate) clock: Clock,
    /// What was published, shared by every incarnation (to refill a store that lost
    /// its data).
    pub(crate) published: Arc<Published>,
    pub(crate) _backend: std::marker::PhantomData<fn() -> B>,
}

/// Mutable state, built in `pre_start`.
pub(crate) struct VaultState<B> {
    backend: B,
    /// Leases this vault granted that are still alive, by id.
    local: local::LocalLeases,
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
            local: local::LocalLeases::default(),
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
                holder,
                reply,
            } => {
                if let Some(h) = &holder {
                    st.local.adopt(&id, h);
                }
                let r = self.renew(st, &id, increment, holder.as_deref()).await;
                let _ = reply.send(r);
            }
            VaultMsg::RenewMany { holders, reply } => {
                let _ = reply.send(self.renew_many(st, &holders).await);
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
                self.published.remember(&tenant, &items);
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
            VaultMsg::ExclusiveRemaining { path, reply } => {
                let r = st
                    .backend
                    .exclusive_remaining(&path, self.clock.now_ms())
                    .await;
                Self::note_backend(st, &r);
                let _ = reply.send(r.map(|left| left.map(Duration::from_millis)));
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
            // `switchboard_vault_backend_up` is set from the status at scrape time.
            if ok {
                tracing::info!(target: "switchboard::vault", backend = st.backend.name(), "vault backend is back");
            } else if let Err(e) = r {
                tracing::warn!(target: "switchboard::vault", backend = st.backend.name(), error = %crate::Report(e), "vault backend unavailable: new grants fail, cached leases keep working until they expire");
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
}
