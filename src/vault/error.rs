//! The vault's error type.
//!
//! No variant ever carries a secret value. Lease errors name the lease's *path*, not
//! its id: ids can renew and revoke, so they stay out of messages that may be logged.

use super::principal::Capability;

/// Everything that can go wrong in the vault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// The policy does not allow `principal` to use `capability` on `path`
    /// (default deny, or an explicit deny rule, or a capability that does not apply to
    /// the secret's kind). Every denial is audited.
    #[error("policy denied: {principal} may not use {capability} on {path} ({reason})")]
    PolicyDenied {
        /// Who asked.
        principal: String,
        /// What for.
        capability: Capability,
        /// On which path.
        path: String,
        /// Why (which rule, or which check).
        reason: String,
    },
    /// No secret at that path.
    #[error("no secret at {path}")]
    NotFound {
        /// The path.
        path: String,
    },
    /// No live lease with that id (never granted, revoked, or swept after expiry).
    #[error("no live lease on {path}")]
    LeaseNotFound {
        /// The path of the lease.
        path: String,
    },
    /// The lease's TTL ran out.
    #[error("lease on {path} has expired")]
    LeaseExpired {
        /// The path of the lease.
        path: String,
    },
    /// The lease was revoked (by an operator, a rotation past its version, a removed
    /// tenant, or its holder).
    #[error("lease on {path} was revoked")]
    LeaseRevoked {
        /// The path of the lease.
        path: String,
    },
    /// The lease cannot be renewed (it was granted non-renewable).
    #[error("lease on {path} is not renewable")]
    NotRenewable {
        /// The path of the lease.
        path: String,
    },
    /// An exclusive lease on this credential is held by someone else.
    #[error("exclusive lease on {path} is already held")]
    AlreadyHeld {
        /// The credential's path.
        path: String,
    },
    /// The principal already holds its quota of leases.
    #[error("lease quota exceeded: {principal} already holds {limit} leases")]
    QuotaExceeded {
        /// Who asked.
        principal: String,
        /// The cap.
        limit: usize,
    },
    /// The store cannot be reached (Redis down, timed out). Cached leases keep working
    /// until they expire; new grants fail with this until the store is back.
    #[error("vault backend {backend} is unavailable: {reason}")]
    Unavailable {
        /// Which backend.
        backend: &'static str,
        /// What the client said.
        reason: String,
    },
    /// The vault was opened with a key that did not encrypt this store.
    #[error(
        "wrong vault key: {detail} (check SWITCHBOARD_VAULT_KEY or the key file; the store was written with another key)"
    )]
    WrongKey {
        /// What failed.
        detail: String,
    },
    /// A provider credential was asked of a vault that holds only the worker key
    /// (a `--role worker` node): it cannot open one, by construction.
    #[error(
        "cannot open the provider credential at {path}: this node holds only the worker key (provider credentials open only on access nodes)"
    )]
    AccessKeyNotHeld {
        /// The credential's path.
        path: String,
    },
    /// A ciphertext failed authentication: wrong key, or a value that was tampered
    /// with or moved from another path. The vault fails closed.
    #[error("cannot decrypt the secret at {path}: wrong vault key or tampered ciphertext")]
    Decrypt {
        /// The path whose ciphertext failed.
        path: String,
    },
    /// The vault key is malformed.
    #[error("invalid vault key: {reason}")]
    InvalidKey {
        /// What is wrong with it.
        reason: String,
    },
    /// A path (or provider / tenant / name) is not valid.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The offending input (truncated).
        path: String,
        /// Why.
        reason: &'static str,
    },
    /// A lease id is not of the form `<provider>/<tenant>/<name>/<ulid>`.
    #[error("invalid lease id: {reason}")]
    InvalidLeaseId {
        /// Why.
        reason: &'static str,
    },
    /// A policy rule or a lease request is malformed.
    #[error("invalid policy or request: {reason}")]
    InvalidPolicy {
        /// Why.
        reason: String,
    },
    /// The backend answered something unexpected (a protocol or data error).
    #[error("vault backend error: {reason}")]
    Backend {
        /// What happened.
        reason: String,
    },
    /// The vault actor has stopped.
    #[error("the vault has stopped")]
    Stopped,
}

impl VaultError {
    /// Whether the error is transient (the store is unreachable) rather than a refusal.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

impl From<crate::model::NameError> for VaultError {
    /// A provider or tenant name that is not a valid segment.
    fn from(e: crate::model::NameError) -> Self {
        Self::InvalidPath {
            path: e.value,
            reason: super::path::segment_reason(&e.reason),
        }
    }
}
