//! The scheduler on the in-process bus, in paused time: the clock is virtual, so a
//! minute of every-second slots takes no real time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{CodeSchedules, JobScheduler, Missed, Schedule, WallClock};
use crate::bus::{Bus, BusConfig};
use crate::config::{LoadOptions, Registry};
use crate::model::{Event, Job, Payload, TenantId};

/// 2026-01-01T00:00:00.250Z: a quarter second past a slot.
const T0: i64 = 1_767_225_600_250;

fn registry(schedules: &str) -> Registry {
    let yaml = format!(
        "namespace: test\nruntime:\n  vault: {{ backend: memory }}\n  bus: {{ backend: memory }}\nproviders:\n  - provider: discord\n    tenant: duck\n    credentials: {{ bot_token: t }}\n    schedules:\n{schedules}"
    );
    match Registry::from_yaml_str(&yaml, "test.yml", &LoadOptions::default()) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

fn duck() -> TenantId {
    match TenantId::parse("discord", "duck") {
        Ok(t) => t,
        Err(e) => panic!("{e}"),
    }
}

/// Takes every job off `bus` and acks it, recording it.
fn collect(bus: &Bus) -> Arc<Mutex<Vec<Job>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (b, s) = (bus.clone(), seen.clone());
    tokio::spawn(async move {
        while let Some(d) = b.next().await {
            if let Payload::Event(Event::Job(j)) = &d.envelope.payload {
                s.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(j.clone());
            }
            let _ = b.ack(d).await;
        }
    });
    seen
}

fn slots(seen: &Mutex<Vec<Job>>) -> Vec<i64> {
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .map(|j| j.slot_ms)
        .collect()
}

