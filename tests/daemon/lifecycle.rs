//! Reload, tenants through the API, SIGTERM, and a panicking handler.

use std::time::Duration;

use crate::support::{Daemon, ctl, eventually, registry, replies, say, sim, tenant_file};

fn stats_line(output: &str) -> Option<serde_json::Value> {
    output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "switchboard runtime stopped")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_and_removes_tenants_and_rejects_a_bad_config() {
    let sim = sim(&[("duck", "fake-duck"), ("goose", "fake-goose")]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tenants.d")).unwrap();
    let reg = registry(
        dir.path(),
        &sim,
        &[("duck", "TOK_DUCK")],
        "  tenants_dir: tenants.d\n",
    );
    let env = [
        ("TOK_DUCK", "fake-duck"),
        ("TOK_GOOSE", "fake-goose"),
        ("TEST_ADMIN_TOKEN", "t0k"),
    ];
    let daemon = Daemon::start(&["--config", reg.to_str().unwrap()], &env);
    eventually(Duration::from_secs(60), "duck connected", || {
        sim.connected_sessions("duck") == 1
    })
    .await;

    // Add goose as a file in tenants_dir and send SIGHUP.
    std::fs::write(
        dir.path().join("tenants.d/goose.yml"),
        tenant_file(&sim, "goose", "TOK_GOOSE"),
    )
    .unwrap();
    daemon.signal("HUP");
    eventually(Duration::from_secs(60), "goose connected", || {
        sim.connected_sessions("goose") == 1
    })
    .await;
    say(&sim, "!ping");
    eventually(Duration::from_secs(60), "goose answers", || {
        replies(&sim, "pong").contains(&"goose".to_owned())
    })
    .await;

    // A bad file is rejected and everything keeps running.
    std::fs::write(
        dir.path().join("tenants.d/bad.yml"),
        "provider: discord\ntenant: Bad Name\n",
    )
    .unwrap();
    let (code, _, err) = ctl(&["--admin", &daemon.admin, "--token", "t0k", "reload"], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("422") && err.contains("Bad Name"), "{err}");
    std::fs::remove_file(dir.path().join("tenants.d/bad.yml")).unwrap();
    assert_eq!(sim.connected_sessions("goose"), 1);

    // Remove goose: its gateway closes, its leases are revoked.
    std::fs::remove_file(dir.path().join("tenants.d/goose.yml")).unwrap();
    let (code, out, err) = ctl(&["--admin", &daemon.admin, "--token", "t0k", "reload"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("removed") && out.contains("discord/goose"),
        "{out}"
    );
    eventually(Duration::from_secs(30), "goose disconnected", || {
        sim.connected_sessions("goose") == 0
    })
    .await;
    assert_eq!(sim.connected_sessions("duck"), 1, "duck untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_added_through_the_api_survives_a_restart() {
    let sim = sim(&[("duck", "fake-duck"), ("crow", "fake-crow")]).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(
        dir.path(),
        &sim,
        &[("duck", "TOK_DUCK")],
        "  tenants_dir: tenants.d\n",
    );
    let env = [
        ("TOK_DUCK", "fake-duck"),
        ("TOK_CROW", "fake-crow"),
        ("TEST_ADMIN_TOKEN", "t0k"),
    ];
    let mut daemon = Daemon::start(&["--config", reg.to_str().unwrap()], &env);
    let file = dir.path().join("crow.yml");
    std::fs::write(&file, tenant_file(&sim, "crow", "TOK_CROW")).unwrap();
    let (code, out, err) = ctl(
        &[
            "--admin",
            &daemon.admin,
            "--token",
            "t0k",
            "tenants",
            "add",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("discord/crow"), "{out}");
    eventually(Duration::from_secs(60), "crow connected", || {
        sim.connected_sessions("crow") == 1
    })
    .await;
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(60)).await, Some(0));
    eventually(Duration::from_secs(30), "crow disconnected", || {
        sim.connected_sessions("crow") == 0
    })
    .await;

    let daemon = Daemon::start(&["--config", reg.to_str().unwrap()], &env);
    let (_, list, _) = ctl(&["--admin", &daemon.admin, "tenants", "list"], &[]);
    assert!(list.contains("discord/crow"), "{list}");
    eventually(Duration::from_secs(60), "crow reconnected", || {
        sim.connected_sessions("crow") == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_and_loses_nothing() {
    let sim = sim(&[("duck", "fake-duck")]).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], "");
    let mut daemon = Daemon::start(
        &["--config", reg.to_str().unwrap()],
        &[("TOK_DUCK", "fake-duck")],
    );
    eventually(Duration::from_secs(60), "duck connected", || {
        sim.connected_sessions("duck") == 1
    })
    .await;
    for i in 0..30 {
        say(&sim, if i % 2 == 0 { "!ping" } else { "chatter" });
    }
    daemon.signal("TERM");
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(60)).await,
        Some(0),
        "{}",
        daemon.output()
    );
    let out = daemon.output();
    let stats = stats_line(&out).unwrap_or_else(|| panic!("no final stats line in {out}"));
    let f = &stats["fields"];
    let published = f["published"].as_u64().unwrap();
    assert!(published > 0, "{f}");
    assert_eq!(
        f["acked"].as_u64().unwrap() + f["dead_lettered"].as_u64().unwrap(),
        published,
        "handled + dead-lettered == published: {f}"
    );
}
