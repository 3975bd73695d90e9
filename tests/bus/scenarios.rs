//! Backend-independent scenarios; each backend module instantiates them with `all!`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use switchboard::actors::WorkerPoolHandle;
use switchboard::bus::{Bus, BusConfig};
use switchboard::handler::{Ctx, CtxError, Handler, HandlerResult, HandlerSet};
use switchboard::model::{Command, EnvelopeId, Payload, RawPayload, SocialMessageCreated};

use crate::support::{
    Guard, bus_config, eventually, message, stand_in_responder, start_pool, start_pool_with, tenant,
};

/// Defines one `#[tokio::test]` per scenario for a backend constructor `$make`.
macro_rules! all {
    ($make:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn ten_thousand_across_twenty_tenants_none_lost() {
            $crate::scenarios::ten_thousand_across_twenty_tenants_none_lost($make).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn poison_envelope_is_dead_lettered_after_max_deliveries() {
            $crate::scenarios::poison_envelope_is_dead_lettered_after_max_deliveries($make).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_flood_does_not_starve_a_later_tenant() {
            $crate::scenarios::a_flood_does_not_starve_a_later_tenant($make).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn per_tenant_cap_holds() {
            $crate::scenarios::per_tenant_cap_holds($make).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn panicking_handler_restarts_worker_and_retries() {
            $crate::scenarios::panicking_handler_restarts_worker_and_retries($make).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn retry_reruns_only_unfinished_handlers() {
            $crate::scenarios::retry_reruns_only_unfinished_handlers($make).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_republished_envelope_skips_the_handlers_that_finished_it() {
            $crate::scenarios::a_republished_envelope_skips_the_handlers_that_finished_it($make)
                .await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn reply_reaches_the_rest_queue_and_resolves() {
            $crate::scenarios::reply_reaches_the_rest_queue_and_resolves($make).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn unanswered_request_times_out() {
            $crate::scenarios::unanswered_request_times_out($make).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn unknown_tenant_and_raw_payloads_are_settled() {
            $crate::scenarios::unknown_tenant_and_raw_payloads_are_settled($make).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn dead_letters_can_be_replayed() {
            $crate::scenarios::dead_letters_can_be_replayed($make).await;
        }
    };
}
pub(crate) use all;

/// A counting handler for other test modules.
pub(crate) struct CountingPublic(Counting);

impl CountingPublic {
    pub(crate) fn new(handled: Arc<DashMap<EnvelopeId, u32>>) -> Self {
        Self(Counting {
            handled,
            attempts: Arc::new(AtomicU64::new(0)),
        })
    }
}

impl Handler for CountingPublic {
    fn name(&self) -> &'static str {
        "counting"
    }
    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        self.0.on_message(ctx, msg).await
    }
}

/// Counts handling per envelope; fails envelopes whose content starts with "poison".
struct Counting {
    handled: Arc<DashMap<EnvelopeId, u32>>,
    attempts: Arc<AtomicU64>,
}

impl Handler for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        if msg.content.starts_with("poison") {
            return Err(format!("poisoned at attempt {}", ctx.attempt()).into());
        }
        *self.handled.entry(ctx.envelope_id()).or_insert(0) += 1;
        Ok(())
    }
}

pub(crate) async fn ten_thousand_across_twenty_tenants_none_lost<F, Fut>(make: F)
where
    F: Fn(BusConfig) -> Fut,
    Fut: Future<Output = (Bus, Guard)>,
{
    let (bus, _guard) = make(bus_config(2, 4, 100_000)).await;
    let handled = Arc::new(DashMap::new());
    let mut set = HandlerSet::new();
    let h = Arc::new(Counting {
        handled: handled.clone(),
        attempts: Arc::new(AtomicU64::new(0)),
    });
    for i in 0..20 {
        set.add(&tenant(i), h.clone());
    }
    let pool = start_pool(&bus, set, 8).await;
    let mut expected_ok = 0usize;
    let mut batch = Vec::new();
    for n in 0..10_000usize {
        let poison = n % 100 == 7;
        if !poison {
            expected_ok += 1;
        }
        batch.push(message(
            &tenant(n % 20),
            if poison { "poison" } else { "ok" },
        ));
        if batch.len() == 500 {
            bus.publish_batch(std::mem::take(&mut batch)).await.unwrap();
        }
    }
    bus.publish_batch(batch).await.unwrap();
    let dead_expected = 10_000 - expected_ok;
    eventually(
        Duration::from_secs(120),
        "every envelope handled or dead-lettered",
        || {
            let n = handled.len();
            let bus = bus.clone();
            async move { n == expected_ok && bus.stats().dead_lettered as usize == dead_expected }
        },
    )
    .await;
    assert!(
        handled.iter().all(|e| *e.value() == 1),
        "an envelope was handled twice"
    );
    let dead = bus.dead_letters(20_000).await.unwrap();
    assert_eq!(dead.len(), dead_expected);
    assert_eq!(
        handled.len() + dead.len(),
        10_000,
        "handled + dead-lettered == published"
    );
    pool.shutdown().await;
    bus.close().await;
}

pub(crate) async fn poison_envelope_is_dead_lettered_after_max_deliveries<F, Fut>(make: F)
where
    F: Fn(BusConfig) -> Fut,
    Fut: Future<Output = (Bus, Guard)>,
{
    let (bus, _guard) = make(bus_config(4, 4, 1000)).await;
    let handled = Arc::new(DashMap::new());
    let attempts = Arc::new(AtomicU64::new(0));
    let mut set = HandlerSet::new();
    set.add(
        &tenant(0),
        Arc::new(Counting {
            handled: handled.clone(),
            attempts: attempts.clone(),
        }),
    );
    let pool = start_pool(&bus, set, 2).await;
    let poison = message(&tenant(0), "poison pill");
    let poison_id = poison.id;
    bus.publish(poison).await.unwrap();
    eventually(Duration::from_secs(30), "poison dead-lettered", || {
        let bus = bus.clone();
        async move { bus.stats().dead_lettered == 1 }
    })
    .await;
    assert_eq!(
        attempts.load(Ordering::Relaxed),
        4,
        "exactly max_deliveries attempts"
    );
    let dead = bus.dead_letters(10).await.unwrap();
    let env = dead[0].envelope.as_ref().expect("decoded envelope kept");
    assert_eq!(env.id, poison_id);
    assert_eq!(dead[0].attempts, 4);
    assert!(
        dead[0]
            .error
            .contains("handler counting: poisoned at attempt 3"),
        "{}",
        dead[0].error
    );
    // Workers keep going.
    let ok = message(&tenant(0), "fine");
    let ok_id = ok.id;
    bus.publish(ok).await.unwrap();
    eventually(Duration::from_secs(30), "a later envelope handled", || {
        let done = handled.contains_key(&ok_id);
        async move { done }
    })
    .await;
    pool.shutdown().await;
    bus.close().await;
}

/// Records the global order in which tenants were handled.
pub(crate) struct Ordered {
    pub(crate) order: Arc<Mutex<Vec<String>>>,
}

impl Handler for Ordered {
    fn name(&self) -> &'static str {
        "ordered"
    }
    async fn on_message(&self, ctx: &Ctx, _msg: &SocialMessageCreated) -> HandlerResult {
        // Recorded when the handler starts, i.e. in the order the scheduler handed
        // the envelopes out: recorded after the work, a worker thread the OS left
        // waiting on a loaded machine could finish late and look served late.
        self.order
            .lock()
            .unwrap()
            .push(ctx.tenant().tenant.to_string());
        tokio::time::sleep(Duration::from_micros(200)).await;
        Ok(())
    }
}

/// A enqueues 10,000, then B enqueues one; the workers start: B's envelope is among
/// the first `2 × workers` whose handling starts. (The in-process backend also
/// checks B arriving in the middle of the flood, in `memory.rs`.)
pub(crate) async fn a_flood_does_not_starve_a_later_tenant<F, Fut>(make: F)
where
    F: Fn(BusConfig) -> Fut,
    Fut: Future<Output = (Bus, Guard)>,
{
    let workers = 4;
    let (bus, _guard) = make(bus_config(3, 4, 20_000)).await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut set = HandlerSet::new();
    let h = Arc::new(Ordered {
        order: order.clone(),
    });
    set.add(&tenant(1), h.clone());
    set.add(&tenant(2), h);
    let batch: Vec<_> = (0..10_000).map(|_| message(&tenant(1), "flood")).collect();
    bus.publish_batch(batch).await.unwrap();
    bus.publish(message(&tenant(2), "just one")).await.unwrap();
    // On Redis the node fetches in the background: wait until B's envelope is queued
    // on this node (A's are, by then, too), then let the workers loose.
    eventually(
        Duration::from_secs(30),
        "B's envelope reached the node",
        || {
            let stats = bus.stats().scheduler;
            let b_queued = stats
                .waiting_by_tenant
                .iter()
                .any(|(t, n)| t == "discord/t2" && *n == 1);
            async move { b_queued }
        },
    )
    .await;
    let pool = start_pool(&bus, set, workers).await;
    eventually(Duration::from_secs(60), "B handled", || {
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
        pos < 2 * workers,
        "B's envelope was handled {pos}th (bound {})",
        2 * workers
    );
    pool.shutdown().await;
    bus.close().await;
}

/// Tracks concurrent handling per tenant.
struct Concurrency {
    now: Arc<DashMap<String, usize>>,
    max: Arc<DashMap<String, usize>>,
    done: Arc<AtomicUsize>,
}

impl Handler for Concurrency {
    fn name(&self) -> &'static str {
        "concurrency"
    }
    async fn on_message(&self, ctx: &Ctx, _msg: &SocialMessageCreated) -> HandlerResult {
        let t = ctx.tenant().to_string();
        let n = {
            let mut e = self.now.entry(t.clone()).or_insert(0);
            *e += 1;
            *e
        };
        {
            let mut m = self.max.entry(t.clone()).or_insert(0);
            *m = (*m).max(n);
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
        *self.now.get_mut(&t).unwrap() -= 1;
        self.done.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

pub(crate) async fn per_tenant_cap_holds<F, Fut>(make: F)
where
    F: Fn(BusConfig) -> Fut,
    Fut: Future<Output = (Bus, Guard)>,
{
    let cap = 2;
    let (bus, _guard) = make(bus_config(3, cap, 10_000)).await;
    let max = Arc::new(DashMap::new());
    let done = Arc::new(AtomicUsize::new(0));
    let h = Arc::new(Concurrency {
        now: Arc::new(DashMap::new()),
        max: max.clone(),
        done: done.clone(),
    });
    let mut set = HandlerSet::new();
    set.add(&tenant(1), h.clone());
    set.add(&tenant(2), h);
    let mut batch: Vec<_> = (0..300).map(|_| message(&tenant(1), "a")).collect();
    batch.extend((0..20).map(|_| message(&tenant(2), "b")));
    bus.publish_batch(batch).await.unwrap();
    let pool = start_pool(&bus, set, 8).await;
    eventually(Duration::from_secs(60), "all handled", || {
        let n = done.load(Ordering::Relaxed);
        async move { n == 320 }
    })
    .await;
    let max_a = *max.get("discord/t1").unwrap();
    assert!(max_a <= cap, "tenant ran {max_a} at once, cap {cap}");
    assert_eq!(max_a, cap, "with 8 workers the cap is reached");
    pool.shutdown().await;
    bus.close().await;
}

/// Panics on an envelope's first attempt.
struct PanicsOnce {
    handled: Arc<DashMap<EnvelopeId, u32>>,
}

impl Handler for PanicsOnce {
    fn name(&self) -> &'static str {
        "panics-once"
    }
    async fn on_message(&self, ctx: &Ctx, _msg: &SocialMessageCreated) -> HandlerResult {
        assert!(ctx.attempt() > 0, "deliberate panic on the first attempt");
        *self.handled.entry(ctx.envelope_id()).or_insert(0) += 1;
        Ok(())
    }
}

pub(crate) async fn panicking_handler_restarts_worker_and_retries<F, Fut>(make: F)
where
    F: Fn(BusConfig) -> Fut,
    Fut: Future<Output = (Bus, Guard)>,
{
    let (bus, _guard) = make(bus_config(5, 4, 1000)).await;
    let handled = Arc::new(DashMap::new());
    let mut set = HandlerSet::new();
    set.add(
        &tenant(0),
        Arc::new(PanicsOnce {
            handled: handled.clone(),
        }),
    );
    let pool = start_pool(&bus, set, 2).await;
    let env = message(&tenant(0), "boom");
    let id = env.id;
    bus.publish(env).await.unwrap();
    eventually(
        Duration::from_secs(30),
        "retried after the panic and handled",
        || {
            let ok = handled.get(&id).is_some_and(|n| *n == 1);
            async move { ok }
        },
    )
    .await;
    eventually(Duration::from_secs(10), "the restart is counted", || {
        let restarts = pool.stats().restarts;
        async move { restarts >= 1 }
    })
    .await;
    // The pool still serves after the restart.
    let later = message(&tenant(0), "after");
    let later_id = later.id;
    bus.publish(later).await.unwrap();
    eventually(Duration::from_secs(30), "the pool still works", || {
        let ok = handled.contains_key(&later_id);
        async move { ok }
    })
    .await;
    pool.shutdown().await;
    bus.close().await;
}

struct Step {
    name: &'static str,
    runs: Arc<DashMap<&'static str, u32>>,
    fail_first: bool,
}

impl Handler for Step {
    fn name(&self) -> &str {
        self.name
    }
    async fn on_message(&self, ctx: &Ctx, _msg: &SocialMessageCreated) -> HandlerResult {
        *self.runs.entry(self.name).or_insert(0) += 1;
        if self.fail_first && ctx.attempt() == 0 {
            return Err("transient".into());
        }
        Ok(())
    }
}

/// A pool running two counting handlers for tenant 0, `first` and `second` (which
/// fails its first run if `second_fails_first`), and their run counts.
async fn two_steps(
    bus: &Bus,
    second_fails_first: bool,
) -> (WorkerPoolHandle, Arc<DashMap<&'static str, u32>>) {
    let runs = Arc::new(DashMap::new());
    let mut set = HandlerSet::new();
    for (name, fail_first) in [("first", false), ("second", second_fails_first)] {
        set.add(
            &tenant(0),
            Arc::new(Step {
                name,
                runs: runs.clone(),
                fail_first,
            }),
        );
    }
    (start_pool(bus, set, 2).await, runs)
}

pub(crate) async fn retry_reruns_only_unfinished_handlers<F, Fut>(make: F)
where
    F: Fn(BusConfig) -> Fut,
    Fut: Future<Output = (Bus, Guard)>,
{
    let (bus, _guard) = make(bus_config(5, 4, 1000)).await;
    let (pool, runs) = two_steps(&bus, true).await;
    bus.publish(message(&tenant(0), "x")).await.unwrap();
    eventually(Duration::from_secs(30), "acked after the retry", || {
        let acked = bus.stats().acked;
        async move { acked == 1 }
    })
    .await;
    assert_eq!(
        *runs.get("first").unwrap(),
        1,
        "the finished handler is not re-run"
    );
    assert_eq!(*runs.get("second").unwrap(), 2);
    pool.shutdown().await;
    bus.close().await;
}

/// A delivery whose handlers all finished is acknowledged with their idempotency
/// marks (on Redis in the ack batch's pipeline): the same envelope published again
/// (a gateway replay) runs neither handler.
pub(crate) async fn a_republished_envelope_skips_the_handlers_that_finished_it<F, Fut>(make: F)
where
    F: Fn(BusConfig) -> Fut,
    Fut: Future<Output = (Bus, Guard)>,
{
    let (bus, _guard) = make(bus_config(5, 4, 1000)).await;
    let (pool, runs) = two_steps(&bus, false).await;
    let env = message(&tenant(0), "x");
    bus.publish(env.clone()).await.unwrap();
    eventually(Duration::from_secs(30), "both marks written", || {
        let bus = bus.clone();
        async move {
            bus.is_done(&tenant(0), env.id, "first")
                .await
                .unwrap_or(false)
                && bus
                    .is_done(&tenant(0), env.id, "second")
                    .await
                    .unwrap_or(false)
        }
    })
    .await;
    bus.publish(env.clone()).await.unwrap();
    eventually(Duration::from_secs(30), "the replay settled", || {
        let acked = bus.stats().acked;
        async move { acked == 2 }
    })
    .await;
    assert_eq!(*runs.get("first").unwrap(), 1, "first ran once");
    assert_eq!(*runs.get("second").unwrap(), 1, "second ran once");
    pool.shutdown().await;
    bus.close().await;
}

struct Replier {
    results: Arc<Mutex<Vec<Result<String, String>>>>,
}

impl Handler for Replier {
    fn name(&self) -> &'static str {
        "replier"
    }
    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        // Queued at once; this handler asks for the answer.
        let r = match ctx.reply(msg, "pong").await {
            Ok(effect) => effect.response().await,
            Err(e) => Err(e),
        };
        let timed_out = matches!(
            r,
            Err(CtxError::Bus(switchboard::bus::BusError::Timeout { .. }))
        );
        self.results.lock().unwrap().push(match r {
            Ok(resp) => Ok(format!("{}:{:?}", resp.status, resp.result)),
            Err(e) => Err(format!("timeout={timed_out}: {e}")),
        });
        Ok(())
    }
}

pub(crate) async fn reply_reaches_the_rest_queue_and_resolves<F, Fut>(make: F)
where
    F: Fn(BusConfig) -> Fut,
    Fut: Future<Output = (Bus, Guard)>,
{
    let (bus, _guard) = make(bus_config(3, 4, 1000)).await;
    let results = Arc::new(Mutex::new(Vec::new()));
    let mut set = HandlerSet::new();
    set.add(
        &tenant(0),
        Arc::new(Replier {
            results: results.clone(),
        }),
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let responder = stand_in_responder(&bus, &tenant(0), seen.clone());
    let pool = start_pool(&bus, set, 2).await;
    let env = message(&tenant(0), "!ping");
    let Payload::Event(switchboard::model::Event::SocialMessageCreated(original)) =
        env.payload.clone()
    else {
        unreachable!()
    };
    let env_id = env.id;
    bus.publish(env).await.unwrap();
    eventually(Duration::from_secs(30), "the reply resolved", || {
        let n = results.lock().unwrap().len();
        async move { n == 1 }
    })
    .await;
    assert_eq!(
        results.lock().unwrap()[0],
        Ok(
            "200:Some(Message { message_id: \"999\", channel_id: \"222222222222222222\" })"
                .to_owned()
        )
    );
    let req = seen.lock().unwrap()[0].clone();
    assert_eq!(req.tenant_id(), tenant(0));
    assert_eq!(
        req.topic.to_string(),
        "promethean.p.discord.t.t0.rest.request"
    );
    assert_eq!(req.causation, Some(env_id));
    assert_eq!(req.reply_to.as_deref(), Some(bus.node_id()));
    let Payload::Command(Command::PostMessage(post)) = &req.payload else {
        panic!("expected PostMessage, got {:?}", req.payload)
    };
    assert_eq!(post.channel_id, original.channel_id);
    assert_eq!(post.reply_to.as_deref(), Some(original.message_id.as_str()));
    assert_eq!(post.content, "pong");
    let nonce = post.nonce.as_deref().expect("an idempotency nonce");
    assert!(!nonce.is_empty() && nonce.len() <= 25, "{nonce}");
    pool.shutdown().await;
    bus.close().await;
    responder.abort();
}

pub(crate) async fn unanswered_request_times_out<F, Fut>(make: F)
where
    F: Fn(BusConfig) -> Fut,
    Fut: Future<Output = (Bus, Guard)>,
{
    let (bus, _guard) = make(bus_config(1, 4, 1000)).await;
    let results = Arc::new(Mutex::new(Vec::new()));
    let mut set = HandlerSet::new();
    set.add(
        &tenant(0),
        Arc::new(Replier {
            results: results.clone(),
        }),
    );
    let pool = start_pool_with(&bus, set, 1, Duration::from_millis(300)).await;
    bus.publish(message(&tenant(0), "!ping")).await.unwrap();
    eventually(Duration::from_secs(30), "the request gave up", || {
        let n = results.lock().unwrap().len();
        async move { n == 1 }
    })
    .await;
    let r = results.lock().unwrap()[0].clone();
    let err = r.expect_err("no responder: an error");
    assert!(err.starts_with("timeout=true"), "{err}");
    pool.shutdown().await;
    bus.close().await;
}

pub(crate) async fn unknown_tenant_and_raw_payloads_are_settled<F, Fut>(make: F)
where
    F: Fn(BusConfig) -> Fut,
    Fut: Future<Output = (Bus, Guard)>,
{
    let (bus, _guard) = make(bus_config(3, 4, 1000)).await;
    let mut set = HandlerSet::new();
    set.add_builtin(&tenant(0), "ping").unwrap();
    let pool = start_pool(&bus, set, 2).await;
    bus.publish(message(&tenant(9), "who?")).await.unwrap();
    let raw = switchboard::model::Envelope::new(
        "promethean",
        &tenant(0),
        Payload::Raw(RawPayload {
            kind: "typing_start".into(),
            json: "{}".into(),
        }),
    )
    .unwrap();
    bus.publish(raw).await.unwrap();
    eventually(Duration::from_secs(30), "both settled", || {
        let s = bus.stats();
        async move { s.dead_lettered == 1 && s.acked == 1 }
    })
    .await;
    let dead = bus.dead_letters(10).await.unwrap();
    assert_eq!(
        dead[0].error,
        "unknown tenant discord/t9: no handlers are configured for it"
    );
    assert_eq!(pool.stats().unknown_tenant, 1);
    pool.shutdown().await;
    bus.close().await;
}

pub(crate) async fn dead_letters_can_be_replayed<F, Fut>(make: F)
where
    F: Fn(BusConfig) -> Fut,
    Fut: Future<Output = (Bus, Guard)>,
{
    let (bus, _guard) = make(bus_config(1, 4, 1000)).await;
    let handled = Arc::new(DashMap::new());
    let mut set = HandlerSet::new();
    let h = Arc::new(Counting {
        handled: handled.clone(),
        attempts: Arc::new(AtomicU64::new(0)),
    });
    set.add(&tenant(0), h);
    // No handlers for t1 yet: its envelope is dead-lettered.
    let pool = start_pool(&bus, set.clone(), 1).await;
    let env = message(&tenant(1), "later");
    let id = env.id;
    bus.publish(env).await.unwrap();
    eventually(Duration::from_secs(30), "dead-lettered", || {
        let n = bus.stats().dead_lettered;
        async move { n == 1 }
    })
    .await;
    let dead = bus.dead_letters(10).await.unwrap();
    let mut fixed = set;
    fixed.add(
        &tenant(1),
        Arc::new(Counting {
            handled: handled.clone(),
            attempts: Arc::new(AtomicU64::new(0)),
        }),
    );
    pool.set_handlers(fixed);
    assert!(bus.replay_dead_letter(&dead[0].id).await.unwrap());
    assert!(
        !bus.replay_dead_letter(&dead[0].id).await.unwrap(),
        "a replayed letter is gone"
    );
    eventually(Duration::from_secs(30), "handled after replay", || {
        let ok = handled.contains_key(&id);
        async move { ok }
    })
    .await;
    assert!(bus.dead_letters(10).await.unwrap().is_empty());
    pool.shutdown().await;
    bus.close().await;
}
