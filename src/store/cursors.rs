//! Named positions of a tenant's resumable jobs (backfill's "oldest message seen").

use sqlx::Row;

use super::error::StoreError;
use super::tenant::TenantStore;

impl TenantStore {
    /// The cursor `name`, if set.
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        let op = "read a cursor";
        sqlx::query("SELECT value FROM cursors WHERE provider = $1 AND tenant = $2 AND name = $3")
            .bind(self.provider_name())
            .bind(self.tenant_name())
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::query(op))?
            .map(|row| row.try_get::<String, _>(0))
            .transpose()
            .map_err(StoreError::query(op))
    }

    /// Sets the cursor `name` to `value`.
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cursors (provider, tenant, name, value, updated_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (provider, tenant, name) DO UPDATE SET value = excluded.value, \
             updated_ms = excluded.updated_ms",
        )
        .bind(self.provider_name())
        .bind(self.tenant_name())
        .bind(name)
        .bind(value)
        .bind(super::tenant::now_ms())
        .execute(&self.pool)
        .await
        .map_err(StoreError::query("write a cursor"))?;
        Ok(())
    }
}
