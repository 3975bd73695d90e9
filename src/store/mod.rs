//! The tenant-scoped store: messages, attachments, cursors and embeddings of every
//! tenant, in SQLite (embedded) or PostgreSQL, reached by handlers through
//! [`Ctx::store`](crate::handler::Ctx::store).
//!
//! # Layout
//!
//! - [`Store`] (this file): the connection pool (sqlx's `Any` driver over SQLite or
//!   PostgreSQL), migrations at connect (`migrate.rs`), the namespace each tenant's
//!   rows were written under (the namespace guard) and [`Store::tenant`].
//! - [`TenantStore`] (`tenant.rs`, `attachments.rs`, `cursors.rs`,
//!   `embeddings.rs`): the store bound to one tenant. Every statement it issues
//!   binds the tenant's provider and name; there is no method taking another
//!   tenant and no raw SQL, so a handler cannot read or write another tenant's rows.
//! - `indexer/`: the built-in handlers `message-indexer`, `attachment-indexer` and
//!   `backfill`.
//!
//! # Schema
//!
//! Messages and attachments are unique on `(provider, tenant, foreign_id)` (the
//! provider's id), so every write is an idempotent upsert: a redelivered event
//! changes nothing. Edits keep the replaced content in `message_edits` (one row per
//! distinct edit); deletes are soft (`deleted_ms`). Identical attachment bytes are
//! one `blobs` row per tenant (a reference count), whatever the attachments carrying
//! them. `cursors` are named resumable positions (backfill); `embeddings` are f32
//! vectors per `(kind, foreign_id, model)`, searched exactly by cosine in Rust —
//! an ANN index (pgvector's HNSW, or sqlite-vec) is the path once a tenant holds
//! more than some hundred thousand vectors.
//!
//! SQLite runs with one connection (one writer: concurrent writers would meet
//! `SQLITE_BUSY` instead of queueing) in WAL mode; PostgreSQL with a pool.

mod attachments;
mod cursors;
mod embeddings;
mod error;
pub mod indexer;
mod migrate;
mod semantic;
mod tenant;
mod types;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use secrecy::ExposeSecret;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::{Executor, Row};

pub use crate::config::{StoreBackend, StoreConfig};
pub use embeddings::MESSAGES_KIND;
pub use error::{BoxError, StoreError};
pub(crate) use semantic::Semantic;
pub use tenant::TenantStore;
pub use types::{DeleteOutcome, EditOutcome, MessageEdit, StoredAttachment, StoredMessage, Upsert};

use crate::model::TenantId;

/// The tables whose rows carry a tenant's namespace.
const NAMESPACED: [&str; 3] = ["messages", "attachments", "embeddings"];

/// The store: a cheap [`Clone`] of one connection pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), switchboard::store::StoreError> {
/// use switchboard::model::TenantId;
/// use switchboard::store::{Store, StoreConfig};
///
/// let store = Store::connect(&StoreConfig::sqlite("data/switchboard.sqlite")).await?;
/// let duck = TenantId::parse("discord", "duck").expect("valid names");
/// let messages = store.register_tenant(&duck, "discord__duck").await?;
/// println!("{} messages", messages.messages_count().await?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pool: AnyPool,
    backend: StoreBackend,
    target: String,
    /// The namespace of each tenant registered on this node (`Ctx::store` uses it).
    namespaces: RwLock<HashMap<TenantId, Arc<str>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

/// The default namespace of a tenant: `<provider>__<tenant>`.
#[must_use]
pub fn default_namespace(tenant: &TenantId) -> String {
    format!("{}__{}", tenant.provider, tenant.tenant)
}

