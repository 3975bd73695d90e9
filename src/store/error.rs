//! [`StoreError`]: why a store operation failed.

use crate::model::TenantId;

/// A boxed error from the database driver, kept as the source of a [`StoreError`]
/// so driver types do not leak into the public API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The configuration cannot work (a PostgreSQL backend without a URL, ...).
    #[error("store configuration: {0}")]
    Config(String),
    /// The SQLite file's folder could not be created.
    #[error("store: cannot create {path}")]
    Io {
        /// The folder.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Text search or indexing by meaning without an embedder
    /// (`runtime.embeddings` is not configured).
    #[error("no embedder is configured (runtime.embeddings)")]
    NoEmbedder,
    /// Embedding failed (the tenant's key could not be read, or the embedder
    /// failed).
    #[error("store: embedding failed")]
    Embed(#[source] crate::embed::EmbedError),
    /// The database could not be reached (never shows the URL: it may hold a
    /// password).
    #[error("store: cannot connect to {target}")]
    Connect {
        /// What was connected to, without credentials.
        target: String,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The schema migrations failed.
    #[error("store: migrations failed")]
    Migrate(#[source] BoxError),
    /// A statement failed.
    #[error("store: {op} failed")]
    Query {
        /// What the store was doing.
        op: &'static str,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// The tenant's configured `storage.namespace` differs from the one its rows
    /// were written under: refused, so a rename cannot orphan them. Move them with
    /// [`Store::move_namespace`](super::Store::move_namespace) first.
    #[error(
        "tenant {tenant}: storage.namespace {configured:?} differs from {stored:?}, under which it has {rows} stored rows; move them first (Store::move_namespace) or keep the old namespace"
    )]
    NamespaceChanged {
        /// The tenant.
        tenant: TenantId,
        /// The namespace its rows carry.
        stored: String,
        /// The namespace the registry names now.
        configured: String,
        /// How many rows it has.
        rows: i64,
    },
    /// A vector of the wrong shape (empty, or not the dimension asked for).
    #[error("store: {0}")]
    Vector(String),
    /// A stored value could not be read back (a corrupt row).
    #[error("store: corrupt {0}")]
    Corrupt(&'static str),
}

impl StoreError {
    /// A failed statement.
    pub(crate) fn query(op: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |e| Self::Query {
            op,
            source: Box::new(e),
        }
    }
}
