//! Scheduled jobs through whole runtimes: the in-process bus, and two runtimes
//! sharing a throwaway `redis-server`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::config::{LoadOptions, Registry};
use switchboard::handler::{Ctx, Handler, HandlerResult};
use switchboard::jobs::Schedule;
use switchboard::model::{Job, TenantId, now_ms};
use switchboard::runtime::Runtime;

use super::start_registry;
use crate::redis_server::TestRedis;

/// A job as a handler saw it: (tenant, schedule, slot, recovered, handler).
type Seen = (String, String, i64, bool, &'static str);

/// Records every job it is given.
#[derive(Clone)]
struct Recorder {
    name: &'static str,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn new(name: &'static str, seen: &Arc<Mutex<Vec<Seen>>>) -> Self {
        Self {
            name,
            seen: seen.clone(),
        }
    }
}

impl Handler for Recorder {
    fn name(&self) -> &str {
        self.name
    }

    async fn on_job(&self, ctx: &Ctx, job: &Job) -> HandlerResult {
        self.seen.lock().unwrap().push((
            ctx.tenant().tenant.to_string(),
            job.schedule.clone(),
            job.slot_ms,
            job.recovered,
            self.name,
        ));
        Ok(())
    }
}

fn seen_now(seen: &Mutex<Vec<Seen>>) -> Vec<Seen> {
    seen.lock().unwrap().clone()
}

/// Polls until `enough` holds for what `seen` recorded (bounded).
async fn until(seen: &Mutex<Vec<Seen>>, timeout: Duration, enough: impl Fn(&[Seen]) -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !enough(&seen_now(seen)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not enough jobs within {timeout:?}: {:?}",
            seen_now(seen)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn tenants_yaml(runtime: &str, names: &[&str], tenant_extra: &str) -> String {
    let mut yaml =
        format!("namespace: jobs\nruntime:\n  handlers: []\n  workers: 4\n{runtime}providers:\n");
    for name in names {
        let _ = writeln!(
            yaml,
            "  - provider: discord\n    tenant: {name}\n    credentials: {{ bot_token: fake-{name} }}\n    gateway: {{ intents: [guilds, guild_messages, message_content] }}\n{tenant_extra}"
        );
    }
    yaml
}

/// Per tenant, the slots seen, asserting none was seen twice.
fn slots_once(seen: &[Seen]) -> BTreeMap<String, Vec<i64>> {
    let mut per: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut keys = BTreeSet::new();
    for (tenant, schedule, slot, _, _) in seen {
        assert!(
            keys.insert((tenant.clone(), schedule.clone(), *slot)),
            "{tenant} {schedule} slot {slot} handled twice"
        );
        per.entry(tenant.clone()).or_default().push(*slot);
    }
    for v in per.values_mut() {
        v.sort_unstable();
    }
    per
}

fn assert_no_gap(tenant: &str, slots: &[i64], every_ms: i64) {
    for w in slots.windows(2) {
        assert_eq!(
            w[1] - w[0],
            every_ms,
            "{tenant}: gap between {} and {} in {slots:?}",
            w[0],
            w[1]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_reach_on_job_of_their_handler_and_show_in_status() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let yaml = tenants_yaml(
        "",
        &["duck"],
        "    schedules:\n      - { name: tick, cron: \"* * * * * *\", handler: first, payload: { hello: 1 } }\n",
    );
    let duck = TenantId::parse("discord", "duck").unwrap();
    let every_two = Schedule::new("code", "*/2 * * * * *").unwrap();
    let (sim, runtime) = start_registry(&yaml, |b| {
        b.handler(Recorder::new("first", &seen))
            .handler(Recorder::new("second", &seen))
            .schedule(duck, every_two)
            .admin_listen(Some("127.0.0.1:0".parse().unwrap()))
    })
    .await;
    until(&seen, Duration::from_secs(30), |s| {
        s.iter().filter(|j| j.1 == "tick").count() >= 3
            && s.iter().filter(|j| j.1 == "code").count() >= 4
    })
    .await;
    let all = seen_now(&seen);
    // `tick` names `first`: `second` never sees it; `code` names nobody: both do.
    assert!(
        all.iter().filter(|j| j.1 == "tick").all(|j| j.4 == "first"),
        "{all:?}"
    );
    let code: Vec<_> = all.iter().filter(|j| j.1 == "code").collect();
    assert!(code.iter().any(|j| j.4 == "first") && code.iter().any(|j| j.4 == "second"));
    let ticks: Vec<Seen> = all.iter().filter(|j| j.1 == "tick").cloned().collect();
    let per = slots_once(&ticks);
    assert_no_gap("duck", &per["duck"], 1000);
    let status = runtime.status().await;
    let t = status
        .tenants
        .iter()
        .find(|t| t.id == "discord/duck")
        .unwrap();
    let names: Vec<&str> = t.schedules.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["code", "tick"]);
    let tick = &t.schedules[1];
    assert!(tick.fired >= 3, "{tick:?}");
    let (next, last) = (
        tick.next_run_unix_ms.unwrap(),
        tick.last_run_unix_ms.unwrap(),
    );
    assert!(next > last && next - last <= 2000, "{tick:?}");
    // `/metrics` has the same figures.
    let addr = runtime.admin_addr().await.unwrap();
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "switchboard_jobs_fired_total{",
        "switchboard_job_next_run_timestamp_seconds{",
        "switchboard_job_last_run_timestamp_seconds{",
    ] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(name) && l.contains("schedule=\"tick\"")),
            "{name} missing:\n{metrics}"
        );
    }

    // A reload replaces `tick` by `tock`; the code schedule stays.
    let yaml = tenants_yaml(
        "",
        &["duck"],
        "    schedules:\n      - { name: tock, cron: \"* * * * * *\" }\n",
    );
    let mut reg = Registry::from_yaml_str(&yaml, "t.yml", &LoadOptions::default()).unwrap();
    for t in &mut reg.tenants {
        t.endpoints.api = Some(format!("http://{}", sim.api_host()));
        t.endpoints.gateway = Some(sim.gateway_url());
    }
    runtime.apply(reg).await.unwrap();
    until(&seen, Duration::from_secs(30), |s| {
        s.iter().filter(|j| j.1 == "tock").count() >= 4
    })
    .await;
    let status = runtime.status().await;
    let t = status
        .tenants
        .iter()
        .find(|t| t.id == "discord/duck")
        .unwrap();
    let names: Vec<&str> = t.schedules.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["code", "tock"]);
    // `tick` stopped with the reload: no slot of it after the first of `tock`.
    let all = seen_now(&seen);
    let first_tock = all
        .iter()
        .filter(|j| j.1 == "tock")
        .map(|j| j.2)
        .min()
        .unwrap();
    assert!(
        !all.iter().any(|j| j.1 == "tick" && j.2 > first_tock),
        "{all:?}"
    );
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}

