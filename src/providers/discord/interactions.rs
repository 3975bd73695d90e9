//! Interaction tokens, kept in the access layer.
//!
//! Discord authorises the answer to an interaction with a token that comes in the
//! `INTERACTION_CREATE` payload and stays valid for 15 minutes. Workers must never see
//! it: the tenant's gateway puts it here under the interaction id, and the tenant's
//! REST actor takes it by id when a worker's `RespondInteraction` command arrives.
//!
//! In a cluster the REST actor that serves the request may run on another node than
//! the gateway that received the interaction, or the gateway's node may have died
//! since: with a [`SharedTokenStore`] the tokens are also kept in Redis under
//! `<prefix>:{<provider>:<tenant>}:interaction:<id>`, sealed with a key derived from
//! the vault key ([`TokenSealer`]; the AEAD binds the key name) and expiring with
//! Discord's 15 minutes. Never on the bus, never in plaintext.

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use fred::prelude::*;
use fred::types::Expiration;
use secrecy::SecretString;
use tokio::time::Instant;

use crate::model::TenantId;
use crate::vault::TokenSealer;

/// How long Discord accepts an interaction token.
pub const INTERACTION_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Debug)]
struct Entry {
    token: SecretString,
    application_id: String,
    expires: Instant,
}

/// Why the shared token store could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("interaction token store on Redis: {0}")]
pub struct TokenStoreError(#[source] Box<dyn std::error::Error + Send + Sync>);

struct StoreInner {
    client: Client,
    prefix: String,
    sealer: TokenSealer,
}

/// Interaction tokens shared by a cluster's access nodes, sealed in Redis. Cheap to
/// clone.
#[derive(Clone)]
pub struct SharedTokenStore {
    inner: Arc<StoreInner>,
}

impl std::fmt::Debug for SharedTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedTokenStore")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl SharedTokenStore {
    /// A store on the Redis at `url`, keys under `prefix`, sealed by `sealer`.
    ///
    /// # Errors
    /// [`TokenStoreError`] if the URL is invalid or Redis cannot be reached.
    pub async fn redis(
        url: &str,
        prefix: &str,
        sealer: TokenSealer,
    ) -> Result<Self, TokenStoreError> {
        let client = crate::bus::connect_redis(url)
            .await
            .map_err(|e| TokenStoreError(Box::new(e)))?;
        Ok(Self {
            inner: Arc::new(StoreInner {
                client,
                prefix: prefix.to_owned(),
                sealer,
            }),
        })
    }

    /// The Redis key of an interaction's token.
    #[must_use]
    pub fn key(&self, tenant: &TenantId, interaction_id: &str) -> String {
        format!(
            "{}:{{{}:{}}}:interaction:{interaction_id}",
            self.inner.prefix, tenant.provider, tenant.tenant
        )
    }

    async fn put(&self, key: &str, application_id: &str, token: &SecretString) {
        let sealed = match self.inner.sealer.seal(token, key) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %crate::Report(&e), "cannot seal an interaction token");
                return;
            }
        };
        // `<application id>\n<sealed token>`: the id is not secret.
        let mut value = Vec::with_capacity(application_id.len() + 1 + sealed.len());
        value.extend_from_slice(application_id.as_bytes());
        value.push(b'\n');
        value.extend_from_slice(&sealed);
        let ttl = Expiration::PX(INTERACTION_TOKEN_TTL.as_millis() as i64);
        if let Err(e) = self
            .inner
            .client
            .set::<(), _, _>(key, Value::Bytes(value.into()), Some(ttl), None, false)
            .await
        {
            tracing::warn!(error = %crate::Report(&e), "cannot share an interaction token; only this node can answer it");
            metrics::counter!("switchboard_interaction_token_share_errors_total").increment(1);
        }
    }

    async fn get(&self, key: &str) -> Option<(SecretString, String)> {
        let raw: Option<Vec<u8>> = match self.inner.client.get(key).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %crate::Report(&e), "cannot read a shared interaction token");
                return None;
            }
        };
        let raw = raw?;
        let split = raw.iter().position(|b| *b == b'\n')?;
        let app = String::from_utf8(raw[..split].to_vec()).ok()?;
        let token = self.inner.sealer.open(&raw[split + 1..], key)?;
        Some((token, app))
    }
}

/// One tenant's interaction tokens by interaction id. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct InteractionTokens {
    inner: Arc<DashMap<String, Entry>>,
    shared: Option<(SharedTokenStore, TenantId)>,
}

impl InteractionTokens {
    /// An empty store in this process only.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that also keeps `tenant`'s tokens in `store`, for every access
    /// node of the cluster.
    #[must_use]
    pub fn shared(store: SharedTokenStore, tenant: TenantId) -> Self {
        Self {
            inner: Arc::default(),
            shared: Some((store, tenant)),
        }
    }

    /// Remembers `token` here and, with a shared store, in Redis (awaited, so the
    /// token is there before the event that names it is published).
    pub async fn put(&self, interaction_id: &str, application_id: &str, token: SecretString) {
        if let Some((store, tenant)) = &self.shared {
            store
                .put(&store.key(tenant, interaction_id), application_id, &token)
                .await;
        }
        self.insert(interaction_id, application_id, token);
    }

    /// The token of a live interaction: from this process, else from the shared
    /// store (another node received it).
    pub async fn fetch(&self, interaction_id: &str) -> Option<(SecretString, String)> {
        if let Some(found) = self.get(interaction_id) {
            return Some(found);
        }
        let (store, tenant) = self.shared.as_ref()?;
        store.get(&store.key(tenant, interaction_id)).await
    }

    /// Remembers `token` for `interaction_id` for [`INTERACTION_TOKEN_TTL`], in this
    /// process only.
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
    #[cfg(test)]
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether none are held.
    #[cfg(test)]
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
