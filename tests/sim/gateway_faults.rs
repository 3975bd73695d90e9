//! Gateway faults: forced closes, RECONNECT, `INVALID_SESSION`, silent clients and
//! dropped connections, with the real twilight shard recovering from each.

use std::time::Duration;

use serde_json::Value;
use switchboard::sim::{Fault, InjectMessage, SimHandle, intents};
use twilight_gateway::Shard;

use crate::util::{
    CHAN_A, DUCK_TOKEN, GUILD_A, LONG, RawWs, config, eventually, message_intents, next_payload,
    shard, start, user, within,
};

/// Reads dispatches until `n` `MESSAGE_CREATE`s arrived; returns every dispatch's
/// `(s, t, content)` seen on the way (checking `s` continuity from `last_seq`).
async fn collect_messages(
    shard: &mut Shard,
    n: usize,
    last_seq: &mut u64,
) -> Vec<(u64, String, String)> {
    within(LONG, collect_messages_unbounded(shard, n, last_seq)).await
}

async fn collect_messages_unbounded(
    shard: &mut Shard,
    n: usize,
    last_seq: &mut u64,
) -> Vec<(u64, String, String)> {
    let mut seen = Vec::new();
    let mut messages = 0;
    while messages < n {
        let Ok(p) = next_payload(shard).await else {
            continue; // a close frame: twilight reconnects on the next poll
        };
        if p["op"] != 0 {
            continue;
        }
        let s = p["s"].as_u64().expect("dispatch has s");
        let t = p["t"].as_str().unwrap_or_default().to_owned();
        if t == "READY" {
            *last_seq = s - 1; // a new session starts over
        }
        assert_eq!(s, *last_seq + 1, "sequence gap or repeat before {t}");
        *last_seq = s;
        let content = p["d"]["content"].as_str().unwrap_or_default().to_owned();
        if t == "MESSAGE_CREATE" {
            messages += 1;
        }
        seen.push((s, t, content));
    }
    seen
}

fn inject(sim: &SimHandle, text: &str) {
    sim.inject_message(InjectMessage::guild(
        GUILD_A,
        CHAN_A,
        user(42, "alice"),
        text,
    ))
    .expect("inject");
}

/// Connects a twilight shard and reads until its first `GUILD_CREATE`; returns the seq.
async fn ready_shard(sim: &SimHandle) -> (Shard, u64) {
    let mut shard = shard(sim, DUCK_TOKEN, message_intents(), 0, 1);
    let mut last = 0;
    loop {
        let p = next_payload(&mut shard)
            .await
            .expect("no close before ready");
        if let Some(s) = p["s"].as_u64() {
            last = s;
        }
        if p["t"] == "GUILD_CREATE" {
            return (shard, last);
        }
    }
}

/// Inflicts `fault`, waits until the session has no connection, injects messages
/// while the client is away, and checks they all arrive exactly once, in order.
async fn missed_messages_are_replayed(fault: Fault) -> SimHandle {
    let sim = start(config()).await;
    let (mut shard, mut last) = ready_shard(&sim).await;
    inject(&sim, "before");
    collect_messages(&mut shard, 1, &mut last).await;
    assert_eq!(sim.fault("duck", fault, None).expect("fault"), 1);
    if matches!(fault, Fault::Close { .. } | Fault::DropConnection) {
        // The shard is not polled, so it cannot have come back yet.
        sim.wait_until(LONG, |s| s.connected_sessions("duck") == 0)
            .await
            .expect("session detached");
    }
    let texts: Vec<String> = (0..20).map(|i| format!("missed-{i}")).collect();
    for t in &texts {
        inject(&sim, t);
    }
    let seen = collect_messages(&mut shard, 20, &mut last).await;
    let got: Vec<&str> = seen
        .iter()
        .filter(|(_, t, _)| t == "MESSAGE_CREATE")
        .map(|(_, _, c)| c.as_str())
        .collect();
    assert_eq!(got, texts.iter().map(String::as_str).collect::<Vec<_>>());
    // RESUMED follows the replay, continuing the sequence.
    loop {
        if let Ok(p) = next_payload(&mut shard).await
            && p["op"] == 0
        {
            assert_eq!(p["s"].as_u64(), Some(last + 1));
            assert_eq!(p["t"], "RESUMED", "resumed, not re-identified");
            break;
        }
    }
    let stats = sim.stats().tenant("duck");
    assert_eq!((stats.identifies, stats.resumes), (1, 1));
    sim
}

