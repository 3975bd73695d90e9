//! Lease handles: the secret cached in the handle, its state, events and auto-renewal.
//!
//! A [`Lease`] reads its secret without any actor round trip: two atomic loads and a
//! clock read. The vault handle's renewal schedule (`renewals.rs`) renews it at about
//! 2/3 of its TTL, together with the other leases due about then; the vault actor
//! updates the shared state and broadcasts [`LeaseEvent`]s (renewed, rotated,
//! revoked, expired). Dropping the handle stops the renewal and releases the lease.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use secrecy::SecretString;
use serde::Serialize;
use tokio::sync::broadcast;

use super::clock::Clock;
use super::error::VaultError;
use super::handle::VaultHandle;
use super::path::{SecretKind, SecretPath};
use super::principal::Capability;

/// Something that happened to a lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseEvent {
    /// The lease was renewed; it now lives for `ttl`.
    Renewed {
        /// The TTL granted.
        ttl: Duration,
    },
    /// The secret was rotated to `version`: re-lease to get the new value. The old
    /// value stays readable from this lease until it ends, so nothing breaks
    /// mid-request.
    Rotated {
        /// The new current version.
        version: u64,
    },
    /// The lease was revoked; its secret is no longer readable.
    Revoked,
    /// The lease expired; its secret is no longer readable.
    Expired,
}

/// A plain description of a lease (safe to log and serialize: no secret, and the id
/// is the only handle to it, so do not publish it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseInfo {
    /// `<path>/<ulid>`.
    pub lease_id: String,
    /// The leased path.
    pub path: SecretPath,
    /// What the lease is for.
    pub capability: Capability,
    /// Time left.
    pub ttl: Duration,
    /// The most time left it can ever have (renewals stop there).
    pub max_ttl: Duration,
    /// Whether it can be renewed.
    pub renewable: bool,
    /// The secret version leased.
    pub version: u64,
    /// Fencing token of an exclusive lease: strictly increasing per credential; pass
    /// it with every action that must not overlap another holder's.
    pub fence: Option<u64>,
}

const ACTIVE: u8 = 0;
const REVOKED: u8 = 1;
const EXPIRED: u8 = 2;

/// State shared by the lease handle, its renewer and the vault actor.
pub(crate) struct LeaseShared {
    pub(crate) id: String,
    pub(crate) path: SecretPath,
    pub(crate) principal_key: String,
    pub(crate) principal: String,
    pub(crate) capability: Capability,
    /// The kind of secret the store granted (it refuses a kind the capability does
    /// not lease).
    pub(crate) kind: SecretKind,
    pub(crate) version: u64,
    pub(crate) fence: Option<u64>,
    pub(crate) renewable: bool,
    pub(crate) ttl_ms: u64,
    pub(crate) max_expires_ms: u64,
    expires_ms: AtomicU64,
    state: AtomicU8,
    rotated: AtomicBool,
    /// Whether the renewal schedule should keep renewing it (cleared by
    /// [`Lease::stop_renewal`] and when the handle is dropped).
    renewing: AtomicBool,
    events: broadcast::Sender<LeaseEvent>,
    clock: Clock,
    secret: SecretString,
}

/// Fields of a newly granted lease.
pub(crate) struct NewLease {
    pub(crate) id: String,
    pub(crate) path: SecretPath,
    pub(crate) principal_key: String,
    pub(crate) principal: String,
    pub(crate) capability: Capability,
    pub(crate) kind: SecretKind,
    pub(crate) version: u64,
    pub(crate) fence: Option<u64>,
    pub(crate) renewable: bool,
    pub(crate) ttl_ms: u64,
    pub(crate) expires_ms: u64,
    pub(crate) max_expires_ms: u64,
    pub(crate) secret: SecretString,
}

#[cfg(test)]
impl NewLease {
    /// A renewable REST-token lease of `path` at version 1, for unit tests.
    pub(crate) fn for_test(id: &str, path: &str, ttl_ms: u64, expires_ms: u64) -> Self {
        Self {
            id: id.to_owned(),
            path: path.parse().expect("a valid secret path"),
            principal_key: "rest:discord/duck".to_owned(),
            principal: "rest(discord/duck)".to_owned(),
            capability: Capability::ProviderRest,
            kind: SecretKind::ProviderCredential,
            version: 1,
            fence: None,
            renewable: true,
            ttl_ms,
            expires_ms,
            max_expires_ms: expires_ms + 1_000_000,
            secret: SecretString::from("x"),
        }
    }
}

impl LeaseShared {
    pub(crate) fn new(n: NewLease, clock: Clock) -> Self {
        let (events, _) = broadcast::channel(16);
        Self {
            id: n.id,
            path: n.path,
            principal_key: n.principal_key,
            principal: n.principal,
            capability: n.capability,
            kind: n.kind,
            version: n.version,
            fence: n.fence,
            renewable: n.renewable,
            ttl_ms: n.ttl_ms,
            max_expires_ms: n.max_expires_ms,
            expires_ms: AtomicU64::new(n.expires_ms),
            state: AtomicU8::new(ACTIVE),
            rotated: AtomicBool::new(false),
            renewing: AtomicBool::new(true),
            events,
            clock,
            secret: n.secret,
        }
    }

    pub(crate) fn expires_ms(&self) -> u64 {
        self.expires_ms.load(Ordering::Acquire)
    }

    pub(crate) fn is_active(&self) -> bool {
        self.state.load(Ordering::Acquire) == ACTIVE
    }

    /// Whether the renewal schedule should renew it again: its holder still wants it
    /// renewed, it is alive and it can still be extended.
    pub(crate) fn wants_renewal(&self) -> bool {
        self.renewable
            && self.renewing.load(Ordering::Acquire)
            && self.is_active()
            && self.expires_ms() < self.max_expires_ms
    }

