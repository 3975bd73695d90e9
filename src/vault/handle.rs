//! [`VaultHandle`], the typed front of the vault actor, and the authority that mints
//! the capabilities actors hold: [`ScopedVault`] (`scoped.rs`, a handle bound to one
//! principal) and [`WorkerSecrets`] (`worker_secrets.rs`, a worker's app secrets).
//!
//! Operations that act *as* a principal (lease, put, delete) are crate-private here:
//! outside the crate they are reached only through a minted capability, so no holder
//! of a capability can declare itself someone else.

use std::marker::PhantomData;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use ractor::{Actor, ActorCell, ActorRef, RpcReplyPort, SpawnErr};
use secrecy::SecretString;
use serde::Serialize;

use super::actor::{VaultActor, VaultMsg};
use super::audit::{AuditRecord, Auditor};
use super::backend::{Backend, MemoryBackend};
use super::clock::Clock;
use super::config::VaultConfig;
use super::crypto::AuditHasher;
use super::error::VaultError;
use super::keys::VaultKeys;
use super::lease::{Lease, LeaseShared};
use super::path::{SecretKind, SecretPath};
use super::principal::{Capability, Principal};
use super::published::Published;
use super::renewals::Renewals;
use super::scoped::ScopedVault;
use super::worker_secrets::WorkerSecrets;
use crate::model::TenantId;

/// What [`VaultHandle::publish_tenant`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PublishReport {
    /// Secrets written (new, or a new version).
    pub written: usize,
    /// Secrets already stored with the same value.
    pub unchanged: usize,
}

/// A snapshot of the vault for status pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VaultStats {
    /// `memory` or `redis`.
    pub backend: &'static str,
    /// Live leases this vault handed out.
    pub local_leases: usize,
    /// Whether the backend answered the last call.
    pub backend_available: bool,
}

/// The vault: a cloneable handle to the vault actor, and the authority over it.
///
/// Whoever holds a `VaultHandle` can act as any principal, so only the runtime and
/// its supervisors hold one. They hand every actor a capability minted for it
/// instead: [`VaultHandle::gateway_scope`] and [`VaultHandle::rest_scope`] for a
/// tenant's access actors, [`VaultHandle::worker_secrets`] for the worker pool,
/// [`VaultHandle::admin_scope`] for operator tools and [`VaultHandle::named_scope`]
/// for an embedder's own principals. A capability never yields the handle back.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), switchboard::vault::VaultError> {
/// use secrecy::{ExposeSecret, SecretString};
/// use switchboard::vault::{Capability, SecretKind, TenantId, VaultConfig, VaultHandle};
///
/// let vault = VaultHandle::memory(VaultConfig::default()).await?;
/// vault
///     .publish_tenant(
///         "discord",
///         "duck",
///         [("bot_token", SecretString::from("xyz"), SecretKind::ProviderCredential)],
///     )
///     .await?;
///
/// // The supervisor mints the REST actor's capability; the actor cannot rebind it.
/// let duck = TenantId::parse("discord", "duck")?;
/// let rest = vault.rest_scope(&duck);
/// let lease = rest
///     .lease("discord/duck/bot_token".parse()?, Capability::ProviderRest, None)
///     .await?;
/// assert_eq!(lease.secret()?.expose_secret(), "xyz");
///
/// // A worker may not lease a provider credential, whoever it serves.
/// let worker = vault.worker_scope(Some(&duck));
/// let denied = worker
///     .lease("discord/duck/bot_token".parse()?, Capability::ProviderRest, None)
///     .await;
/// assert!(matches!(denied, Err(switchboard::vault::VaultError::PolicyDenied { .. })));
/// # vault.stop();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct VaultHandle {
    inner: Arc<HandleInner>,
}

type Respawn = Box<
    dyn Fn(Option<ActorCell>) -> BoxFuture<'static, Result<ActorRef<VaultMsg>, SpawnErr>>
        + Send
        + Sync,
>;

