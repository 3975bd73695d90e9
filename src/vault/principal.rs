//! Who asks ([`Principal`]) and what for ([`Capability`]).
//!
//! # Principals are minted, not declared
//! The vault acts for whoever its caller says it is, so who may say what is decided
//! here, by construction:
//! - The privileged variants ([`Principal::Gateway`], [`Principal::Rest`],
//!   [`Principal::Worker`], [`Principal::Admin`]) are `#[non_exhaustive]`: code
//!   outside this crate can match on them, print them and name them in policy rules
//!   ([`PrincipalMatch`](super::PrincipalMatch)), but cannot build them, and there is
//!   no public constructor and no `Deserialize`.
//! - Only [`Principal::named`] is public: a named principal gets nothing unless a
//!   policy rule names it.
//! - A principal acts only through a capability the holder of the
//!   [`VaultHandle`](super::VaultHandle) (the runtime, its supervisors) mints:
//!   [`ScopedVault`](super::ScopedVault) for one principal,
//!   [`WorkerSecrets`](super::WorkerSecrets) for the workers' app secrets.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::VaultError;
use super::path::check_segment;
use crate::model::TenantId;

/// Who is asking the vault for something.
///
/// The vault acts for the principal its caller names, so callers never get to name
/// one: the runtime mints a [`ScopedVault`](super::ScopedVault) bound to each access
/// actor's principal ([`VaultHandle::gateway_scope`](super::VaultHandle::gateway_scope),
/// [`VaultHandle::rest_scope`](super::VaultHandle::rest_scope)) and a
/// [`WorkerSecrets`](super::WorkerSecrets) for the workers, which leases as
/// `Worker { serving }` for the tenant of the envelope being handled. The privileged
/// variants are `#[non_exhaustive]`, so they cannot be built outside this crate:
///
/// ```compile_fail,E0603
/// use switchboard::vault::{Principal, TenantId};
///
/// let duck = TenantId::parse("discord", "duck").unwrap();
/// let forged = Principal::Gateway(duck); // error: tuple variant `Gateway` is private
/// ```
///
/// ```compile_fail,E0603
/// use switchboard::vault::Principal;
///
/// let forged = Principal::Admin; // error: unit variant `Admin` is private
/// ```
///
/// ```compile_fail,E0639
/// use switchboard::vault::Principal;
///
/// let forged = Principal::Worker { serving: None }; // error: cannot create non-exhaustive variant
/// ```
///
/// Matching, printing and policy rules work as usual (a non-exhaustive variant is
/// matched with `{ .. }`):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), switchboard::vault::VaultError> {
/// use switchboard::vault::{Principal, TenantId, VaultConfig, VaultHandle};
///
/// let vault = VaultHandle::memory(VaultConfig::default()).await?;
/// let duck = TenantId::parse("discord", "duck")?;
/// let scope = vault.gateway_scope(&duck);
/// let who = match scope.principal() {
///     Principal::Gateway { 0: tenant, .. } => format!("the gateway of {tenant}"),
///     Principal::Admin { .. } => "the admin".to_owned(),
///     other => other.to_string(),
/// };
/// assert_eq!(who, "the gateway of discord/duck");
/// assert_eq!(scope.principal().to_string(), "gateway(discord/duck)");
/// assert_eq!(Principal::named("billing")?.to_string(), "named(billing)");
/// # vault.stop();
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Principal {
    /// A tenant's gateway actor (access layer).
    #[non_exhaustive]
    Gateway(TenantId),
    /// A tenant's REST actor (access layer).
    #[non_exhaustive]
    Rest(TenantId),
    /// A generic worker (domain layer), carrying the tenant whose envelope it is
    /// handling, if any. Policy templates (`{provider}`, `{tenant}`) bind to it.
    #[non_exhaustive]
    Worker {
        /// The tenant being served.
        serving: Option<TenantId>,
    },
    /// The operator / the daemon publishing credentials.
    #[non_exhaustive]
    Admin,
    /// A principal of an embedding application; it gets nothing unless a rule names it.
    Named(
        /// A validated name (`[a-z0-9_-]{1,64}`).
        Box<str>,
    ),
}

