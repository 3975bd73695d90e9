//! Shared setup for the bus tests: buses, pools, envelopes, a stand-in responder.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use switchboard::actors::{WorkerPoolConfig, WorkerPoolHandle};
use switchboard::bus::{Bus, BusConfig, SchedulerConfig};
use switchboard::handler::HandlerSet;
use switchboard::model::{
    Envelope, Event, Payload, RestResponse, RestResult, SocialMessageCreated, TenantId, UserRef,
};
use tokio::task::JoinHandle;

/// Whatever a backend needs kept alive for a test (a Redis server), dropped at the end.
pub(crate) type Guard = Box<dyn std::any::Any + Send>;

/// Polls `check` until it returns true or `timeout` passes.
pub(crate) async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(crate) fn tenant(i: usize) -> TenantId {
    TenantId::parse("discord", &format!("t{i}")).unwrap()
}

pub(crate) fn bus_config(max_deliveries: u32, cap: usize, bound: usize) -> BusConfig {
    BusConfig {
        max_deliveries,
        scheduler: SchedulerConfig {
            max_in_flight_per_tenant: cap,
            queue_bound_per_tenant: bound,
            quantum: 1,
        },
        retry_base: Duration::from_millis(2),
        retry_max: Duration::from_millis(20),
        ..BusConfig::default()
    }
}

pub(crate) fn message(t: &TenantId, content: &str) -> Envelope {
    let msg = SocialMessageCreated {
        message_id: ulid::Ulid::new().0.to_string(),
        channel_id: "222222222222222222".into(),
        guild_id: Some("111111111111111111".into()),
        author: UserRef {
            id: "333".into(),
            name: "mallard".into(),
            display_name: None,
            bot: false,
        },
        content: content.into(),
        attachments: vec![],
        mentions: vec![],
        reply_to: None,
        timestamp_ms: 0,
        from_self: false,
    };
    Envelope::new(
        "promethean",
        t,
        Payload::Event(Event::SocialMessageCreated(msg)),
    )
    .unwrap()
}

pub(crate) async fn start_pool(
    bus: &Bus,
    handlers: HandlerSet,
    workers: usize,
) -> WorkerPoolHandle {
    start_pool_with(bus, handlers, workers, Duration::from_secs(10)).await
}

pub(crate) async fn start_pool_with(
    bus: &Bus,
    handlers: HandlerSet,
    workers: usize,
    request_timeout: Duration,
) -> WorkerPoolHandle {
    let config = WorkerPoolConfig {
        workers,
        request_timeout,
        handler_timeout: Duration::from_secs(20),
        restart: switchboard::actors::RestartPolicy {
            max_restarts: 100,
            period: Duration::from_secs(60),
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(10),
        },
        ..WorkerPoolConfig::default()
    };
    WorkerPoolHandle::start(config, bus.clone(), handlers, None)
        .await
        .expect("pool starts")
        .0
}

/// A stand-in for a tenant's `RestActor`: answers every request with `answer`.
pub(crate) fn stand_in_responder(
    bus: &Bus,
    t: &TenantId,
    seen: Arc<std::sync::Mutex<Vec<Envelope>>>,
) -> JoinHandle<()> {
    let bus = bus.clone();
    let t = t.clone();
    tokio::spawn(async move {
        while let Some(req) = bus.next_request(&t).await {
            seen.lock().unwrap().push(req.envelope.clone());
            let answer = RestResponse::success(
                200,
                RestResult::Message {
                    message_id: "999".into(),
                    channel_id: "222222222222222222".into(),
                },
            );
            bus.respond(req, answer).await.unwrap();
        }
    })
}
