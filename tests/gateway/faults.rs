//! Gateway faults with the real twilight shard inside the actor: forced close 4000,
//! RECONNECT, `INVALID_SESSION` and dropped connections lose and duplicate nothing, and
//! are counted in health.

use switchboard::actors::gateway::{GatewayHandle, SessionStore};
use switchboard::config::Shards;
use switchboard::providers::discord::interactions::InteractionTokens;
use switchboard::sim::{Fault, SimHandle};

use crate::support::{
    Collector, DUCK_TOKEN, LONG, MESSAGE_INTENTS, args, eventually, inject, start_ready, start_sim,
    tenant, vault,
};

/// Injects messages before and right after `fault` (while the shard reconnects), then
/// checks that every one was published exactly once and in order.
async fn survives(fault: Fault, resumes: bool) {
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let t = tenant(&sim, "duck", MESSAGE_INTENTS, Shards::Fixed(1));
    let gw = start_ready(args(
        t,
        &bus.bus,
        &vault,
        &InteractionTokens::new(),
        &SessionStore::memory(),
    ))
    .await;

    let mut want: Vec<String> = (0..5)
        .map(|i| inject(&sim, &format!("before {i}")))
        .collect();
    bus.wait_messages("duck", 5).await;
    assert_eq!(sim.fault("duck", fault, None).expect("fault"), 1);
    want.extend((0..5).map(|i| inject(&sim, &format!("during {i}"))));
    eventually(LONG, || async { gw.health().shards[0].reconnects >= 1 }).await;
    crate::support::wait_ready(&gw).await;
    want.extend((0..5).map(|i| inject(&sim, &format!("after {i}"))));

    let got: Vec<String> = bus
        .wait_messages("duck", 15)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(
        got, want,
        "lost, duplicated or reordered dispatches after {fault:?}"
    );
    check_health(&gw, &sim, resumes).await;

    gw.stop().await;
    assert_eq!(
        bus.messages("duck").len(),
        15,
        "nothing more after the stop"
    );
    bus.close().await;
    sim.shutdown().await;
}

async fn check_health(gw: &GatewayHandle, sim: &SimHandle, resumes: bool) {
    let stats = sim.stats().tenant("duck");
    let h = gw.health();
    let s = &h.shards[0];
    assert_eq!(s.reconnects, 1, "{s:?}");
    if resumes {
        assert_eq!((s.resumes, s.identifies), (1, 1), "{s:?}");
        assert_eq!((stats.resumes, stats.identifies), (1, 1));
    } else {
        assert_eq!((s.resumes, s.identifies), (0, 2), "{s:?}");
        assert_eq!((stats.resumes, stats.identifies), (0, 2));
    }
    // The shard's sequence is the emulator's: no dispatch skipped.
    eventually(LONG, || async {
        let seqs = sim.session_seqs("duck");
        gw.health().shards[0]
            .last_sequence
            .is_some_and(|s| seqs.contains(&s))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forced_close_4000_resumes() {
    survives(Fault::Close { code: 4000 }, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_op_resumes() {
    survives(Fault::Reconnect, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumable_invalid_session_resumes() {
    survives(Fault::InvalidSession { resumable: true }, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_resumes() {
    survives(Fault::DropConnection, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_resumable_invalid_session_identifies_again() {
    // A new session cannot replay what the old one missed: only messages injected
    // after the fresh READY are expected, and none twice.
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let t = tenant(&sim, "duck", MESSAGE_INTENTS, Shards::Fixed(1));
    let gw = start_ready(args(
        t,
        &bus.bus,
        &vault,
        &InteractionTokens::new(),
        &SessionStore::memory(),
    ))
    .await;
    let mut want: Vec<String> = (0..3)
        .map(|i| inject(&sim, &format!("before {i}")))
        .collect();
    bus.wait_messages("duck", 3).await;
    sim.fault("duck", Fault::InvalidSession { resumable: false }, None)
        .expect("fault");
    eventually(LONG, || async { gw.health().shards[0].identifies == 2 }).await;
    crate::support::wait_ready(&gw).await;
    want.extend((0..3).map(|i| inject(&sim, &format!("after {i}"))));
    let got: Vec<String> = bus
        .wait_messages("duck", 6)
        .await
        .into_iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(got, want);
    check_health(&gw, &sim, false).await;
    gw.stop().await;
    bus.close().await;
    sim.shutdown().await;
}
