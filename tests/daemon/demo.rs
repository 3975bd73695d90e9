//! The README's main command: `switchboard run --demo`.

use std::time::Duration;

use crate::support::{Daemon, ctl, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_replies_with_zero_429s_and_three_running_tenants() {
    let mut daemon = Daemon::start(&["--demo", "--summary-every", "1"], &[]);
    let last_summary = |out: &str| {
        out.lines()
            .rev()
            .find(|l| l.starts_with("demo · "))
            .map(str::to_owned)
    };
    eventually(Duration::from_secs(20), "the demo posted replies", || {
        last_summary(&daemon.output()).is_some_and(|l| !l.contains("replies posted 0 "))
    })
    .await;
    // The generator also invokes `/ping` once a tenant has registered it, and the
    // summary counts the invocations and their answers.
    eventually(
        Duration::from_secs(30),
        "the demo's /ping was answered",
        || {
            last_summary(&daemon.output())
                .is_some_and(|l| l.contains("slash commands ") && !l.contains("(answered 0)"))
        },
    )
    .await;
    // One bot may answer before the others have connected: poll the status.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (code, out, err) = ctl(&["--admin", &daemon.admin, "status", "--json"], &[]);
        assert_eq!(code, 0, "{err}");
        let status: serde_json::Value = serde_json::from_str(&out).unwrap();
        let running = status["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["state"] == "running")
            .count();
        if running == 3 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The acceptance run is 20 s of traffic: long enough for the rate limits to
    // matter. Poll the daemon's own uptime rather than sleeping.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let (code, out, err) = ctl(&["--admin", &daemon.admin, "status", "--json"], &[]);
        assert_eq!(code, 0, "{err}");
        let status: serde_json::Value = serde_json::from_str(&out).unwrap();
        if status["uptime_secs"].as_u64().unwrap_or(0) >= 20 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{out}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let line = last_summary(&daemon.output()).unwrap();
    assert!(line.ends_with("429s 0"), "after 20 s: {line}");
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(60)).await, Some(0));
    let line = last_summary(&daemon.output()).unwrap();
    assert!(line.ends_with("429s 0"), "{line}");
}
