//! The schema's migrations, embedded in the binary and run at connect.
//!
//! Each backend has its own folder (`migrations/sqlite`, `migrations/postgres`: the
//! column types differ), with the same versions. They are embedded with
//! `include_str!` and handed to sqlx's [`Migrator`] through a [`MigrationSource`],
//! which is what `sqlx::migrate!` expands to, without building sqlx's proc-macro
//! crate. sqlx records each applied version with its checksum in
//! `_sqlx_migrations`: a migration is applied once, and an applied one that was
//! edited afterwards is refused. Add a migration as a new `NNNN_name.sql` in both
//! folders and a line in each list below; never edit an applied one.

use std::borrow::Cow;

use futures_util::future::BoxFuture;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::config::StoreBackend;

/// (version, description, SQL) of every SQLite migration, in order.
const SQLITE: &[(i64, &str, &str)] = &[(
    1,
    "store",
    include_str!("../../migrations/sqlite/0001_store.sql"),
)];

/// (version, description, SQL) of every PostgreSQL migration, in order.
const POSTGRES: &[(i64, &str, &str)] = &[(
    1,
    "store",
    include_str!("../../migrations/postgres/0001_store.sql"),
)];

/// The migrations of one backend, as sqlx reads them.
#[derive(Debug, Clone, Copy)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// The migrator of `backend`'s schema.
pub(super) async fn migrator(backend: StoreBackend) -> Result<Migrator, BoxDynError> {
    let source = match backend {
        StoreBackend::Sqlite => Embedded(SQLITE),
        StoreBackend::Postgres => Embedded(POSTGRES),
    };
    Ok(Migrator::new(source).await?)
}

/// The newest schema version this build knows.
#[must_use]
pub(super) fn latest_version() -> i64 {
    SQLITE.last().map_or(0, |m| m.0)
}
