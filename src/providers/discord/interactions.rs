//! Interaction tokens, kept in the access layer.
//!
//! Discord authorises the answer to an interaction with a token that comes in the
//! `INTERACTION_CREATE` payload and stays valid for 15 minutes. Workers must never see
//! it: the tenant's gateway puts it here under the interaction id, and the tenant's
//! REST actor takes it by id when a worker's `RespondInteraction` command arrives.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use secrecy::SecretString;
use tokio::time::Instant;

/// How long Discord accepts an interaction token.
pub const INTERACTION_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Debug)]
struct Entry {
    token: SecretString,
    application_id: String,
    expires: Instant,
}

/// One tenant's interaction tokens by interaction id. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct InteractionTokens {
    inner: Arc<DashMap<String, Entry>>,
}

impl InteractionTokens {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Remembers `token` for `interaction_id` for [`INTERACTION_TOKEN_TTL`].
    pub fn insert(&self, interaction_id: &str, application_id: &str, token: SecretString) {
        self.sweep();
        self.inner.insert(
            interaction_id.to_owned(),
            Entry {
                token,
                application_id: application_id.to_owned(),
                expires: Instant::now() + INTERACTION_TOKEN_TTL,
            },
        );
    }

    /// The token and application id of a live interaction, if known.
    #[must_use]
    pub fn get(&self, interaction_id: &str) -> Option<(SecretString, String)> {
        let e = self.inner.get(interaction_id)?;
        (e.expires > Instant::now()).then(|| (e.token.clone(), e.application_id.clone()))
    }

    /// How many tokens are held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether none are held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Drops expired tokens.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.inner.retain(|_, e| e.expires > now);
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokens_expire_after_fifteen_minutes() {
        let t = InteractionTokens::new();
        t.insert("1", "app", SecretString::from("tok"));
        assert_eq!(
            t.get("1").map(|(s, a)| (s.expose_secret().to_owned(), a)),
            Some(("tok".into(), "app".into()))
        );
        tokio::time::advance(INTERACTION_TOKEN_TTL + Duration::from_secs(1)).await;
        assert!(t.get("1").is_none());
        t.sweep();
        assert!(t.is_empty());
    }
}
