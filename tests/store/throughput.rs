//! Indexing throughput of the store on both backends (ignored by default; run with
//! `cargo nextest run --test store throughput --run-ignored only`): 4,000 distinct
//! messages upserted by 4 concurrent writers (as 4 workers would), then the same
//! 4,000 again (a redelivery: no row changes). Prints rows per second; asserts the
//! exact count.

use std::time::Instant;

use crate::support::{TestDb, message, tenant};

const WRITERS: usize = 4;
const PER_WRITER: usize = 1_000;

async fn throughput(db: &TestDb) {
    let store = db.connect().await;
    let s = store
        .register_tenant(&tenant("bench"), "discord__bench")
        .await
        .unwrap();
    for pass in ["insert", "redeliver"] {
        let started = Instant::now();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let s = s.clone();
                tokio::spawn(async move {
                    for i in 0..PER_WRITER {
                        let id = format!("{}", w * PER_WRITER + i);
                        s.upsert_message(&message(&id, "10", "some message text"))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        let rows = WRITERS * PER_WRITER;
        eprintln!(
            "{:?} {pass}: {rows} upserts in {secs:.2} s = {:.0} rows/s",
            store.backend(),
            rows as f64 / secs
        );
        assert_eq!(
            s.messages_count().await.unwrap(),
            i64::try_from(rows).unwrap()
        );
    }
    store.close().await;
}

mod store_throughput {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement; run with --run-ignored"]
    async fn sqlite() {
        super::throughput(&crate::support::TestDb::sqlite()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement; run with --run-ignored"]
    async fn postgres() {
        super::throughput(&crate::support::TestDb::postgres().await).await;
    }
}