struct HandleInner {
    /// The running actor; replaced when a supervisor restarts the vault.
    actor: RwLock<ActorRef<VaultMsg>>,
    /// Spawns a fresh actor over the same (shared) store, key and clock.
    respawn: Respawn,
    /// What was published, to refill a store that lost its data.
    published: Arc<Published>,
    /// The renewal schedule of every lease handed out through this handle.
    renewals: Renewals,
}

/// A handle that does not keep the vault alive (held by the renewal schedule, which
/// ends with the handle).
pub(crate) struct WeakVault(Weak<HandleInner>);

impl WeakVault {
    /// The handle, while any clone of it is alive.
    pub(crate) fn upgrade(&self) -> Option<VaultHandle> {
        self.0.upgrade().map(|inner| VaultHandle { inner })
    }
}

impl std::fmt::Debug for VaultHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultHandle")
            .field("actor", &self.actor().get_id())
            .finish()
    }
}

fn stopped<E>(_: E) -> VaultError {
    VaultError::Stopped
}

impl VaultHandle {
    /// Spawns a vault actor over `backend`. The worker key of `keys` derives the audit
    /// HMAC key: every vault sharing a store (access and worker nodes alike) holds the
    /// same worker key, so their records correlate.
    ///
    /// # Errors
    /// [`VaultError::Stopped`] if the actor fails to start.
    pub async fn spawn<B: Backend + Clone>(
        config: VaultConfig,
        keys: &VaultKeys,
        backend: B,
    ) -> Result<Self, VaultError> {
        let auditor = Auditor::new(AuditHasher::new(keys.worker()));
        // One clock for every incarnation, so fencing tokens never go backwards.
        let clock = Clock::new();
        let published = Arc::new(Published::default());
        let shared = Arc::clone(&published);
        let respawn: Respawn = Box::new(move |supervisor: Option<ActorCell>| {
            let actor = VaultActor::<B> {
                config: config.clone(),
                auditor: auditor.clone(),
                clock,
                published: Arc::clone(&shared),
                _backend: PhantomData,
            };
            let backend = backend.clone();
            Box::pin(async move {
                let (actor, _join) = match supervisor {
                    Some(sup) => Actor::spawn_linked(None, actor, backend, sup).await?,
                    None => Actor::spawn(None, actor, backend).await?,
                };
                Ok(actor)
            })
        });
        let actor = respawn(None).await.map_err(stopped)?;
        Ok(Self {
            inner: Arc::new_cyclic(|weak| HandleInner {
                actor: RwLock::new(actor),
                respawn,
                published,
                renewals: Renewals::spawn(WeakVault(weak.clone()), clock),
            }),
        })
    }

