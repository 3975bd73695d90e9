//! Reload, tenants through the API, SIGTERM, and a panicking handler.

use std::time::Duration;

use crate::support::{Daemon, ctl, eventually, registry, replies, say, sim, tenant_file, wait};

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

/// `switchboardctl status --json`, parsed.
fn status_json(admin: &str) -> serde_json::Value {
    let (code, out, err) = ctl(&["--admin", admin, "status", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// One tenant's entry of a status document.
fn tenant_status(status: &serde_json::Value, id: &str) -> serde_json::Value {
    status["tenants"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("{id} not in {status}"))
}

/// Resumes and reconnects of a tenant's shards, as the daemon counts them.
fn shard_counters(status: &serde_json::Value, id: &str) -> Vec<(u64, u64)> {
    tenant_status(status, id)["shards"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["resumes"].as_u64().unwrap_or_default(),
                s["reconnects"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_token_on_reload_reconnects_that_tenant_only() {
    const ROTATED: &str = "fake-duck-rotated";
    let sim = sim(&[("duck", "fake-duck"), ("goose", "fake-goose")]).await;
    let dir = tempfile::tempdir().unwrap();
    let tenants = [("duck", "TOK_DUCK"), ("goose", "TOK_GOOSE")];
    let reg = registry(dir.path(), &sim, &tenants, "");
    let env = [
        ("TOK_DUCK", "fake-duck"),
        ("TOK_DUCK_NEW", ROTATED),
        ("TOK_GOOSE", "fake-goose"),
        ("TEST_ADMIN_TOKEN", "t0k"),
    ];
    let daemon = Daemon::start(&["--config", reg.to_str().unwrap()], &env);
    eventually(Duration::from_secs(60), "both connected", || {
        sim.connected_sessions("duck") == 1 && sim.connected_sessions("goose") == 1
    })
    .await;
    eventually(Duration::from_secs(60), "both shards ready", || {
        let st = status_json(&daemon.admin);
        ["discord/duck", "discord/goose"].iter().all(|id| {
            tenant_status(&st, id)["shards"]
                .as_array()
                .is_some_and(|s| !s.is_empty() && s.iter().all(|s| s["state"] == "ready"))
        })
    })
    .await;
    let duck_before = sim.stats().tenant("duck");
    let goose_before = sim.stats().tenant("goose");
    let goose_shards_before = shard_counters(&status_json(&daemon.admin), "discord/goose");

    // Rotate duck's token at "Discord" (the old one is refused from now on), point
    // the registry at the variable holding the new one, and reload.
    sim.reset_token("duck", ROTATED).unwrap();
    registry(
        dir.path(),
        &sim,
        &[("duck", "TOK_DUCK_NEW"), ("goose", "TOK_GOOSE")],
        "",
    );
    let (code, out, err) = ctl(&["--admin", &daemon.admin, "--token", "t0k", "reload"], &[]);
    assert_eq!(code, 0, "{err}");
    let line = |key: &str| {
        out.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(line("changed").contains("discord/duck"), "{out}");
    assert!(line("unchanged").contains("discord/goose"), "{out}");

    // duck's gateway opens a new connection and identifies afresh (a session belongs
    // to the credentials that opened it: the saved one is forgotten, not resumed) —
    // the emulator now refuses the old token, so it can only be with the new one —
    // and its REST side posts with the new token too.
    let reconnected = wait(Duration::from_secs(60), || {
        let now = sim.stats().tenant("duck");
        now.connections > duck_before.connections
            && now.identifies > duck_before.identifies
            && now.resumes == duck_before.resumes
            && sim.connected_sessions("duck") == 1
    })
    .await;
    assert!(
        reconnected,
        "duck did not reconnect: before {duck_before:?}, now {:?}, {} connected; status {}; daemon output:\n{}",
        sim.stats().tenant("duck"),
        sim.connected_sessions("duck"),
        status_json(&daemon.admin),
        daemon.output()
    );
    say(&sim, "!ping");
    eventually(Duration::from_secs(60), "duck and goose answer", || {
        let r = replies(&sim, "pong");
        r.contains(&"duck".to_owned()) && r.contains(&"goose".to_owned())
    })
    .await;

    // goose's gateway was never touched: same session, no identify, resume or reconnect.
    let goose_after = sim.stats().tenant("goose");
    assert_eq!(
        (
            goose_after.identifies,
            goose_after.resumes,
            goose_after.connections
        ),
        (
            goose_before.identifies,
            goose_before.resumes,
            goose_before.connections
        ),
        "goose reconnected"
    );
    assert_eq!(sim.connected_sessions("goose"), 1);
    let st = status_json(&daemon.admin);
    assert_eq!(
        shard_counters(&st, "discord/goose"),
        goose_shards_before,
        "goose's shard resumed or reconnected"
    );
    assert_eq!(tenant_status(&st, "discord/goose")["restarts"], 0);
    assert_eq!(tenant_status(&st, "discord/duck")["state"], "running");
    assert_eq!(
        sim.stats().tenant("duck").connections,
        duck_before.connections + 1,
        "duck reconnected exactly once"
    );
    let output = daemon.output();
    assert!(
        !output.contains(ROTATED) && !output.contains("fake-goose"),
        "a token reached the logs"
    );
}
