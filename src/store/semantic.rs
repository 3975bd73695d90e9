//! Search by meaning: [`TenantStore::similar`] embeds a text with the runtime's
//! [`Embedder`] — paid with this tenant's own API key, an app secret leased through
//! the workers' [`WorkerSecrets`] capability — and returns this tenant's nearest
//! messages; [`TenantStore::embed_message`] stores a message's vector (what the
//! `embedding-indexer` does for every new message).
//!
//! The search is exact (cosine over every vector of the tenant and kind, in
//! `TenantStore::similar_to_vector`): fine to tens of thousands of messages per
//! tenant. Past that, an approximate index per namespace (pgvector's HNSW on
//! PostgreSQL, or an in-process HNSW rebuilt from the rows) replaces the scan behind
//! the same method.

use std::sync::Arc;

use super::embeddings::MESSAGES_KIND;
use super::error::StoreError;
use super::tenant::TenantStore;
use super::types::StoredMessage;
use crate::embed::{EmbedError, Embedder};
use crate::vault::WorkerSecrets;

/// What a [`TenantStore`] needs to embed text for its tenant.
#[derive(Clone)]
pub(crate) struct Semantic {
    /// The runtime's embedder (`runtime.embeddings`, or one given in code).
    pub(crate) embedder: Arc<dyn Embedder>,
    /// The app secret holding each tenant's API key.
    pub(crate) secret: Arc<str>,
    /// The workers' capability for app secrets (`None`: no vault; nothing embeds).
    pub(crate) secrets: Option<WorkerSecrets>,
}

impl TenantStore {
    /// This store, able to embed text for its tenant.
    #[must_use]
    pub(crate) fn with_semantic(mut self, semantic: Option<Semantic>) -> Self {
        self.semantic = semantic;
        self
    }

    /// Embeds `texts` with this tenant's key: one vector per text, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, StoreError> {
        let semantic = self.semantic.as_ref().ok_or(StoreError::NoEmbedder)?;
        let secrets = semantic.secrets.as_ref().ok_or_else(|| {
            StoreError::Embed(EmbedError::Config(
                "no vault: the tenant's API key cannot be read".to_owned(),
            ))
        })?;
        let key = secrets
            .app_secret(&self.tenant, &semantic.secret)
            .await
            .map_err(|source| {
                StoreError::Embed(EmbedError::Secret {
                    name: semantic.secret.to_string(),
                    source: Box::new(source),
                })
            })?;
        semantic
            .embedder
            .embed(&self.tenant, &key, texts)
            .await
            .map_err(StoreError::Embed)
    }

    /// Embeds a message's text and stores the vector (kind `messages`, with the
    /// embedder's model name); replaces an earlier vector of the same message, so a
    /// redelivery stores one. Empty text is skipped (`false`).
    ///
    /// # Errors
    /// [`StoreError::NoEmbedder`] without `runtime.embeddings`;
    /// [`StoreError::Embed`] when the key cannot be read or the embedder fails;
    /// a query error.
    pub async fn embed_message(&self, id: &str, text: &str) -> Result<bool, StoreError> {
        if text.trim().is_empty() {
            return Ok(false);
        }
        let vectors = self.embed(&[text.to_owned()]).await?;
        let Some(vector) = vectors.first() else {
            return Ok(false);
        };
        let model = self
            .semantic
            .as_ref()
            .map_or("", |s| s.embedder.model())
            .to_owned();
        self.put_embedding(MESSAGES_KIND, id, &model, vector)
            .await?;
        Ok(true)
    }

    /// The `k` messages of this tenant nearest in meaning to `text`, nearest first,
    /// with their cosine similarity. Only this tenant's vectors are searched.
    ///
    /// # Errors
    /// As [`TenantStore::embed_message`].
    pub async fn similar(
        &self,
        text: &str,
        k: usize,
    ) -> Result<Vec<(StoredMessage, f32)>, StoreError> {
        let vectors = self.embed(&[text.to_owned()]).await?;
        match vectors.first() {
            Some(query) => self.similar_to_vector(MESSAGES_KIND, query, k).await,
            None => Ok(Vec::new()),
        }
    }
}