    fn actor(&self) -> ActorRef<VaultMsg> {
        self.inner
            .actor
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Starts a fresh vault actor (linked to `supervisor`) in place of a dead one.
    /// The store is shared, so secrets and exclusive holds survive; leases the old
    /// actor was renewing are unknown to the new one until the renewal schedule
    /// renews them through it (it adopts them then; a batch the old actor dropped is
    /// retried). Every clone of this handle talks to the new actor.
    ///
    /// # Errors
    /// [`VaultError::Stopped`] if the new actor fails to start.
    pub async fn restart(&self, supervisor: Option<ActorCell>) -> Result<(), VaultError> {
        let actor = (self.inner.respawn)(supervisor).await.map_err(stopped)?;
        let old = std::mem::replace(
            &mut *self
                .inner
                .actor
                .write()
                .unwrap_or_else(PoisonError::into_inner),
            actor,
        );
        old.stop(Some("replaced".to_owned()));
        Ok(())
    }

    /// Spawns the embedded vault: a fresh [`MemoryBackend`] and a random key.
    ///
    /// # Errors
    /// [`VaultError::Stopped`] if the actor fails to start.
    pub async fn memory(config: VaultConfig) -> Result<Self, VaultError> {
        Self::spawn(config, &VaultKeys::generate(), MemoryBackend::default()).await
    }

    /// Stops the actor (it finishes the current message). Outstanding leases keep
    /// serving their cached values until they expire.
    pub fn stop(&self) {
        self.actor().stop(None);
    }

    /// The vault actor's cell, so a supervisor can link to it.
    #[must_use]
    pub fn actor_cell(&self) -> ractor::ActorCell {
        self.actor().get_cell()
    }

    /// A handle bound to `principal`. Crate-private: outside the crate a principal is
    /// only ever obtained through the minting methods below.
    fn scoped(&self, principal: Principal) -> ScopedVault {
        ScopedVault::new(self.clone(), principal)
    }

    /// Mints the capability of `tenant`'s gateway actor (`gateway(provider/tenant)`):
    /// the tenant supervisor hands it to the gateway it starts, which leases the
    /// exclusive `provider.gateway` lease on the tenant's token with it.
    #[must_use]
    pub fn gateway_scope(&self, tenant: &TenantId) -> ScopedVault {
        self.scoped(Principal::Gateway(tenant.clone()))
    }

    /// Mints the capability of `tenant`'s REST actor (`rest(provider/tenant)`): the
    /// tenant supervisor hands it to the REST actor it starts.
    #[must_use]
    pub fn rest_scope(&self, tenant: &TenantId) -> ScopedVault {
        self.scoped(Principal::Rest(tenant.clone()))
    }

    /// Mints a general capability as a worker serving `serving` (or no tenant). The
    /// worker pool does not get this: it gets [`VaultHandle::worker_secrets`], which
    /// can only read the served tenant's app secrets. This is for tools and tests
    /// that check what the policy grants a worker.
    #[must_use]
    pub fn worker_scope(&self, serving: Option<&TenantId>) -> ScopedVault {
        self.scoped(Principal::Worker {
            serving: serving.cloned(),
        })
    }

    /// Mints the admin's capability (`secret.write` and `lease.revoke` everywhere
    /// under the default policy), for operator tools. The runtime publishes the
    /// registry's credentials itself ([`VaultHandle::publish_tenant`]).
    #[must_use]
    pub fn admin_scope(&self) -> ScopedVault {
        self.scoped(Principal::Admin)
    }

    /// Mints the capability of an embedder's named principal, which gets nothing
    /// unless a policy rule names it (`named:<name>`).
    ///
    /// # Errors
    /// [`VaultError::InvalidPath`] for a name outside `[a-z0-9_-]{1,64}`.
    pub fn named_scope(&self, name: &str) -> Result<ScopedVault, VaultError> {
        Ok(self.scoped(Principal::named(name)?))
    }

    /// Mints the worker pool's capability: it leases only app secrets
    /// (`secret.read`), as `Worker { serving }` for the tenant of the envelope a
    /// worker is handling (`Ctx::secret`).
    #[must_use]
    pub fn worker_secrets(&self) -> WorkerSecrets {
        WorkerSecrets::new(self.clone())
    }

    pub(super) async fn call<T: Send + 'static>(
        &self,
        make: impl FnOnce(RpcReplyPort<Result<T, VaultError>>) -> VaultMsg,
    ) -> Result<T, VaultError> {
        let (tx, rx) = ractor::concurrency::oneshot();
        self.actor()
            .send_message(make(tx.into()))
            .map_err(stopped)?;
        rx.await.map_err(stopped)?
    }

    /// Leases the secret at `path` for `capability` as `principal`, for `ttl` (the
    /// configured default if `None`; capped by the maximum). The returned [`Lease`]
    /// holds the value, renews itself at about 2/3 of its TTL and reports events.
    /// Reached from outside the crate through [`ScopedVault::lease`].
    ///
    /// # Errors
    /// [`VaultError::PolicyDenied`] (audited), [`VaultError::NotFound`],
    /// [`VaultError::QuotaExceeded`], [`VaultError::AlreadyHeld`] (exclusive
    /// `provider.gateway`), [`VaultError::Unavailable`], [`VaultError::Decrypt`].
    pub(crate) async fn lease(
        &self,
        principal: &Principal,
        path: SecretPath,
        capability: Capability,
        ttl: Option<Duration>,
    ) -> Result<Lease, VaultError> {
        let principal = principal.clone();
        let shared: Arc<LeaseShared> = self
            .call(|reply| VaultMsg::Lease {
                principal,
                path,
                capability,
                ttl,
                reply,
            })
            .await?;
        Ok(Lease::start(shared, self.clone()))
    }

