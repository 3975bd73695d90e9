//! A daemon on Redis (bus, vault, sessions, cluster) survives Redis being killed and
//! restarted empty: nothing fails for good, and every message sent after Redis is
//! back is answered, once.

use std::time::Duration;

use switchboard::actors::rest::BucketMemory;
use switchboard::model::TenantId;

use crate::redis_server::TestRedis;
use crate::support::{Daemon, registry, replies, say, sim, sim_with, wait};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_redis_restart_under_load_fails_no_tenant() {
    let mut redis = TestRedis::start().await;
    let sim = sim(&[("duck", "fake-duck"), ("goose", "fake-goose")]).await;
    let dir = tempfile::tempdir().unwrap();
    // The default lease TTL (30 s): a short outage is ridden out on cached leases.
    let extra = crate::support::redis_runtime(&redis, ", claim_idle_ms: 2000", "");
    let reg = registry(
        dir.path(),
        &sim,
        &[("duck", "TOK_DUCK"), ("goose", "TOK_GOOSE")],
        &extra,
    );
    let key = "0000000000000000000000000000000000000000000000000000000000000001";
    let daemon = Daemon::start(
        &["--config", reg.to_str().unwrap()],
        &[
            ("TOK_DUCK", "fake-duck"),
            ("TOK_GOOSE", "fake-goose"),
            ("TEST_VAULT_KEY", key),
        ],
    );
    let long = Duration::from_secs(60);
    let connected = wait(long, || {
        sim.connected_sessions("duck") == 1 && sim.connected_sessions("goose") == 1
    })
    .await;
    assert!(connected, "{}", daemon.output());
    say(&sim, "!ping");
    let up = wait(long, || replies(&sim, "pong").len() == 2).await;
    assert!(
        up,
        "both bots answer: {:?}\n{}",
        replies(&sim, "pong"),
        daemon.output()
    );

    // Under load: messages keep coming while Redis goes away for 3 s and comes back
    // empty.
    for i in 0..5 {
        say(&sim, &format!("!echo before-{i}"));
    }
    redis.kill();
    for i in 0..5 {
        say(&sim, &format!("!echo during-{i}"));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.restart().await;

    // Back: every message from now on is answered by both bots, once.
    let status_ok = || async {
        let s: serde_json::Value = reqwest::get(format!("{}/v1/status", daemon.admin))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        Some(s)
    };
    let after: Vec<String> = (0..10).map(|i| format!("after-{i}")).collect();
    for text in &after {
        say(&sim, &format!("!echo {text}"));
    }
    let answered = wait(long, || after.iter().all(|t| replies(&sim, t).len() == 2)).await;
    let status = status_ok().await;
    assert!(
        answered,
        "answers {:?}\nstatus {status:?}\n{}",
        after.iter().map(|t| replies(&sim, t)).collect::<Vec<_>>(),
        daemon.output()
    );
    // Past the claim time of anything the outage left pending: still once each.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for t in &after {
        let mut got = replies(&sim, t);
        got.sort();
        assert_eq!(got, ["duck", "goose"], "{t} answered once per bot");
    }
    let status = status_ok().await.expect("status");
    for t in status["tenants"].as_array().expect("tenants") {
        assert_eq!(t["state"], "running", "{t}");
    }
    assert_eq!(status["vault"]["available"], true, "{status}");
    assert!(
        !daemon.output().contains("fake-duck"),
        "no token in the logs"
    );
}

