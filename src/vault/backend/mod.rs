//! Storage behind the vault actor: the [`Backend`] trait and its two implementations,
//! [`MemoryBackend`] (embedded default, one process) and [`RedisBackend`] (several
//! daemons sharing one store).
//!
//! The trait is deliberately coarse: each operation that must be atomic across vaults
//! sharing a store (a grant with its quota, kind and exclusivity checks; a renewal
//! with its compare-and-extend; a revocation with its compare-and-delete) is one call,
//! so the Redis backend can do it in one Lua script and one round trip. Policy,
//! auditing and lease handles stay in the actor.

use std::future::Future;

use secrecy::SecretString;

use super::audit::AuditRecord;
use super::error::VaultError;
use super::path::{SecretKind, SecretPath};
use super::principal::Capability;

mod memory;
mod redis;
mod redis_codec;
mod redis_lua;

pub use memory::MemoryBackend;
pub use redis::{DEFAULT_SECRET_TTL, RedisBackend, RedisOptions};

/// A lease as stored (no secret in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// `<path>/<ulid>`.
    pub id: String,
    /// The leased secret.
    pub path: SecretPath,
    /// [`Principal::key`](super::Principal::key) of the holder (index and quota key).
    pub principal_key: String,
    /// The holder, as displayed in audit records.
    pub principal: String,
    /// What the lease is for.
    pub capability: Capability,
    /// The secret version leased (filled in by the backend on grant).
    pub version: u64,
    /// Issue time (Unix ms).
    pub issued_ms: u64,
    /// Expiry (Unix ms).
    pub expires_ms: u64,
    /// The lease can never be renewed past this (Unix ms).
    pub max_expires_ms: u64,
    /// Whether renewals are allowed.
    pub renewable: bool,
    /// The fencing token of an exclusive lease (filled in by the backend on grant).
    pub fence: Option<u64>,
}

/// A grant to perform atomically.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    /// The lease to store (`version` and `fence` are ignored and filled in).
    pub record: LeaseRecord,
    /// The kind the capability leases; another kind is a policy denial.
    pub kind: SecretKind,
    /// Refuse if the holder already has this many leases.
    pub quota: usize,
    /// Take the exclusive lock on the path (one holder across every vault), with a
    /// fresh fencing token.
    pub exclusive: bool,
}

/// What a grant gives back.
#[derive(Debug)]
pub struct Granted {
    /// The version leased.
    pub version: u64,
    /// Its value.
    pub secret: SecretString,
    /// The fencing token, for exclusive grants.
    pub fence: Option<u64>,
}

/// What a renewal gives back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewOutcome {
    /// The new expiry (Unix ms), capped by the lease's maximum.
    pub expires_ms: u64,
    /// The secret's current version (differs from the lease's after a rotation), if
    /// the secret still exists.
    pub current_version: Option<u64>,
}

/// Why a lease is removed from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The sweep: remove it only if it expired at or before `at_ms`.
    Expired {
        /// The sweep's clock (Unix ms).
        at_ms: u64,
    },
    /// A revocation (operator, rotation, removed tenant, its holder). The store keeps a
    /// tombstone until the lease could no longer have lived (its maximum, or
    /// `until_ms` if the record is already gone), so a holder renewing it later is
    /// told "revoked", never handed the lease back by [`Backend::restore`].
    Revoked {
        /// Now (Unix ms).
        now_ms: u64,
        /// Keep the tombstone until then if the store has no record to read the
        /// lease's maximum from.
        until_ms: u64,
    },
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutOutcome {
    /// The current version after the write.
    pub version: u64,
    /// `false` when `only_if_changed` found the same value and kind already stored.
    pub changed: bool,
}