    /// Renews a lease by `increment` from now; returns the TTL granted, capped by the
    /// lease's maximum.
    ///
    /// # Errors
    /// [`VaultError::LeaseNotFound`], [`VaultError::LeaseExpired`],
    /// [`VaultError::LeaseRevoked`] (an exclusive lock was lost),
    /// [`VaultError::NotRenewable`], [`VaultError::Unavailable`].
    pub async fn renew(&self, lease_id: &str, increment: Duration) -> Result<Duration, VaultError> {
        let id = lease_id.to_owned();
        self.call(|reply| VaultMsg::Renew {
            id,
            increment,
            holder: None,
            reply,
        })
        .await
    }

    /// Renews a lease this process holds, handing the vault the holder's side so a
    /// restarted vault actor adopts it.
    pub(crate) async fn renew_held(
        &self,
        holder: &Arc<LeaseShared>,
        increment: Duration,
    ) -> Result<Duration, VaultError> {
        let id = holder.id.clone();
        let holder = Some(holder.clone());
        self.call(|reply| VaultMsg::Renew {
            id,
            increment,
            holder,
            reply,
        })
        .await
    }

    /// Hands a new lease to the renewal schedule.
    pub(crate) fn schedule_renewal(&self, lease: Arc<LeaseShared>) {
        self.inner.renewals.add(lease);
    }