impl Store {
    /// Connects (creating the SQLite file and its folder if missing) and brings the
    /// schema up to date.
    ///
    /// # Errors
    /// [`StoreError::Config`] for a PostgreSQL backend without a URL,
    /// [`StoreError::Io`], [`StoreError::Connect`], [`StoreError::Migrate`].
    pub async fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let target = config.describe();
        let (url, options) = match config.backend {
            StoreBackend::Sqlite => {
                let path = config
                    .path
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(StoreConfig::DEFAULT_SQLITE_PATH));
                // One connection: SQLite has one writer, and an in-memory database
                // lives as long as its connection (so it must never be recycled).
                let options = AnyPoolOptions::new()
                    .max_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None);
                if path == Path::new(":memory:") {
                    ("sqlite::memory:".to_owned(), options)
                } else {
                    create_parent(&path)?;
                    let options = options.after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            Ok(())
                        })
                    });
                    (format!("sqlite://{}?mode=rwc", path.display()), options)
                }
            }
            StoreBackend::Postgres => {
                let url = config.url.as_ref().ok_or_else(|| {
                    StoreError::Config("backend postgres needs runtime.store.url".to_owned())
                })?;
                let options =
                    AnyPoolOptions::new().max_connections(config.max_connections.unwrap_or(8));
                (url.expose_secret().to_owned(), options)
            }
        };
        let pool = options
            .connect(&url)
            .await
            .map_err(|e| StoreError::Connect {
                target: target.clone(),
                source: Box::new(e),
            })?;
        let migrator = migrate::migrator(config.backend)
            .await
            .map_err(StoreError::Migrate)?;
        migrator
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migrate(Box::new(e)))?;
        tracing::info!(
            store = %target,
            schema = migrate::latest_version(),
            "store connected"
        );
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                backend: config.backend,
                target,
                namespaces: RwLock::new(HashMap::new()),
            }),
        })
    }

    /// Which backend it uses.
    #[must_use]
    pub fn backend(&self) -> StoreBackend {
        self.inner.backend
    }

    /// What it is connected to, without credentials.
    #[must_use]
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// The store bound to `tenant`, writing new rows under `namespace`. Does not
    /// check the namespace guard: the runtime calls [`Store::register_tenant`] for
    /// every configured tenant at start.
    #[must_use]
    pub fn tenant(&self, tenant: &TenantId, namespace: &str) -> TenantStore {
        TenantStore::new(
            self.inner.pool.clone(),
            tenant.clone(),
            Arc::from(namespace),
        )
    }

    /// The store bound to `tenant` under the namespace it was registered with on
    /// this node (else `<provider>__<tenant>`): what `Ctx::store` hands a handler.
    pub(crate) fn for_tenant(&self, tenant: &TenantId) -> TenantStore {
        let namespace = self
            .inner
            .namespaces
            .read()
            .ok()
            .and_then(|m| m.get(tenant).cloned())
            .unwrap_or_else(|| Arc::from(default_namespace(tenant)));
        TenantStore::new(self.inner.pool.clone(), tenant.clone(), namespace)
    }

    /// Records `namespace` as `tenant`'s and returns its store. The namespace guard:
    /// a tenant whose rows were written under another namespace is refused while it
    /// has any ([`Store::move_namespace`] moves them); without rows the new namespace
    /// simply replaces the old.
    ///
    /// # Errors
    /// [`StoreError::NamespaceChanged`], or [`StoreError::Query`].
    pub async fn register_tenant(
        &self,
        tenant: &TenantId,
        namespace: &str,
    ) -> Result<TenantStore, StoreError> {
        let (provider, name) = (tenant.provider.as_str(), tenant.tenant.as_str());
        let stored: Option<String> = sqlx::query(
            "SELECT namespace FROM tenant_namespaces WHERE provider = $1 AND tenant = $2",
        )
        .bind(provider)
        .bind(name)
        .fetch_optional(&self.inner.pool)
        .await
        .map_err(StoreError::query("read the tenant's namespace"))?
        .map(|row| row.try_get::<String, _>(0))
        .transpose()
        .map_err(StoreError::query("read the tenant's namespace"))?;
        match stored {
            Some(stored) if stored == namespace => {}
            Some(stored) => {
                let rows = self.tenant(tenant, &stored).rows_under_namespace().await?;
                if rows > 0 {
                    return Err(StoreError::NamespaceChanged {
                        tenant: tenant.clone(),
                        stored,
                        configured: namespace.to_owned(),
                        rows,
                    });
                }
                self.set_namespace(tenant, namespace).await?;
            }
            None => self.set_namespace(tenant, namespace).await?,
        }
        if let Ok(mut map) = self.inner.namespaces.write() {
            map.insert(tenant.clone(), Arc::from(namespace));
        }
        Ok(self.tenant(tenant, namespace))
    }

    /// Moves every row of `tenant` to namespace `to` and records it as the tenant's
    /// (one transaction); returns how many rows moved. What an operator runs before
    /// renaming a tenant's `storage.namespace`.
    ///
    /// # Errors
    /// [`StoreError::Query`].
    pub async fn move_namespace(&self, tenant: &TenantId, to: &str) -> Result<u64, StoreError> {
        let (provider, name) = (tenant.provider.as_str(), tenant.tenant.as_str());
        let op = "move the tenant's namespace";
        let mut tx = self
            .inner
            .pool
            .begin()
            .await
            .map_err(StoreError::query(op))?;
        let mut moved = 0;
        for table in NAMESPACED {
            let sql = format!(
                "UPDATE {table} SET namespace = $1 WHERE provider = $2 AND tenant = $3 AND namespace <> $1"
            );
            moved += sqlx::query(&sql)
                .bind(to)
                .bind(provider)
                .bind(name)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::query(op))?
                .rows_affected();
        }
        upsert_namespace(&mut *tx, provider, name, to)
            .await
            .map_err(StoreError::query(op))?;
        tx.commit().await.map_err(StoreError::query(op))?;
        if let Ok(mut map) = self.inner.namespaces.write() {
            map.insert(tenant.clone(), Arc::from(to));
        }
        tracing::info!(%tenant, namespace = to, moved, "store: tenant moved to a new namespace");
        Ok(moved)
    }

    async fn set_namespace(&self, tenant: &TenantId, namespace: &str) -> Result<(), StoreError> {
        upsert_namespace(
            &self.inner.pool,
            tenant.provider.as_str(),
            tenant.tenant.as_str(),
            namespace,
        )
        .await
        .map_err(StoreError::query("record the tenant's namespace"))
    }

    /// Closes every connection (after the statements running finish).
    pub async fn close(&self) {
        self.inner.pool.close().await;
    }
}

async fn upsert_namespace<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    provider: &str,
    tenant: &str,
    namespace: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tenant_namespaces (provider, tenant, namespace) VALUES ($1, $2, $3) \
         ON CONFLICT (provider, tenant) DO UPDATE SET namespace = excluded.namespace",
    )
    .bind(provider)
    .bind(tenant)
    .bind(namespace)
    .execute(executor)
    .await
    .map(|_| ())
}

/// Creates the folder of a SQLite file.
fn create_parent(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}
