//! Every scenario on the in-process backend.

use switchboard::bus::{Bus, BusConfig};

use crate::scenarios;
use crate::support::Guard;

async fn make(config: BusConfig) -> (Bus, Guard) {
    (Bus::memory(config), Box::new(()))
}

scenarios::all!(make);

/// B publishes one envelope while A's flood of 10,000 is being served: it is handled
/// within the next `2 × workers` deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_arriving_mid_flood_is_served_within_two_rounds() {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use switchboard::handler::HandlerSet;

    use crate::support::{bus_config, eventually, message, start_pool, tenant};

    let workers = 4;
    let bus = Bus::memory(bus_config(3, 4, 20_000));
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut set = HandlerSet::new();
    let h = Arc::new(scenarios::Ordered {
        order: order.clone(),
    });
    set.add(&tenant(1), h.clone());
    set.add(&tenant(2), h);
    let batch: Vec<_> = (0..10_000).map(|_| message(&tenant(1), "flood")).collect();
    bus.publish_batch(batch).await.unwrap();
    let pool = start_pool(&bus, set, workers).await;
    eventually(Duration::from_secs(30), "the flood is being served", || {
        let n = order.lock().unwrap().len();
        async move { n >= 50 }
    })
    .await;
    let before = order.lock().unwrap().len();
    bus.publish(message(&tenant(2), "just one")).await.unwrap();
    eventually(Duration::from_secs(30), "B handled", || {
        let found = order.lock().unwrap().iter().any(|t| t == "t2");
        async move { found }
    })
    .await;
    let pos = order
        .lock()
        .unwrap()
        .iter()
        .position(|t| t == "t2")
        .unwrap();
    assert!(
        pos - before <= 2 * workers,
        "B waited behind {} of A's",
        pos - before
    );
    pool.shutdown().await;
    bus.close().await;
}
