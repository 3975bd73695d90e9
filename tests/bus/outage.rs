//! Redis killed and restarted *empty* on the same port under a running bus: the
//! fetchers notice their consumer groups are gone, re-create them, and publishing,
//! consuming and request/response resume — without an error loop.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use fred::prelude::*;
use fred::types::InfoKind;
use switchboard::bus::{Bus, RedisBusConfig};
use switchboard::handler::HandlerSet;
use switchboard::model::{Command, Envelope, EnvelopeId, PostMessage, TenantId};

use crate::redis_server::TestRedis;
use crate::support::{bus_config, eventually, message, stand_in_responder, start_pool, tenant};

async fn raw_client(server: &TestRedis) -> Client {
    let client = Client::new(
        Config::from_url(&server.url()).expect("url"),
        None,
        None,
        None,
    );
    client.init().await.expect("raw client connects");
    client
}

/// How many commands Redis answered with `NOGROUP` since it started
/// (`INFO errorstats`).
async fn nogroup_errors(server: &TestRedis) -> u64 {
    let client = raw_client(server).await;
    let info: String = client.info(Some(InfoKind::All)).await.expect("INFO");
    let _ = client.quit().await;
    info.lines()
        .find_map(|l| l.strip_prefix("errorstat_NOGROUP:count="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Publishes, retrying while the bus's client is still reconnecting; returns once
/// Redis has taken the envelope.
async fn publish_until_taken(bus: &Bus, env: &Envelope) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout(Duration::from_secs(2), bus.publish(env.clone())).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => assert!(
                tokio::time::Instant::now() < deadline,
                "publishing never resumed: {e}"
            ),
            Err(_) => assert!(
                tokio::time::Instant::now() < deadline,
                "publishing never resumed (timed out)"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts the `workers` group exists on each tenant's message inbox.
async fn assert_workers_group(server: &TestRedis, tenants: &[TenantId]) {
    let client = raw_client(server).await;
    for t in tenants {
        let stream = format!(
            "{}:{{{}:{}}}:inbox:message",
            server.prefix(),
            t.provider,
            t.tenant
        );
        let groups: Vec<std::collections::HashMap<String, Value>> =
            client.xinfo_groups(&stream).await.expect("XINFO GROUPS");
        assert!(
            groups
                .iter()
                .any(|g| g.get("name").and_then(Value::as_string).as_deref() == Some("workers")),
            "group re-created on {stream}"
        );
    }
    let _ = client.quit().await;
}

/// Waits until `id` is dead-lettered after more than one delivery.
async fn assert_retried_then_dead_lettered(bus: &Bus, poison_id: EnvelopeId) {
    eventually(
        Duration::from_secs(30),
        "a failing envelope is retried, then dead-lettered",
        || {
            let bus = bus.clone();
            async move {
                bus.dead_letters(100).await.is_ok_and(|letters| {
                    letters.iter().any(|l| {
                        l.attempts >= 2 && l.envelope.as_ref().is_some_and(|e| e.id == poison_id)
                    })
                })
            }
        },
    )
    .await;
}

fn post(i: usize) -> Command {
    Command::PostMessage(PostMessage {
        channel_id: "1".into(),
        content: format!("n{i}"),
        reply_to: None,
        embeds: vec![],
        allowed_mentions: None,
        nonce: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_redis_restart_recreates_groups_and_delivery_resumes() {
    let mut server = TestRedis::start().await;
    let redis = RedisBusConfig {
        claim_idle: Duration::from_millis(1500),
        block: Duration::from_millis(100),
        ..RedisBusConfig::new(server.url(), server.prefix())
    };
    let bus = Bus::redis(bus_config(3, 8, 1000), redis)
        .await
        .expect("redis bus");
    let handled: Arc<DashMap<EnvelopeId, u32>> = Arc::new(DashMap::new());
    let mut set = HandlerSet::new();
    for i in 0..2 {
        set.add(
            &tenant(i),
            Arc::new(crate::scenarios::CountingPublic::new(handled.clone())),
        );
    }
    let pool = start_pool(&bus, set, 2).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let responder = stand_in_responder(&bus, &tenant(0), seen.clone());

    // Before: both paths work.
    let mut before = HashSet::new();
    for i in 0..10 {
        let env = message(&tenant(i % 2), "before");
        before.insert(env.id);
        bus.publish(env).await.expect("publish");
    }
    eventually(
        Duration::from_secs(20),
        "delivery before the restart",
        || {
            let ok = before.iter().all(|id| handled.contains_key(id));
            async move { ok }
        },
    )
    .await;
    let req = Envelope::request("promethean", &tenant(0), post(0), "ignored").expect("request");
    bus.request(req, Duration::from_secs(10))
        .await
        .expect("a request is answered before the restart");

    // Redis dies; while it is down publishing fails (or waits) instead of succeeding.
    server.kill();
    let during = message(&tenant(0), "during");
    let outcome = tokio::time::timeout(Duration::from_millis(500), bus.publish(during)).await;
    assert!(
        !matches!(outcome, Ok(Ok(()))),
        "a publish cannot succeed while Redis is down"
    );
    // It comes back with nothing: no streams, no groups, no tenant set.
    server.restart().await;

    let mut after = HashSet::new();
    for i in 0..20 {
        let env = message(&tenant(i % 2), "after");
        publish_until_taken(&bus, &env).await;
        after.insert(env.id);
    }
    eventually(
        Duration::from_secs(30),
        "every envelope published after the restart is delivered",
        || {
            let ok = after.iter().all(|id| handled.contains_key(id));
            async move { ok }
        },
    )
    .await;

    // Retries go through the retry set and the mover's Lua script (reloaded after
    // NOSCRIPT on the fresh server) until the envelope is dead-lettered.
    let poison = message(&tenant(1), "poison after the restart");
    let poison_id = poison.id;
    publish_until_taken(&bus, &poison).await;
    assert_retried_then_dead_lettered(&bus, poison_id).await;

    // Requests go through the re-created `rest` group too.
    let answered = async {
        for i in 1..=3 {
            let req =
                Envelope::request("promethean", &tenant(0), post(i), "ignored").expect("request");
            bus.request(req, Duration::from_secs(10)).await?;
        }
        Ok::<_, switchboard::bus::BusError>(())
    };
    tokio::time::timeout(Duration::from_secs(40), answered)
        .await
        .expect("requests answered in time")
        .expect("requests are answered after the restart");

    // The groups exist again on the fresh server.
    assert_workers_group(&server, &[tenant(0), tenant(1)]).await;

    // No error loop: NOGROUP answers are few, and they stop once the groups are back.
    let settled = nogroup_errors(&server).await;
    assert!(settled < 100, "{settled} NOGROUP answers: the bus spun");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        nogroup_errors(&server).await,
        settled,
        "NOGROUP answers continue after recovery"
    );

    responder.abort();
    pool.shutdown().await;
    bus.close().await;
}
