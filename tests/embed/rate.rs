//! The per-tenant token bucket on tokio's paused clock: no real sleeps.

use std::time::Duration;

use switchboard::TenantId;
use switchboard::embed::TenantRateLimiter;
use tokio::time::Instant;

fn tenant(name: &str) -> TenantId {
    TenantId::parse("discord", name).unwrap()
}

#[tokio::test(start_paused = true)]
async fn each_tenant_gets_its_rate_after_its_burst() {
    let limiter = TenantRateLimiter::new(2, 3);
    let duck = tenant("duck");
    let started = Instant::now();
    for _ in 0..3 {
        limiter.acquire(&duck).await;
    }
    assert_eq!(started.elapsed(), Duration::ZERO, "the burst is free");
    for _ in 0..4 {
        limiter.acquire(&duck).await;
    }
    // Four more at 2/s: 2 s.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_millis(2_100),
        "{took:?}"
    );

    // goose is untouched by duck's debt.
    let goose = tenant("goose");
    let before = Instant::now();
    limiter.acquire(&goose).await;
    assert_eq!(before.elapsed(), Duration::ZERO);

    // Idle time refills duck's bucket, up to the burst only.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let before = Instant::now();
    for _ in 0..3 {
        limiter.acquire(&duck).await;
    }
    assert_eq!(before.elapsed(), Duration::ZERO);
    assert_eq!(limiter.reserve(&duck), Duration::from_millis(500));
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_of_one_tenant_queue_at_the_rate() {
    let limiter = std::sync::Arc::new(TenantRateLimiter::new(10, 1));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let limiter = limiter.clone();
        tasks.push(tokio::spawn(async move {
            limiter.acquire(&tenant("duck")).await;
            Instant::now()
        }));
    }
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.unwrap() - started);
    }
    done.sort();
    // One free, then one every 100 ms.
    for (i, at) in done.iter().enumerate() {
        let expected = Duration::from_millis(100 * i as u64);
        assert!(
            *at >= expected && *at < expected + Duration::from_millis(5),
            "caller {i} at {at:?}"
        );
    }
}