impl Principal {
    /// A named principal.
    ///
    /// # Errors
    /// [`VaultError::InvalidPath`] for a name outside `[a-z0-9_-]{1,64}`.
    pub fn named(name: &str) -> Result<Self, VaultError> {
        check_segment(name).map_err(|reason| VaultError::InvalidPath {
            path: name.chars().take(80).collect(),
            reason,
        })?;
        Ok(Self::Named(name.into()))
    }

    /// The tenant that `{provider}` / `{tenant}` templates bind to, if any.
    #[must_use]
    pub fn bound_tenant(&self) -> Option<&TenantId> {
        match self {
            Self::Gateway(t) | Self::Rest(t) => Some(t),
            Self::Worker { serving } => serving.as_ref(),
            Self::Admin | Self::Named(_) => None,
        }
    }

    /// A stable key naming this principal in indexes and quotas
    /// (`gateway:discord:duck`, `worker:discord:duck`, `worker`, `admin`, `named:x`).
    #[must_use]
    pub fn key(&self) -> String {
        match self {
            Self::Gateway(t) => format!("gateway:{}:{}", t.provider, t.tenant),
            Self::Rest(t) => format!("rest:{}:{}", t.provider, t.tenant),
            Self::Worker { serving: Some(t) } => format!("worker:{}:{}", t.provider, t.tenant),
            Self::Worker { serving: None } => "worker".to_owned(),
            Self::Admin => "admin".to_owned(),
            Self::Named(n) => format!("named:{n}"),
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gateway(t) => write!(f, "gateway({t})"),
            Self::Rest(t) => write!(f, "rest({t})"),
            Self::Worker { serving: Some(t) } => write!(f, "worker({t})"),
            Self::Worker { serving: None } => f.write_str("worker"),
            Self::Admin => f.write_str("admin"),
            Self::Named(n) => write!(f, "named({n})"),
        }
    }
}

/// What a principal wants to do with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Capability {
    /// Lease a provider credential exclusively, to run the tenant's gateway
    /// (`provider.gateway`).
    #[serde(rename = "provider.gateway")]
    ProviderGateway,
    /// Lease a provider credential to call the provider's REST API (`provider.rest`).
    #[serde(rename = "provider.rest")]
    ProviderRest,
    /// Lease an app secret (`secret.read`).
    #[serde(rename = "secret.read")]
    SecretRead,
    /// Put, rotate or delete a secret (`secret.write`).
    #[serde(rename = "secret.write")]
    SecretWrite,
    /// Revoke other principals' leases (`lease.revoke`).
    #[serde(rename = "lease.revoke")]
    LeaseRevoke,
}

impl Capability {
    /// Every capability, for matrices and docs.
    pub const ALL: [Self; 5] = [
        Self::ProviderGateway,
        Self::ProviderRest,
        Self::SecretRead,
        Self::SecretWrite,
        Self::LeaseRevoke,
    ];

    /// The dotted name (`provider.gateway`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProviderGateway => "provider.gateway",
            Self::ProviderRest => "provider.rest",
            Self::SecretRead => "secret.read",
            Self::SecretWrite => "secret.write",
            Self::LeaseRevoke => "lease.revoke",
        }
    }

    /// The kind of secret this capability leases, or `None` if it is not a lease
    /// capability.
    #[must_use]
    pub fn leases(self) -> Option<super::SecretKind> {
        match self {
            Self::ProviderGateway | Self::ProviderRest => {
                Some(super::SecretKind::ProviderCredential)
            }
            Self::SecretRead => Some(super::SecretKind::AppSecret),
            Self::SecretWrite | Self::LeaseRevoke => None,
        }
    }

    /// Whether a lease with this capability is exclusive (one holder per credential
    /// across every vault sharing the store, with a fencing token).
    #[must_use]
    pub fn is_exclusive(self) -> bool {
        self == Self::ProviderGateway
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = VaultError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| VaultError::InvalidPolicy {
                reason: format!("unknown capability {s:?}"),
            })
    }
}