/// One daemon, `kill -9`, restarted with the default configuration (a 30 s gateway
/// lease): the new process finds its dead predecessor's lease held, stands by
/// (spending no restart budget) until it expires, takes the tenant over by RESUME,
/// and every message sent while it was down or waiting is answered — once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_and_restarted_answers_every_message_once() {
    let redis = TestRedis::start().await;
    let sim = sim(&[("duck", "fake-duck")]).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = crate::support::redis_runtime(&redis, "", "");
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], &extra);
    let env = [
        ("TOK_DUCK", "fake-duck"),
        (
            "TEST_VAULT_KEY",
            "0000000000000000000000000000000000000000000000000000000000000001",
        ),
    ];
    let args = ["--config", reg.to_str().unwrap(), "--node-id", "solo"];
    let mut first = Daemon::start(&args, &env);
    let long = Duration::from_secs(60);
    assert!(wait(long, || sim.connected_sessions("duck") == 1).await);
    let texts: Vec<String> = (0..12).map(|i| format!("m-{i}")).collect();
    for t in &texts[..4] {
        say(&sim, &format!("!echo {t}"));
    }
    assert!(
        wait(long, || texts[..4]
            .iter()
            .all(|t| replies(&sim, t).len() == 1))
        .await
    );
    for t in &texts[4..6] {
        say(&sim, &format!("!echo {t}"));
    }
    first.kill();
    // While it is down.
    for t in &texts[6..9] {
        say(&sim, &format!("!echo {t}"));
    }
    let second = Daemon::start(&args, &env);
    // While the new process waits for the old lease to expire.
    for t in &texts[9..] {
        say(&sim, &format!("!echo {t}"));
    }
    let answered = wait(Duration::from_secs(90), || {
        texts.iter().all(|t| !replies(&sim, t).is_empty())
    })
    .await;
    assert!(
        answered,
        "answers {:?}\n{}",
        texts.iter().map(|t| replies(&sim, t)).collect::<Vec<_>>(),
        second.output()
    );
    let stats = sim.stats().tenant("duck");
    assert_eq!(stats.identifies, 1, "taken over by RESUME: {stats:?}");
    assert_eq!(stats.max_live_sessions, 1, "{stats:?}");
    // Anything the dead process had taken is claimed after 30 s; poll that long for
    // a second answer that must never come.
    let twice = wait(Duration::from_secs(35), || {
        texts.iter().any(|t| replies(&sim, t).len() > 1)
    })
    .await;
    assert!(
        !twice,
        "answered twice: {:?}",
        texts
            .iter()
            .map(|t| (t, replies(&sim, t)))
            .collect::<Vec<_>>()
    );
    let status: serde_json::Value = reqwest::get(format!("{}/v1/status", second.admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["tenants"][0]["state"], "running", "{status}");
    assert_eq!(
        status["tenants"][0]["restarts"], 0,
        "standby spends no budget"
    );
}

/// `kill -9` of a daemon that has just spent a rate-limit window, and its successor
/// serving the tenant while that window is still open: the successor finds the
/// bucket layout the dead one saved (and no clean state), starts every known bucket
/// spent for one window, and its first reply waits for the window instead of
/// meeting a 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_daemons_successor_meets_no_spent_window() {
    use fred::prelude::*;
    const WINDOW: Duration = Duration::from_secs(20);
    let redis = TestRedis::start().await;
    let sim = sim_with(&[("duck", "fake-duck")], |c| {
        c.rate_limits.overrides.insert(
            "POST /channels/{channel_id}/messages".to_owned(),
            switchboard::sim::RouteLimit {
                limit: 3,
                window: WINDOW,
                shared: false,
            },
        );
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let extra = crate::support::redis_runtime(&redis, "", "  lease_ttl_secs: 2\n");
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], &extra);
    let env = [
        ("TOK_DUCK", "fake-duck"),
        (
            "TEST_VAULT_KEY",
            "0000000000000000000000000000000000000000000000000000000000000001",
        ),
    ];
    let args = ["--config", reg.to_str().unwrap(), "--node-id", "solo"];
    let long = Duration::from_secs(60);
    let mut first = Daemon::start(&args, &env);
    assert!(wait(long, || sim.connected_sessions("duck") == 1).await);
    for n in 0..3 {
        say(&sim, &format!("!echo spent-{n}"));
    }
    assert!(
        wait(long, || (0..3).all(|n| replies(
            &sim,
            &format!("spent-{n}")
        )
        .len()
            == 1))
        .await,
        "{}",
        first.output()
    );
    let spent = std::time::Instant::now();
    // The dead holder leaves what it saved as it learned: the bucket layout.
    let client = redis.client().await;
    let key = BucketMemory::redis_key(redis.prefix(), &TenantId::parse("discord", "duck").unwrap());
    let deadline = tokio::time::Instant::now() + long;
    loop {
        let saved: bool = client.hexists(&key, "layout").await.unwrap();
        if saved {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no layout saved");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill();

    let second = Daemon::start(&args, &env);
    let deadline = tokio::time::Instant::now() + long;
    loop {
        let status: serde_json::Value =
            match reqwest::get(format!("{}/v1/status", second.admin)).await {
                Ok(r) => r.json().await.unwrap_or_default(),
                Err(_) => serde_json::Value::Null,
            };
        if status["tenants"][0]["state"] == "running" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the successor never ran duck"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        spent.elapsed() < WINDOW,
        "the successor took over after the window ({:?}): the scenario proves nothing",
        spent.elapsed()
    );
    say(&sim, "!echo after");
    assert!(
        wait(long, || replies(&sim, "after").len() == 1).await,
        "{}",
        second.output()
    );
    let stats = sim.stats().tenant("duck");
    let limited = stats.ratelimited_bucket + stats.ratelimited_global + stats.ratelimited_shared;
    assert_eq!(limited, 0, "the successor waited for the window: {stats:?}");
}