#[tokio::test]
async fn close_4000_resumes_and_replays_every_missed_dispatch_once_in_order() {
    missed_messages_are_replayed(Fault::Close { code: 4000 })
        .await
        .shutdown()
        .await;
}

#[tokio::test]
async fn dropped_tcp_connection_resumes() {
    missed_messages_are_replayed(Fault::DropConnection)
        .await
        .shutdown()
        .await;
}

#[tokio::test]
async fn reconnect_op7_resumes() {
    missed_messages_are_replayed(Fault::Reconnect)
        .await
        .shutdown()
        .await;
}

#[tokio::test]
async fn invalid_session_not_resumable_forces_a_fresh_identify() {
    let sim = start(config()).await;
    let (mut shard, mut last) = ready_shard(&sim).await;
    let fault = Fault::InvalidSession { resumable: false };
    assert_eq!(sim.fault("duck", fault, None).expect("fault"), 1);
    // twilight answers op 9 d=false with a new IDENTIFY (new READY, seq from 1).
    let mut saw_ready = false;
    let mut polled = 0;
    while !saw_ready {
        polled += 1;
        assert!(polled < 1000, "no new READY");
        if let Ok(p) = next_payload(&mut shard).await
            && p["t"] == "READY"
        {
            assert_eq!(p["s"], 1);
            saw_ready = true;
            last = 1;
        }
    }
    inject(&sim, "after");
    let seen = collect_messages(&mut shard, 1, &mut last).await;
    assert_eq!(seen.last().map(|x| x.2.as_str()), Some("after"));
    let stats = sim.stats().tenant("duck");
    assert_eq!((stats.identifies, stats.resumes), (2, 0));
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_session_resumable_resumes() {
    missed_messages_are_replayed(Fault::InvalidSession { resumable: true })
        .await
        .shutdown()
        .await;
}

#[tokio::test]
async fn a_client_that_stops_heartbeating_is_closed() {
    let mut cfg = config();
    cfg.heartbeat_interval = Duration::from_millis(300);
    let sim = start(cfg).await;
    // A client that heartbeats gets ACKs and stays; one that stops is closed (4009).
    let mut ws = RawWs::connect(&sim, false).await;
    let hello: Value = ws.json().await;
    assert_eq!(hello["d"]["heartbeat_interval"], 300);
    ws.identify(DUCK_TOKEN, intents::GUILDS, None).await;
    for i in 0..4 {
        ws.send(&serde_json::json!({"op": 1, "d": i})).await;
        loop {
            if ws.json().await["op"] == 11 {
                break;
            }
        }
    }
    let started = tokio::time::Instant::now();
    assert_eq!(ws.close_code().await, Some(4009));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "closed too early"
    );
    // The timed-out session is gone: RESUME is refused.
    eventually(LONG, || sim.connected_sessions("duck") == 0).await;
    assert_eq!(sim.stats().tenant("duck").identifies, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn twilight_survives_missing_heartbeat_acks() {
    let mut cfg = config();
    cfg.heartbeat_interval = Duration::from_millis(500);
    let sim = start(cfg).await;
    let (mut shard, _) = ready_shard(&sim).await;
    assert_eq!(
        sim.fault("duck", Fault::StopHeartbeatAcks, None)
            .expect("fault"),
        1
    );
    // twilight notices the missing ACK, reconnects and resumes; messages keep flowing.
    let deadline = tokio::time::Instant::now() + LONG;
    while sim.stats().tenant("duck").resumes == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "twilight never resumed"
        );
        let _ = tokio::time::timeout(Duration::from_millis(100), next_payload(&mut shard)).await;
    }
    inject(&sim, "still here");
    let mut last = 0;
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|x: &(u64, String, String)| x.2 == "still here")
    {
        // Sequence numbers continue from before the resume; start counting anew.
        let p = next_payload(&mut shard).await;
        if let Ok(p) = p
            && p["t"] == "MESSAGE_CREATE"
        {
            last = p["s"].as_u64().unwrap_or_default();
            seen.push((
                last,
                "MESSAGE_CREATE".into(),
                p["d"]["content"].as_str().unwrap_or_default().into(),
            ));
        }
    }
    assert!(last > 0);
    assert!(seen.iter().any(|x| x.2 == "still here"));
    sim.shutdown().await;
}