    /// When to renew: when a third of the TTL is left.
    pub(crate) fn renew_due_ms(&self) -> u64 {
        self.expires_ms().saturating_sub(self.ttl_ms.max(3) / 3)
    }

    /// Records a renewal and tells subscribers.
    pub(crate) fn renewed(&self, expires_ms: u64) {
        self.expires_ms.store(expires_ms, Ordering::Release);
        let ttl = Duration::from_millis(expires_ms.saturating_sub(self.clock.now_ms()));
        let _ = self.events.send(LeaseEvent::Renewed { ttl });
    }

    /// Tells subscribers (once per lease) that a newer version exists.
    pub(crate) fn rotated(&self, version: u64) {
        if version != self.version && !self.rotated.swap(true, Ordering::AcqRel) {
            let _ = self.events.send(LeaseEvent::Rotated { version });
        }
    }

    /// Ends the lease (revoked or expired) and tells subscribers; idempotent.
    pub(crate) fn end(&self, expired: bool) {
        let to = if expired { EXPIRED } else { REVOKED };
        if self
            .state
            .compare_exchange(ACTIVE, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let _ = self.events.send(if expired {
                LeaseEvent::Expired
            } else {
                LeaseEvent::Revoked
            });
        }
    }

    /// Whether this lease holds `value` (compared in constant time). The kind is
    /// implied by the capability: a lease only ever holds the kind it was granted.
    pub(crate) fn holds(&self, kind: crate::vault::path::SecretKind, value: &SecretString) -> bool {
        use secrecy::ExposeSecret;
        self.capability.leases() == Some(kind)
            && super::backend::same_secret(self.secret.expose_secret(), value.expose_secret())
    }

    fn check(&self) -> Result<(), VaultError> {
        match self.state.load(Ordering::Acquire) {
            ACTIVE if self.clock.now_ms() < self.expires_ms() => Ok(()),
            REVOKED => Err(VaultError::LeaseRevoked {
                path: self.path.to_string(),
            }),
            _ => Err(VaultError::LeaseExpired {
                path: self.path.to_string(),
            }),
        }
    }
}

/// A granted lease. Holds the secret; reads it locally while the lease is alive.
///
/// Dropping it stops the renewal and releases the lease (an exclusive lease is then
/// free for the next holder at once).
pub struct Lease {
    shared: Arc<LeaseShared>,
    vault: VaultHandle,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("path", &self.shared.path)
            .field("capability", &self.shared.capability)
            .field("version", &self.shared.version)
            .field("fence", &self.shared.fence)
            .field("secret", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

impl Lease {
    pub(crate) fn start(shared: Arc<LeaseShared>, vault: VaultHandle) -> Self {
        vault.schedule_renewal(Arc::clone(&shared));
        Self { shared, vault }
    }

    /// The secret, while the lease is alive. No actor round trip.
    ///
    /// # Errors
    /// [`VaultError::LeaseExpired`] or [`VaultError::LeaseRevoked`] once it has ended:
    /// the handle fails closed.
    pub fn secret(&self) -> Result<&SecretString, VaultError> {
        self.shared.check()?;
        Ok(&self.shared.secret)
    }

    /// Whether the lease is still alive.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.shared.check().is_ok()
    }

    /// `<path>/<ulid>`: renews and revokes the lease, so keep it to yourself.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// The leased path.
    #[must_use]
    pub fn path(&self) -> &SecretPath {
        &self.shared.path
    }

    /// The kind of secret this lease holds, as granted by the store.
    #[must_use]
    pub fn kind(&self) -> SecretKind {
        self.shared.kind
    }

    /// The secret version this lease holds.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.shared.version
    }

    /// The fencing token, for exclusive leases.
    #[must_use]
    pub fn fence(&self) -> Option<u64> {
        self.shared.fence
    }

    /// A description of the lease (time left, maximum, version, fence).
    #[must_use]
    pub fn info(&self) -> LeaseInfo {
        let now = self.shared.clock.now_ms();
        LeaseInfo {
            lease_id: self.shared.id.clone(),
            path: self.shared.path.clone(),
            capability: self.shared.capability,
            ttl: Duration::from_millis(self.shared.expires_ms().saturating_sub(now)),
            max_ttl: Duration::from_millis(self.shared.max_expires_ms.saturating_sub(now)),
            renewable: self.shared.renewable,
            version: self.shared.version,
            fence: self.shared.fence,
        }
    }

    /// Subscribes to this lease's events.
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<LeaseEvent> {
        self.shared.events.subscribe()
    }

    /// Renews now by `increment`; returns the TTL granted (capped by the maximum).
    ///
    /// # Errors
    /// As [`VaultHandle::renew`].
    pub async fn renew(&self, increment: Duration) -> Result<Duration, VaultError> {
        self.vault.renew_held(&self.shared, increment).await
    }

    /// Stops the automatic renewal; the lease then lapses at its expiry (as it would
    /// if this process hung).
    pub fn stop_renewal(&self) {
        self.shared.renewing.store(false, Ordering::Release);
    }

    /// Revokes the lease now and waits for the store to confirm.
    ///
    /// # Errors
    /// As [`VaultHandle::revoke`]; the handle stops serving the secret either way.
    pub async fn release(self) -> Result<(), VaultError> {
        self.stop_renewal();
        self.shared.end(false);
        self.vault.revoke(&self.shared.id).await.map(|_| ())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.stop_renewal();
        if self.shared.is_active() {
            self.shared.end(false);
            self.vault.release_quietly(&self.shared.id);
        }
    }
}