struct Node {
    scheduler: JobScheduler,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

/// A "node": a scheduler over `bus`, reading the wall clock as `T0` plus virtual
/// time elapsed since `epoch`.
fn node(bus: &Bus, epoch: tokio::time::Instant, code: CodeSchedules) -> Node {
    let cancel = CancellationToken::new();
    let tasks = TaskTracker::new();
    let clock = WallClock::Tokio {
        base_ms: T0,
        base: epoch,
    };
    let scheduler = JobScheduler::new(bus.clone(), code, clock, cancel.clone(), tasks.clone());
    Node {
        scheduler,
        cancel,
        tasks,
    }
}

impl Node {
    async fn stop(self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

#[tokio::test(start_paused = true)]
async fn two_nodes_fire_every_slot_exactly_once() {
    let bus = Bus::memory(BusConfig::default());
    let seen = collect(&bus);
    let epoch = tokio::time::Instant::now();
    let reg = registry("      - { name: tick, cron: \"* * * * * *\", payload: { n: 1 } }\n");
    let a = node(&bus, epoch, CodeSchedules::new());
    let b = node(&bus, epoch, CodeSchedules::new());
    a.scheduler.apply(&reg);
    b.scheduler.apply(&reg);
    // Virtual time: 60 slots, from T0 + 0.75 s on.
    tokio::time::sleep(Duration::from_secs(60)).await;
    a.stop().await;
    b.stop().await;
    tokio::task::yield_now().await;
    let got = slots(&seen);
    let first = T0 - 250 + 1000;
    let want: Vec<i64> = (0..60).map(|i| first + i * 1000).collect();
    assert_eq!(got, want, "each slot once, in order, none missing");
    let jobs = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert!(jobs.iter().all(|j| j.schedule == "tick" && !j.recovered));
    assert_eq!(
        jobs[0].payload,
        crate::model::JobPayload::Json(serde_json::json!({ "n": 1 }))
    );
}

#[tokio::test(start_paused = true)]
async fn status_counts_slots_fired_here_and_elsewhere() {
    let bus = Bus::memory(BusConfig::default());
    let _seen = collect(&bus);
    let epoch = tokio::time::Instant::now();
    let reg = registry("      - { name: tick, cron: \"* * * * * *\" }\n");
    let a = node(&bus, epoch, CodeSchedules::new());
    let b = node(&bus, epoch, CodeSchedules::new());
    a.scheduler.apply(&reg);
    b.scheduler.apply(&reg);
    tokio::time::sleep(Duration::from_millis(10_100)).await;
    let (sa, sb) = (
        a.scheduler.status("discord/duck"),
        b.scheduler.status("discord/duck"),
    );
    assert_eq!((sa.len(), sb.len()), (1, 1));
    let (sa, sb) = (&sa[0], &sb[0]);
    assert_eq!(sa.fired + sb.fired, 10, "{sa:?} {sb:?}");
    assert_eq!(sa.fired + sa.fired_elsewhere, 10, "{sa:?}");
    assert_eq!(sa.last_run_unix_ms, Some(T0 - 250 + 10_000));
    assert_eq!(sa.next_run_unix_ms, Some(T0 - 250 + 11_000));
    assert_eq!(
        (sa.cron.as_str(), sa.tz.as_str(), sa.missed.as_str()),
        ("* * * * * *", "UTC", "skip")
    );
    a.stop().await;
    b.stop().await;
}

/// Runs `missed` policy: fire 5 slots, no node for 10 s, start again.
async fn outage(missed: Missed) -> Vec<Job> {
    let bus = Bus::memory(BusConfig::default());
    let seen = collect(&bus);
    let epoch = tokio::time::Instant::now();
    let reg = registry(&format!(
        "      - {{ name: tick, cron: \"* * * * * *\", missed: {} }}\n",
        missed.as_str()
    ));
    let a = node(&bus, epoch, CodeSchedules::new());
    a.scheduler.apply(&reg);
    tokio::time::sleep(Duration::from_millis(5_100)).await;
    a.stop().await;
    // No node runs the schedule for ten slots.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let b = node(&bus, epoch, CodeSchedules::new());
    b.scheduler.apply(&reg);
    tokio::time::sleep(Duration::from_secs(3)).await;
    b.stop().await;
    tokio::task::yield_now().await;
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

#[tokio::test(start_paused = true)]
async fn missed_once_fires_the_most_recent_missed_slot_once() {
    let jobs = outage(Missed::Once).await;
    let base = T0 - 250;
    let got: Vec<(i64, bool)> = jobs
        .iter()
        .map(|j| ((j.slot_ms - base) / 1000, j.recovered))
        .collect();
    // 1..=5 fired, 6..=14 missed (the restart is at 15.1 s: slot 15 is the latest
    // missed one), then 16, 17, 18 as usual.
    let want = [
        (1, false),
        (2, false),
        (3, false),
        (4, false),
        (5, false),
        (15, true),
        (16, false),
        (17, false),
        (18, false),
    ];
    assert_eq!(got, want);
}

#[tokio::test(start_paused = true)]
async fn missed_skip_goes_on_with_the_next_slot() {
    let jobs = outage(Missed::Skip).await;
    let base = T0 - 250;
    let got: Vec<(i64, bool)> = jobs
        .iter()
        .map(|j| ((j.slot_ms - base) / 1000, j.recovered))
        .collect();
    let want = [
        (1, false),
        (2, false),
        (3, false),
        (4, false),
        (5, false),
        (16, false),
        (17, false),
        (18, false),
    ];
    assert_eq!(got, want);
}

#[tokio::test(start_paused = true)]
async fn apply_starts_changed_and_stops_removed_schedules() {
    let bus = Bus::memory(BusConfig::default());
    let seen = collect(&bus);
    let epoch = tokio::time::Instant::now();
    let mut code = CodeSchedules::new();
    let every_two = match Schedule::new("code", "*/2 * * * * *") {
        Ok(s) => s.handler("ping").unwrap_or_else(|e| panic!("{e}")),
        Err(e) => panic!("{e}"),
    };
    code.insert(duck(), vec![every_two]);
    let n = node(&bus, epoch, code);
    n.scheduler.apply(&registry(
        "      - { name: a, cron: \"* * * * * *\" }\n      - { name: b, cron: \"* * * * * *\" }\n",
    ));
    tokio::time::sleep(Duration::from_secs(4)).await;
    // `a` changes its pattern, `b` goes, `c` comes.
    n.scheduler.apply(&registry("      - { name: a, cron: \"*/3 * * * * *\" }\n      - { name: c, cron: \"* * * * * *\" }\n"));
    let names = |n: &Node| -> Vec<String> {
        n.scheduler
            .status("discord/duck")
            .into_iter()
            .map(|s| s.name)
            .collect()
    };
    assert_eq!(names(&n), ["a", "c", "code"]);
    tokio::time::sleep(Duration::from_secs(6)).await;
    n.stop().await;
    tokio::task::yield_now().await;
    let jobs = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let base = T0 - 250;
    let of = |name: &str| -> Vec<i64> {
        jobs.iter()
            .filter(|j| j.schedule == name)
            .map(|j| (j.slot_ms - base) / 1000)
            .collect()
    };
    // The reload is at 4.25 s (wall), the end at 10.25 s.
    assert_eq!(of("a"), [1, 2, 3, 4, 6, 9]);
    assert_eq!(of("b"), [1, 2, 3, 4]);
    assert_eq!(of("c"), [5, 6, 7, 8, 9, 10]);
    // Untouched by the reload: the code schedule keeps its task.
    assert_eq!(of("code"), [2, 4, 6, 8, 10]);
    assert!(
        jobs.iter()
            .filter(|j| j.schedule == "code")
            .all(|j| j.handler.as_deref() == Some("ping"))
    );
}
