//! An access node and a worker node on one Redis answer `!ping` together; the worker
//! node has no bot token in its environment.

use std::time::Duration;

use crate::redis_server::TestRedis;
use crate::support::{Daemon, eventually, registry, replies, say, sim, wait};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_and_worker_nodes_answer_together() {
    let redis = TestRedis::start().await;
    let sim = sim(&[("duck", "fake-duck")]).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = crate::support::redis_runtime(&redis, "", "");
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], &extra);
    let key = "0000000000000000000000000000000000000000000000000000000000000001";
    let access = Daemon::start(
        &[
            "--config",
            reg.to_str().unwrap(),
            "--role",
            "access",
            "--node-id",
            "access-1",
        ],
        &[("TOK_DUCK", "fake-duck"), ("TEST_VAULT_KEY", key)],
    );
    // The worker node's environment has the vault key and nothing else.
    let worker = Daemon::start(
        &[
            "--config",
            reg.to_str().unwrap(),
            "--role",
            "worker",
            "--node-id",
            "worker-1",
        ],
        &[("TEST_VAULT_KEY", key)],
    );
    eventually(Duration::from_secs(60), "duck connected", || {
        sim.connected_sessions("duck") == 1
    })
    .await;
    say(&sim, "!ping");
    let answered = wait(Duration::from_secs(60), || {
        replies(&sim, "pong") == ["duck"]
    })
    .await;
    assert!(
        answered,
        "no pong
--- access:
{}
--- worker:
{}",
        access.output(),
        worker.output()
    );
    // The pong reaches the emulator before the worker has acked its delivery: poll.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status: serde_json::Value = reqwest::get(format!("{}/v1/status", worker.admin))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["workers"]["handled"].as_u64().unwrap() >= 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let access_status: serde_json::Value = reqwest::get(format!("{}/v1/status", access.admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        access_status["workers"].is_null(),
        "the access node runs no workers"
    );
    assert!(!worker.output().contains("fake-duck"));
}