    /// Renews leases this process holds in one actor call (and as few store round
    /// trips as the backend allows); one result per lease, in order. A vault actor
    /// that does not know a lease (it was restarted) adopts it.
    pub(crate) async fn renew_batch(
        &self,
        holders: Vec<Arc<LeaseShared>>,
    ) -> Vec<Result<Duration, VaultError>> {
        let n = holders.len();
        let (tx, rx) = ractor::concurrency::oneshot();
        let sent = self.actor().send_message(VaultMsg::RenewMany {
            holders,
            reply: tx.into(),
        });
        let mut results = match sent {
            Ok(()) => rx.await.unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        // Whatever the actor did not answer (it stopped) is retried by the schedule.
        results.resize_with(n, || Err(VaultError::Stopped));
        results
    }

    /// Revokes one lease; `false` if there was no such lease.
    ///
    /// # Errors
    /// [`VaultError::InvalidLeaseId`], [`VaultError::Unavailable`] (the local holder
    /// is cut off anyway).
    pub async fn revoke(&self, lease_id: &str) -> Result<bool, VaultError> {
        let id = lease_id.to_owned();
        self.call(|reply| VaultMsg::Revoke {
            id,
            by: "operator".to_owned(),
            check: None,
            reply: Some(reply),
        })
        .await
    }

    /// Releases a lease without waiting (used when a [`Lease`] is dropped).
    pub(crate) fn release_quietly(&self, lease_id: &str) {
        let _ = self.actor().send_message(VaultMsg::Revoke {
            id: lease_id.to_owned(),
            by: "holder".to_owned(),
            check: None,
            reply: None,
        });
    }

    /// Revokes every lease whose id starts with `prefix` (e.g. `discord/duck/` when a
    /// tenant is removed); returns how many.
    ///
    /// # Errors
    /// [`VaultError::Unavailable`].
    pub async fn revoke_prefix(&self, prefix: &str) -> Result<usize, VaultError> {
        let prefix = prefix.to_owned();
        self.call(|reply| VaultMsg::RevokePrefix { prefix, reply })
            .await
    }

    /// Revokes every lease held by `principal` (when the actor holding them dies).
    ///
    /// # Errors
    /// [`VaultError::Unavailable`].
    pub async fn revoke_principal(&self, principal: &Principal) -> Result<usize, VaultError> {
        let principal = principal.clone();
        self.call(|reply| VaultMsg::RevokePrincipal { principal, reply })
            .await
    }

    /// Writes a secret (a new current version; the old one becomes the previous
    /// version and its holders get [`LeaseEvent::Rotated`](super::LeaseEvent::Rotated)).
    /// Returns the new version. Reached from outside the crate through
    /// [`ScopedVault::put`].
    ///
    /// # Errors
    /// [`VaultError::PolicyDenied`] without `secret.write`, [`VaultError::Unavailable`].
    pub(crate) async fn put(
        &self,
        principal: &Principal,
        path: SecretPath,
        kind: SecretKind,
        value: SecretString,
    ) -> Result<u64, VaultError> {
        let principal = principal.clone();
        self.call(|reply| VaultMsg::Put {
            principal,
            path,
            kind,
            value,
            reply,
        })
        .await
    }

    /// Deletes a secret and revokes its leases; `false` if there was none. Reached
    /// from outside the crate through [`ScopedVault::delete`].
    ///
    /// # Errors
    /// [`VaultError::PolicyDenied`] without `secret.write`, [`VaultError::Unavailable`].
    pub(crate) async fn delete(
        &self,
        principal: &Principal,
        path: SecretPath,
    ) -> Result<bool, VaultError> {
        let principal = principal.clone();
        self.call(|reply| VaultMsg::Delete {
            principal,
            path,
            reply,
        })
        .await
    }

    /// Publishes a tenant's credentials and app secrets as the admin: new or changed
    /// values are written (holders of old versions are told), identical ones left
    /// alone. Call it at startup, periodically (to refill a store that lost its data)
    /// and on reload.
    ///
    /// The vault remembers what was published (as `SecretString`s, shared by every
    /// incarnation of the actor): a lease on a published secret that the store has
    /// lost (Redis restarted empty) republishes the tenant at once and is granted,
    /// instead of failing with [`VaultError::NotFound`] until the next periodic
    /// publish. [`VaultHandle::retain_published`] forgets removed tenants.
    ///
    /// # Errors
    /// [`VaultError::InvalidPath`] for a bad provider, tenant or name (nothing after it
    /// is written), [`VaultError::Unavailable`].
    pub async fn publish_tenant<N, I>(
        &self,
        provider: &str,
        tenant: &str,
        secrets: I,
    ) -> Result<PublishReport, VaultError>
    where
        N: Into<String>,
        I: IntoIterator<Item = (N, SecretString, SecretKind)>,
    {
        let tenant = TenantId::parse(provider, tenant)?;
        let items: Vec<(String, SecretString, SecretKind)> = secrets
            .into_iter()
            .map(|(n, v, k)| (n.into(), v, k))
            .collect();
        self.call(|reply| VaultMsg::Publish {
            tenant,
            items,
            reply,
        })
        .await
    }

    /// Forgets what was published for the tenants `keep` rejects (removed from the
    /// registry), so a store that lost its data is never refilled with them.
    pub fn retain_published(&self, keep: impl FnMut(&TenantId) -> bool) {
        self.inner.published.retain(keep);
    }

    /// The latest `limit` audit records, oldest first (from the Redis stream, shared by
    /// every vault on the store, or the memory ring).
    ///
    /// # Errors
    /// [`VaultError::Unavailable`].
    pub async fn audit(&self, limit: usize) -> Result<Vec<AuditRecord>, VaultError> {
        self.call(|reply| VaultMsg::Audit { limit, reply }).await
    }

    /// How long the exclusive lease on `path` is still held, by anyone (`None`: it
    /// is free). Not audited and grants nothing: a standby gateway sleeps this long
    /// before it tries to take the lease over.
    ///
    /// # Errors
    /// [`VaultError::Unavailable`], [`VaultError::Stopped`].
    pub async fn exclusive_remaining(
        &self,
        path: SecretPath,
    ) -> Result<Option<Duration>, VaultError> {
        self.call(|reply| VaultMsg::ExclusiveRemaining { path, reply })
            .await
    }

    /// Status counters.
    ///
    /// # Errors
    /// [`VaultError::Stopped`].
    pub async fn stats(&self) -> Result<VaultStats, VaultError> {
        let (tx, rx) = ractor::concurrency::oneshot();
        self.actor()
            .send_message(VaultMsg::Stats { reply: tx.into() })
            .map_err(stopped)?;
        rx.await.map_err(stopped)
    }
}
