//! A tenant the provider rejects fails alone: the daemon stays ready and serves the
//! others.

use std::time::Duration;

use crate::support::{Daemon, ctl, eventually, registry, replies, say, sim, wait};

/// `GET /v1/status`'s entry for tenant `id`.
fn tenant(admin: &str, id: &str) -> serde_json::Value {
    let (code, out, err) = ctl(&["--admin", admin, "status", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    status["tenants"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in {status}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_fails_that_tenant_only_and_is_not_retried() {
    const REJECTED: &str = "crow-token-the-gateway-does-not-know";
    // The emulator knows duck only: crow's token is refused with close 4004.
    let sim = sim(&[("duck", "fake-duck")]).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(
        dir.path(),
        &sim,
        &[("duck", "TOK_DUCK"), ("crow", "TOK_CROW")],
        "",
    );
    let daemon = Daemon::start(
        &["--config", reg.to_str().unwrap()],
        &[("TOK_DUCK", "fake-duck"), ("TOK_CROW", REJECTED)],
    );
    let failed = wait(Duration::from_secs(60), || {
        tenant(&daemon.admin, "discord/crow")["state"] == "failed"
    })
    .await;
    assert!(
        failed,
        "crow never failed: {}; daemon output:\n{}",
        tenant(&daemon.admin, "discord/crow"),
        daemon.output()
    );
    let crow = tenant(&daemon.admin, "discord/crow");
    let reason = crow["reason"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        reason.contains("4004") && reason.contains("authentication"),
        "{crow}"
    );
    let restarts = crow["restarts"].as_u64().unwrap();
    assert!(restarts <= 1, "a rejected token is not retried: {crow}");

    // It stays failed, and is not restarted, over a few polls.
    let changed = wait(Duration::from_secs(2), || {
        let now = tenant(&daemon.admin, "discord/crow");
        now["state"] != "failed" || now["restarts"].as_u64() != Some(restarts)
    })
    .await;
    assert!(
        !changed,
        "crow left the failed state or restarted: {}",
        tenant(&daemon.admin, "discord/crow")
    );

    // The node is still ready, and duck serves.
    eventually(Duration::from_secs(60), "duck running", || {
        tenant(&daemon.admin, "discord/duck")["state"] == "running"
            && sim.connected_sessions("duck") == 1
    })
    .await;
    let readyz = reqwest::get(format!("{}/readyz", daemon.admin))
        .await
        .unwrap();
    assert_eq!(readyz.status().as_u16(), 200);
    let body: serde_json::Value = readyz.json().await.unwrap();
    assert_eq!(body["ready"], true, "{body}");
    say(&sim, "!ping");
    eventually(Duration::from_secs(60), "duck answers", || {
        replies(&sim, "pong") == ["duck"]
    })
    .await;

    // The human view says so too (and shows the bus backlog), and nothing printed
    // the rejected token.
    let (code, out, err) = ctl(&["--admin", &daemon.admin, "status"], &[]);
    assert_eq!(code, 0, "{err}");
    let crow_line = out
        .lines()
        .find(|l| l.contains("discord/crow"))
        .unwrap_or_default();
    assert!(crow_line.contains("failed: 4004"), "{out}");
    assert!(out.contains("dead-letter queue 0"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("discord/duck") && l.contains(" · lag ")),
        "{out}"
    );
    assert_eq!(tenant(&daemon.admin, "discord/crow")["state"], "failed");
    assert!(
        !daemon.output().contains(REJECTED),
        "the token reached the logs"
    );
    assert!(!out.contains(REJECTED));
}
