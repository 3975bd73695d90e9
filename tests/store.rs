//! The tenant-scoped store (`switchboard::store`) on both backends — a SQLite file in
//! a temporary folder and a fresh PostgreSQL database per test (127.0.0.1:5432,
//! dropped at the end, pass or fail) — directly, and through whole runtimes against
//! the emulator: the message indexer, tenant isolation against a malicious handler,
//! and a backfill resumed after a restart.

mod common;

#[path = "store/backfill.rs"]
mod backfill;
#[path = "store/backfill_load.rs"]
mod backfill_load;
#[path = "store/backfill_restart.rs"]
mod backfill_restart;
#[path = "store/basics.rs"]
mod basics;
#[path = "store/config.rs"]
mod config;
#[path = "store/indexer.rs"]
mod indexer;
#[path = "store/isolation.rs"]
mod isolation;
#[path = "store/scale.rs"]
mod scale;
#[path = "store/support.rs"]
mod support;
#[path = "store/throughput.rs"]
mod throughput;

/// Runs `$scenario(&TestDb)` as two tests, one per backend.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $scenario:path) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::support::TestDb::sqlite();
                $scenario(&db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = $crate::support::TestDb::postgres().await;
                $scenario(&db).await;
            }
        }
    };
}