/// The acceptance test: a schedule every second on 3 tenants, two runtimes sharing
/// one Redis: each slot of each tenant is handled exactly once — no slot twice, no
/// gap — whichever runtime fired it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runtimes_on_redis_fire_each_slot_of_each_tenant_exactly_once() {
    // 6 s in the suite; `scripts/jobs-acceptance` runs it for 20 s.
    let seconds: usize = std::env::var("SWITCHBOARD_JOBS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let redis = TestRedis::start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rt = format!(
        "  bus: {{ backend: redis, url: '{}' }}\n  redis_prefix: {}\n",
        redis.url(),
        redis.prefix()
    );
    let names = ["t1", "t2", "t3"];
    let yaml = tenants_yaml(
        &rt,
        &names,
        "    schedules:\n      - { name: every-second, cron: \"* * * * * *\" }\n",
    );
    let (sim, a) = start_registry(&yaml, |b| {
        b.handler(Recorder::new("recorder", &seen))
            .node_id("node-a")
            .admin_listen(None)
    })
    .await;
    // The second node joins the cluster: node a holds the gateways, node b stands
    // by for them, and both run workers and schedulers.
    let mut reg = Registry::from_yaml_str(&yaml, "t.yml", &LoadOptions::default()).unwrap();
    for t in &mut reg.tenants {
        t.endpoints.api = Some(format!("http://{}", sim.api_host()));
        t.endpoints.gateway = Some(sim.gateway_url());
    }
    let b = Runtime::builder()
        .config(reg)
        .handler(Recorder::new("recorder", &seen))
        .node_id("node-b")
        .admin_listen(None)
        .build()
        .await
        .unwrap();
    // Both run: from now on, `seconds` more slots per tenant.
    let from = now_ms().cast_signed();
    until(&seen, Duration::from_secs(30 + seconds as u64), |s| {
        names
            .iter()
            .all(|n| s.iter().filter(|j| j.0 == *n && j.2 > from).count() >= seconds)
    })
    .await;
    let mut fired = Vec::new();
    for runtime in [b, a] {
        let status = runtime.status().await;
        fired.push(
            status
                .tenants
                .iter()
                .flat_map(|t| t.schedules.iter().map(|s| s.fired))
                .sum::<u64>(),
        );
        runtime.shutdown(Duration::from_secs(10)).await;
    }
    sim.shutdown().await;
    let all = seen_now(&seen);
    let per = slots_once(&all);
    for n in names {
        let slots = &per[n];
        assert_no_gap(n, slots, 1000);
        assert!(slots.len() >= seconds, "{n}: {slots:?}");
    }
    let handled = all.len() as u64;
    assert_eq!(
        fired.iter().sum::<u64>(),
        handled,
        "every slot fired (by either node) was handled once: fired per node {fired:?}"
    );
    eprintln!(
        "jobs: {handled} handled; fired per node {fired:?}; per tenant {:?}",
        per.iter().map(|(t, s)| (t, s.len())).collect::<Vec<_>>()
    );
}

