//! A tenant's embedding vectors and exact nearest-neighbour search over them.
//!
//! Vectors are stored as little-endian f32 bytes with their model and dimension.
//! [`TenantStore::similar_to_vector`] reads the tenant's vectors of one kind and
//! dimension and ranks them by cosine similarity in Rust: exact, and linear in the
//! tenant's vector count (fine up to some hundred thousand; past that, an ANN index
//! such as pgvector's HNSW belongs in the PostgreSQL backend).

use sqlx::Row;

use super::error::StoreError;
use super::tenant::{TenantStore, len_i64, message_columns_of, message_from_row};
use super::types::StoredMessage;

/// The embedding kind of messages.
pub const MESSAGES_KIND: &str = "messages";

impl TenantStore {
    /// Stores (or replaces) the vector of `kind`/`id` made by `model`.
    ///
    /// # Errors
    /// [`StoreError::Vector`] for an empty or non-finite vector, else
    /// [`StoreError::Query`].
    pub async fn put_embedding(
        &self,
        kind: &str,
        id: &str,
        model: &str,
        vector: &[f32],
    ) -> Result<(), StoreError> {
        if vector.is_empty() || vector.iter().any(|x| !x.is_finite()) {
            return Err(StoreError::Vector(
                "an embedding must be non-empty and finite".to_owned(),
            ));
        }
        let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
        sqlx::query(
            "INSERT INTO embeddings (provider, tenant, namespace, kind, foreign_id, model, dim, vector) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (provider, tenant, kind, foreign_id, model) DO UPDATE SET \
             dim = excluded.dim, vector = excluded.vector, namespace = excluded.namespace",
        )
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(self.namespace())
        .bind(kind)
        .bind(id)
        .bind(model)
        .bind(len_i64(vector.len()))
        .bind(bytes)
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("store an embedding"))?;
        Ok(())
    }

    /// The `k` stored messages of this tenant whose `kind` vectors are most similar
    /// (cosine) to `query`, most similar first, with their similarity. Deleted
    /// messages and vectors of another dimension are left out.
    ///
    /// # Errors
    /// [`StoreError::Vector`] for an empty query, else [`StoreError::Query`].
    pub async fn similar_to_vector(
        &self,
        kind: &str,
        query: &[f32],
        k: usize,
    ) -> Result<Vec<(StoredMessage, f32)>, StoreError> {
        let op = "search embeddings";
        let query_norm = norm(query);
        if query.is_empty() || query_norm == 0.0 || !query_norm.is_finite() {
            return Err(StoreError::Vector(
                "a query vector must be non-empty, finite and not zero".to_owned(),
            ));
        }
        let sql = format!(
            "SELECT e.vector, {} FROM embeddings e JOIN messages m \
             ON m.provider = e.provider AND m.tenant = e.tenant AND m.foreign_id = e.foreign_id \
             WHERE e.provider = $1 AND e.tenant = $2 AND e.kind = $3 AND e.dim = $4 \
             AND m.deleted_ms IS NULL",
            message_columns_of("m")
        );
        let rows = sqlx::query(&sql)
            .bind(self.provider_name())
            .bind(self.tenant_name())
            .bind(kind)
            .bind(len_i64(query.len()))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::query(op))?;
        let mut scored = Vec::with_capacity(rows.len());
        for row in &rows {
            let bytes: Vec<u8> = row.try_get(0).map_err(StoreError::query(op))?;
            let vector = decode(&bytes).ok_or(StoreError::Corrupt("embedding vector"))?;
            let score = cosine(query, query_norm, &vector);
            scored.push((
                message_from_row(row, 1).map_err(StoreError::query(op))?,
                score,
            ));
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.id.cmp(&b.0.id)));
        scored.truncate(k);
        Ok(scored)
    }

    /// How many vectors the tenant has.
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn embeddings_count(&self) -> Result<i64, StoreError> {
        self.count(
            "SELECT COUNT(*) FROM embeddings WHERE provider = $1 AND tenant = $2",
            "count embeddings",
        )
        .await
    }
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// Cosine similarity of `a` (whose norm is given) and `b`; 0 for a zero `b`.
fn cosine(a: &[f32], a_norm: f32, b: &[f32]) -> f32 {
    let b_norm = norm(b);
    if b_norm == 0.0 {
        return 0.0;
    }
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    dot / (a_norm * b_norm)
}

/// Little-endian f32 bytes back to floats (`None` for a length not a multiple of 4).
fn decode(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_ranks_parallel_above_orthogonal() {
        let q = [1.0, 0.0];
        let n = norm(&q);
        assert!((cosine(&q, n, &[2.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&q, n, &[0.0, 1.0]).abs() < 1e-6);
        assert!((cosine(&q, n, &[-1.0, 0.0]) + 1.0).abs() < 1e-6);
        assert!(cosine(&q, n, &[0.0, 0.0]).abs() < f32::EPSILON);
    }

    #[test]
    fn vectors_round_trip_through_bytes() {
        let v = [0.5_f32, -1.25, 3.0];
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        assert_eq!(decode(&bytes).unwrap(), v);
        assert!(decode(&bytes[..5]).is_none());
    }
}
