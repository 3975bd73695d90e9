//! Shared setup for the worker-group tests: buses with an `indexer` group, pools
//! per group, counting and gated handlers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use switchboard::actors::{RestartPolicy, WorkerPoolConfig, WorkerPoolHandle};
use switchboard::bus::{Bus, BusConfig, SchedulerConfig};
use switchboard::handler::{Ctx, Handler, HandlerResult, HandlerSet};
use switchboard::model::{
    Envelope, EnvelopeId, Event, Payload, SocialMessageCreated, TenantId, UserRef,
};

/// Whatever a backend needs kept alive for a test (a Redis server), dropped at the end.
pub(crate) type Guard = Box<dyn std::any::Any + Send>;

/// The second group of every test.
pub(crate) const INDEXER: &str = "indexer";

/// Generous bound for every wait: two loaded cores.
pub(crate) const WAIT: Duration = Duration::from_secs(30);

pub(crate) fn tenant(i: usize) -> TenantId {
    TenantId::parse("discord", &format!("t{i}")).unwrap()
}

/// A bus configuration with the `indexer` group besides the default.
pub(crate) fn group_config(max_deliveries: u32) -> BusConfig {
    BusConfig {
        max_deliveries,
        scheduler: SchedulerConfig {
            max_in_flight_per_tenant: 4,
            queue_bound_per_tenant: 1000,
            quantum: 1,
        },
        retry_base: Duration::from_millis(2),
        retry_max: Duration::from_millis(20),
        groups: vec![INDEXER.to_owned()],
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

/// Starts a pool of `workers` for worker group `group`.
pub(crate) async fn start_group_pool(
    bus: &Bus,
    group: &str,
    handlers: HandlerSet,
    workers: usize,
) -> WorkerPoolHandle {
    let config = WorkerPoolConfig {
        group: group.to_owned(),
        workers,
        handler_timeout: Duration::from_secs(60),
        restart: RestartPolicy {
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

/// A handler table serving `tenants` with `h`.
pub(crate) fn serving<H: Handler>(tenants: usize, h: H) -> HandlerSet {
    let h = Arc::new(h);
    let mut set = HandlerSet::new();
    for i in 0..tenants {
        set.add(&tenant(i), h.clone());
    }
    set
}

/// Counts successful handlings per envelope and attempts per envelope; fails
/// envelopes whose content is `poison` while `fail_poison` is set. Every group uses
/// the same handler *name*, so idempotency marks must be kept per group.
#[derive(Clone, Default)]
pub(crate) struct Counting {
    pub(crate) handled: Arc<DashMap<EnvelopeId, u32>>,
    pub(crate) attempts: Arc<DashMap<EnvelopeId, u32>>,
    pub(crate) fail_poison: Arc<AtomicBool>,
    pub(crate) poison: &'static str,
}

impl Counting {
    /// Fails every envelope whose content is `poison`.
    pub(crate) fn failing(poison: &'static str) -> Self {
        let c = Self {
            poison,
            ..Self::default()
        };
        c.fail_poison.store(true, Ordering::SeqCst);
        c
    }

    /// Envelopes handled, and whether every one of them exactly once.
    pub(crate) fn once_each(&self) -> (usize, bool) {
        (
            self.handled.len(),
            self.handled.iter().all(|e| *e.value() == 1),
        )
    }
}

impl Handler for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        *self.attempts.entry(ctx.envelope_id()).or_insert(0) += 1;
        if msg.content == self.poison && self.fail_poison.load(Ordering::SeqCst) {
            return Err(format!("poisoned at attempt {}", ctx.attempt()).into());
        }
        *self.handled.entry(ctx.envelope_id()).or_insert(0) += 1;
        Ok(())
    }
}

/// Blocks every handling until the gate opens; counts entries and completions.
#[derive(Clone)]
pub(crate) struct Gated {
    pub(crate) gate: tokio::sync::watch::Receiver<bool>,
    pub(crate) entered: Arc<AtomicU64>,
    pub(crate) done: Arc<AtomicU64>,
}

impl Handler for Gated {
    fn name(&self) -> &'static str {
        "gated"
    }
    async fn on_message(&self, _ctx: &Ctx, _msg: &SocialMessageCreated) -> HandlerResult {
        self.entered.fetch_add(1, Ordering::SeqCst);
        let mut gate = self.gate.clone();
        gate.wait_for(|open| *open)
            .await
            .map_err(|e| format!("gate dropped: {e}"))?;
        self.done.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
