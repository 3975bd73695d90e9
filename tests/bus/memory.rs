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

/// In process, lag is what waits in the scheduler and pending what workers hold.
#[tokio::test]
async fn backlog_counts_waiting_held_and_dead_letters() {
    use crate::support::{bus_config, message, tenant};

    let bus = Bus::memory(bus_config(3, 4, 100));
    for _ in 0..4 {
        bus.publish(message(&tenant(0), "x")).await.unwrap();
    }
    bus.publish(message(&tenant(1), "y")).await.unwrap();
    let b = bus.backlog().await.unwrap();
    assert_eq!(
        (
            b.tenant(&tenant(0)).unwrap().lag,
            b.tenant(&tenant(1)).unwrap().lag
        ),
        (4, 1)
    );
    let mut held = Vec::new();
    while held.len() < 3 {
        held.push(bus.next().await.unwrap());
    }
    let per = |b: &switchboard::bus::BusBacklog, i| {
        let t = b.tenant(&tenant(i)).unwrap();
        t.lag + t.pending
    };
    let b = bus.backlog().await.unwrap();
    assert_eq!((per(&b, 0), per(&b, 1)), (4, 1), "{b:?}");
    assert_eq!(b.tenants.iter().map(|t| t.pending).sum::<u64>(), 3);
    let d = held.pop().unwrap();
    let who = d.envelope.tenant_id();
    bus.reject(d, "test").await.unwrap();
    let b = bus.backlog().await.unwrap();
    assert_eq!(b.dead_letters, 1);
    assert_eq!(b.tenants.iter().map(|t| t.pending).sum::<u64>(), 2);
    assert_eq!(
        b.tenant(&who).unwrap().lag + b.tenant(&who).unwrap().pending,
        if who == tenant(0) { 3 } else { 0 }
    );
    drop(held);
    bus.close().await;
}
