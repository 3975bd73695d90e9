//! The gateway actor's error type: a kind per variant, and where a dependency failed
//! (twilight-http, the session store, ractor) that error kept as the
//! [`source`](std::error::Error::source), not flattened into a string (the model is
//! twilight-gateway's `error.rs`). No variant carries a token.

use crate::model::TopicError;
use crate::providers::discord::gateway::UnknownIntent;
use crate::vault::VaultError;

/// An error from a dependency, kept as a variant's source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can keep a tenant's gateway from starting or running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The vault refused or lost the exclusive `provider.gateway` lease (e.g.
    /// [`VaultError::AlreadyHeld`]: another gateway runs this tenant).
    #[error("gateway lease: {0}")]
    Lease(#[from] VaultError),
    /// A configured intent name is unknown.
    #[error(transparent)]
    Intents(#[from] UnknownIntent),
    /// The namespace cannot form topics.
    #[error("invalid namespace: {0}")]
    Namespace(#[from] TopicError),
    /// An `endpoints` URL is not usable.
    #[error("invalid endpoint {url:?}: {reason}")]
    Endpoint {
        /// The configured URL.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The provider rejected the token on `GET /gateway/bot` (HTTP 401).
    #[error("401 authentication failed (token rejected by GET /gateway/bot)")]
    Unauthorized,
    /// `GET /gateway/bot` failed otherwise (the source: twilight-http's error, or
    /// the timeout).
    #[error("GET /gateway/bot failed")]
    GatewayInfo(#[source] BoxError),
    /// A newer owner of the tenant's gateway lease has written: this gateway's
    /// fenced write was refused, and it must stand down.
    #[error("stale owner: a newer gateway owner's fence is on record (ours is {fence})")]
    Stale {
        /// This gateway's fence.
        fence: u64,
    },
    /// The lease's fence could not be claimed on the bus before connecting (the
    /// source: the bus's error).
    #[error("cannot claim the gateway lease's fence on the bus")]
    Fence(#[source] BoxError),
    /// The session store failed (the source: Redis's or the codec's error).
    #[error("the gateway session store failed")]
    Store(#[source] BoxError),
    /// The actor could not be spawned (the source: ractor's error).
    #[error("the gateway actor could not start")]
    Spawn(#[source] BoxError),
}

impl GatewayError {
    /// Whether retrying cannot help (bad configuration or a rejected token), so a
    /// supervisor should leave the tenant failed.
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Intents(_) | Self::Namespace(_) | Self::Endpoint { .. } | Self::Unauthorized
        ) || matches!(
            self,
            Self::Lease(VaultError::PolicyDenied { .. } | VaultError::NotFound { .. })
        )
    }
}
