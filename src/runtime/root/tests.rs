//! The root's own restarts, driven from inside the crate (a tenant supervisor or a
//! pool only dies on a bug, so the tests kill them).

use std::time::Duration;

use super::{ChildState, RootView};
use crate::admin::TenantState;
use crate::config::{LoadOptions, Registry};
use crate::runtime::Runtime;
use crate::sim::{Sim, SimConfig};

/// A tenant supervisor only dies on a bug, so the test kills it: the root starts
/// the tenant again (a new supervisor, counted as a restart) and it reconnects.
/// A runtime serving `duck` against a fresh emulator, once duck runs.
async fn start_duck(runtime_yaml: &str, token: &str) -> (crate::sim::SimHandle, Runtime) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let yaml = format!(
        "{runtime_yaml}providers:\n  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: {token}\n    gateway: {{ intents: [guilds, guild_messages] }}\n"
    );
    let mut reg = Registry::from_yaml_str(&yaml, "t.yml", &LoadOptions::default()).unwrap();
    let sim = Sim::start(SimConfig::from_registry(&reg).unwrap(), "127.0.0.1:0")
        .await
        .unwrap();
    reg.tenants[0].endpoints.api = Some(format!("http://{}", sim.api_host()));
    reg.tenants[0].endpoints.gateway = Some(sim.gateway_url());
    let runtime = Runtime::builder()
        .config(reg)
        .admin_listen(None)
        .build()
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !(sim.connected_sessions("duck") == 1 && running(&runtime).await) {
        assert!(tokio::time::Instant::now() < deadline, "duck never ran");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    (sim, runtime)
}

async fn running(rt: &Runtime) -> bool {
    rt.status().await.tenants[0].state == TenantState::Running
}

/// A tenant supervisor only dies on a bug, so the test kills it: the root starts
/// the tenant again (a new supervisor, counted as a restart) and it reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_tenant_supervisor_is_started_again() {
    let (sim, runtime) = start_duck("", "fake-duck-root").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let id = crate::model::TenantId::parse("discord", "duck").unwrap();
    let entry = |view: &RootView| {
        view.tenants
            .iter()
            .find(|(t, _)| *t == id)
            .map(|(_, e)| e.clone())
            .unwrap()
    };
    let first = {
        let e = entry(&runtime.inner.root.view().await.unwrap());
        e.kill_supervisor();
        e.supervisor_id().unwrap()
    };
    loop {
        let replaced = {
            let e = entry(&runtime.inner.root.view().await.unwrap());
            e.supervisor_id().is_some_and(|s| s != first) && e.restarts() == 1
        };
        if replaced && sim.connected_sessions("duck") == 1 && running(&runtime).await {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "duck was not started again: {:?}",
            runtime.status().await.tenants
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}

/// The pool's own budget covers failures no tenant caused (a handler's panics are
/// charged to its tenant inside the pool). The pool only dies on a bug, so the test
/// kills it: the root starts a fresh one within `runtime.restart`, then leaves it
/// stopped; the node says it is not ready and why, and the tenant keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_that_keeps_dying_is_restarted_then_left_stopped_while_tenants_run() {
    use crate::admin::AdminBackend as _;

    let (sim, runtime) = start_duck(
        "runtime:\n  restart: { max_restarts: 1, period_secs: 3600 }\n",
        "fake-duck-pool",
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut killed = Vec::new();
    let pool = loop {
        let view = runtime.inner.root.view().await.unwrap();
        let pool = view.pool().cloned().unwrap();
        if pool.state == ChildState::Failed {
            break pool;
        }
        if let Some(h) = pool.handle
            && !killed.contains(&h.actor().get_id())
        {
            killed.push(h.actor().get_id());
            h.actor().kill();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pool never failed for good"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    assert_eq!(killed.len(), 2, "the first pool and its one replacement");
    assert_eq!(pool.restarts, 1);
    assert!(pool.reason.as_deref().unwrap_or("").contains("budget"));
    let facade = super::super::admin_impl::AdminFacade(runtime.inner.clone());
    let ready = facade.readiness().await;
    assert!(!ready.ready, "{ready:?}");
    assert!(
        ready
            .reasons
            .iter()
            .any(|r| r.contains("worker pool failed")),
        "{ready:?}"
    );
    let status = facade.status().await;
    assert_eq!(status.workers.unwrap().state, "failed");
    assert_eq!(status.tenants[0].state, TenantState::Running);
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}

/// Applies run one at a time in the root, and the root keeps supervising while a
/// task stops what an apply retired: a reload that removes duck and one that brings
/// it back, sent together, are both answered in order, duck's old supervisor exits
/// (an expected exit: no restart is counted) and a new one runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reloads_are_applied_in_order_while_the_root_supervises() {
    let (sim, runtime) = start_duck("", "fake-duck-reload").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let with_duck = (*runtime.inner.view().registry).clone();
    let mut without = with_duck.clone();
    without.tenants.clear();
    let first = runtime.inner.root.view().await.unwrap().tenants[0]
        .1
        .supervisor_id()
        .unwrap();
    let (removed, added) = tokio::join!(runtime.apply(without), runtime.apply(with_duck));
    assert_eq!(removed.unwrap().removed, vec!["discord/duck".to_owned()]);
    assert_eq!(added.unwrap().added, vec!["discord/duck".to_owned()]);
    loop {
        let view = runtime.inner.root.view().await.unwrap();
        let entry = &view.tenants[0].1;
        if entry.supervisor_id().is_some_and(|s| s != first)
            && entry.restarts() == 0
            && sim.connected_sessions("duck") == 1
            && running(&runtime).await
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "duck did not come back: {:?}",
            runtime.status().await.tenants
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}