/// A runtime stops (its scheduler with it) and another starts after a gap: `missed:
/// once` fires the most recent missed slot once, marked recovered; `skip` does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_a_gap_fires_the_missed_slot_once_or_skips_it() {
    let redis = TestRedis::start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rt = format!(
        "  bus: {{ backend: redis, url: '{}' }}\n  redis_prefix: {}\n",
        redis.url(),
        redis.prefix()
    );
    let mut yaml = format!("namespace: jobs\nruntime:\n  handlers: []\n{rt}providers:\n");
    for (name, missed) in [("once", "once"), ("skip", "skip")] {
        let _ = writeln!(
            yaml,
            "  - provider: discord\n    tenant: {name}\n    credentials: {{ bot_token: fake-{name} }}\n    gateway: {{ intents: [guilds, guild_messages, message_content] }}\n    schedules:\n      - {{ name: tick, cron: \"* * * * * *\", missed: {missed} }}"
        );
    }
    let (sim, first) = start_registry(&yaml, |b| {
        b.handler(Recorder::new("recorder", &seen))
            .admin_listen(None)
    })
    .await;
    until(&seen, Duration::from_secs(30), |s| {
        ["once", "skip"]
            .iter()
            .all(|n| s.iter().filter(|j| j.0 == *n).count() >= 2)
    })
    .await;
    first.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
    let before = seen_now(&seen);
    let last_before = |n: &str| {
        before
            .iter()
            .filter(|j| j.0 == n)
            .map(|j| j.2)
            .max()
            .unwrap()
    };
    // No node runs the schedules for at least three slots.
    let resume_after = last_before("once").max(last_before("skip")) + 3_500;
    while now_ms().cast_signed() < resume_after {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let restarted_at = now_ms().cast_signed();
    let (sim, second) = start_registry(&yaml, |b| {
        b.handler(Recorder::new("recorder", &seen))
            .admin_listen(None)
    })
    .await;
    until(&seen, Duration::from_secs(30), |s| {
        ["once", "skip"]
            .iter()
            .all(|n| s.iter().filter(|j| j.0 == *n && j.2 > restarted_at).count() >= 2)
    })
    .await;
    let status = second.status().await;
    second.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
    let after: Vec<Seen> = seen_now(&seen).split_off(before.len());
    slots_once(&seen_now(&seen));
    // `once`: exactly one recovered job, for the most recent slot before the restart.
    let recovered: Vec<&Seen> = after.iter().filter(|j| j.0 == "once" && j.3).collect();
    assert_eq!(recovered.len(), 1, "{after:?}");
    let slot = recovered[0].2;
    assert!(
        slot > last_before("once") + 2_000 && slot <= restarted_at + 1_000,
        "{slot} {after:?}"
    );
    // The slots between the last fired one and the recovered one were not fired.
    assert!(
        !after
            .iter()
            .any(|j| j.0 == "once" && j.2 > last_before("once") && j.2 < slot)
    );
    // `skip`: nothing recovered, nothing fired for the gap.
    assert!(!after.iter().any(|j| j.0 == "skip" && j.3), "{after:?}");
    let first_after = after
        .iter()
        .filter(|j| j.0 == "skip")
        .map(|j| j.2)
        .min()
        .unwrap();
    assert!(
        first_after > last_before("skip") + 3_000,
        "{first_after} {after:?}"
    );
    let skip = status
        .tenants
        .iter()
        .find(|t| t.id == "discord/skip")
        .unwrap();
    assert_eq!(skip.schedules[0].skipped, 1, "{:?}", skip.schedules);
}

/// A schedule given in code under a name the tenant's registry entry uses fails the
/// build, before anything starts; so does a schedule naming a handler the tenant
/// does not have.
#[tokio::test]
async fn a_code_schedule_reusing_a_registry_name_fails_the_build() {
    let yaml = tenants_yaml(
        "",
        &["duck"],
        "    schedules:\n      - { name: tick, cron: \"* * * * *\" }\n",
    );
    let reg = Registry::from_yaml_str(&yaml, "t.yml", &LoadOptions::default()).unwrap();
    let duck = TenantId::parse("discord", "duck").unwrap();
    let Err(err) = Runtime::builder()
        .config(reg)
        .schedule(duck, Schedule::new("tick", "0 * * * *").unwrap())
        .admin_listen(None)
        .build()
        .await
    else {
        panic!("build accepted a schedule name used twice");
    };
    assert!(
        err.to_string()
            .contains("schedule \"tick\" of discord/duck is given twice"),
        "{err}"
    );
    let yaml = tenants_yaml(
        "",
        &["duck"],
        "    schedules:\n      - { name: tick, cron: \"* * * * *\", handler: reports }\n",
    );
    let reg = Registry::from_yaml_str(&yaml, "t.yml", &LoadOptions::default()).unwrap();
    let Err(err) = Runtime::builder()
        .config(reg)
        .handler(Recorder::new("recorder", &Arc::new(Mutex::new(Vec::new()))))
        .admin_listen(None)
        .build()
        .await
    else {
        panic!("build accepted a schedule for a handler nobody has");
    };
    assert!(
        err.to_string().contains(
            "discord/duck: schedules[0].handler: no handler of this tenant is called \"reports\" (handlers: recorder)"
        ),
        "{err}"
    );
}