/// A vault store. Implemented by [`MemoryBackend`] and [`RedisBackend`]; every method
/// maps an unreachable store to [`VaultError::Unavailable`].
pub trait Backend: Send + Sync + 'static {
    /// A short name for errors and metrics (`memory`, `redis`).
    fn name(&self) -> &'static str;

    /// Writes a new current version of a secret (the old current one becomes the
    /// previous version). With `only_if_changed`, an identical value and kind is left
    /// alone. A secret the store does not have is written as version `first_version`
    /// (at least 1): refilling a store that lost its data keeps the versions its
    /// holders know, so a refill is not mistaken for a rotation.
    fn put_secret(
        &self,
        path: &SecretPath,
        kind: SecretKind,
        value: &SecretString,
        only_if_changed: bool,
        first_version: u64,
    ) -> impl Future<Output = Result<PutOutcome, VaultError>> + Send;

    /// Deletes a secret and its versions; `false` if there was none.
    fn delete_secret(
        &self,
        path: &SecretPath,
    ) -> impl Future<Output = Result<bool, VaultError>> + Send;

    /// Atomically: checks the secret exists and has the requested kind, checks the
    /// quota, takes the exclusive lock (if asked) with a new fencing token, stores the
    /// lease and its indexes, and returns the current value.
    ///
    /// Errors: [`VaultError::NotFound`], [`VaultError::PolicyDenied`] (kind mismatch),
    /// [`VaultError::QuotaExceeded`], [`VaultError::AlreadyHeld`],
    /// [`VaultError::Decrypt`].
    fn grant(
        &self,
        req: &GrantRequest,
        now_ms: u64,
    ) -> impl Future<Output = Result<Granted, VaultError>> + Send;

    /// Atomically extends a live lease to `min(now + increment, max)` (and its
    /// exclusive lock, compare-and-extend).
    ///
    /// Errors: [`VaultError::LeaseNotFound`], [`VaultError::LeaseExpired`],
    /// [`VaultError::NotRenewable`], [`VaultError::LeaseRevoked`] (the exclusive lock
    /// was lost).
    fn renew(
        &self,
        id: &str,
        now_ms: u64,
        increment_ms: u64,
    ) -> impl Future<Output = Result<RenewOutcome, VaultError>> + Send;

    /// Renews several leases as [`Backend::renew`] renews one, each atomically on its
    /// own (compare-and-extend of an exclusive lock included), but in as few round
    /// trips as the store allows: the Redis backend sends one script per chunk of
    /// leases. `leases` are `(lease id, increment ms)`; the answer has one result per
    /// lease, in the same order. A chunk the store did not answer gives
    /// [`VaultError::Unavailable`] for each of its leases.
    fn renew_many(
        &self,
        leases: &[(&str, u64)],
        now_ms: u64,
    ) -> impl Future<Output = Vec<Result<RenewOutcome, VaultError>>> + Send {
        async move {
            let mut out = Vec::with_capacity(leases.len());
            for (id, increment_ms) in leases {
                out.push(self.renew(id, now_ms, *increment_ms).await);
            }
            out
        }
    }

    /// Atomically removes a lease, its indexes and (compare-and-delete) its exclusive
    /// lock; a revocation also leaves a tombstone (see [`Removal`]). Returns the
    /// removed record, or `None` if nothing was removed.
    fn revoke(
        &self,
        id: &str,
        how: Removal,
    ) -> impl Future<Output = Result<Option<LeaseRecord>, VaultError>> + Send;

    /// Re-creates the record of a lease its holder still has but the store lost (it
    /// restarted empty), then renews it as [`Backend::renew`] does. `holder` is the
    /// holder's view of the lease (`expires_ms` its current expiry). An exclusive lease
    /// takes its lock again only if nobody else holds it (`NX`), and the fencing
    /// counter is raised to at least the holder's fence, so fences stay monotonic.
    /// A lease whose record is still there is simply renewed.
    ///
    /// Errors: [`VaultError::LeaseRevoked`] (a tombstone: it was revoked; or another
    /// holder took the exclusive lock meanwhile), [`VaultError::LeaseExpired`],
    /// [`VaultError::NotRenewable`].
    fn restore(
        &self,
        holder: &LeaseRecord,
        now_ms: u64,
        increment_ms: u64,
    ) -> impl Future<Output = Result<RenewOutcome, VaultError>> + Send;

    /// Ids of the stored leases whose id starts with `prefix`.
    fn lease_ids_with_prefix(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>, VaultError>> + Send;

    /// Ids of the stored leases held by a principal (by [`Principal::key`](super::Principal::key)).
    fn lease_ids_of(
        &self,
        principal_key: &str,
    ) -> impl Future<Output = Result<Vec<String>, VaultError>> + Send;

    /// Up to `limit` ids of leases that expired at or before `now_ms`.
    fn expired_lease_ids(
        &self,
        now_ms: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<String>, VaultError>> + Send;

    /// How many milliseconds the exclusive lock on `path` is still held for (`None`:
    /// nobody holds it). Read-only and not audited, so a standby can sleep until it
    /// could take the lock over instead of being denied again and again.
    fn exclusive_remaining(
        &self,
        path: &SecretPath,
        now_ms: u64,
    ) -> impl Future<Output = Result<Option<u64>, VaultError>> + Send;

    /// Stores an audit record. Must not block the actor for long: the Redis backend
    /// sends it without waiting for the reply.
    fn record_audit(&self, record: AuditRecord);

    /// The latest `limit` audit records, oldest first.
    fn audit(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditRecord>, VaultError>> + Send;
}

/// Compares two secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The new expiry of a renewal: `now + increment`, capped by the lease's maximum.
pub(crate) fn renewed_expiry(now_ms: u64, increment_ms: u64, max_expires_ms: u64) -> u64 {
    now_ms.saturating_add(increment_ms).min(max_expires_ms)
}

/// A fence that never goes backwards: the next counter value, floored by the clock in
/// microseconds (so a store that restarted empty still issues higher fences).
pub(crate) fn next_fence(counter: u64, now_us: u64) -> u64 {
    (counter + 1).max(now_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_never_go_backwards() {
        // Counter ahead of the clock: +1.
        assert_eq!(next_fence(5_000, 10), 5_001);
        // Store restarted empty (counter 0): the clock floor keeps it above the past.
        let before = next_fence(1_700_000_000_000_000, 1_700_000_000_000_000);
        let after = next_fence(0, 1_700_000_000_000_500);
        assert!(after > before);
    }

    #[test]
    fn renewals_are_capped_by_the_maximum() {
        assert_eq!(renewed_expiry(1_000, 500, 10_000), 1_500);
        assert_eq!(renewed_expiry(1_000, 50_000, 10_000), 10_000);
        assert_eq!(renewed_expiry(u64::MAX - 1, 10, u64::MAX), u64::MAX);
    }

    #[test]
    fn compares_secrets() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
    }
}
