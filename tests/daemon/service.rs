//! The daemon under a service manager: `sd_notify` messages on a fake
//! `NOTIFY_SOCKET`, exit code 78 for a configuration error, and `switchboardctl`'s
//! exit codes, `--json` and `tenants put`.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use crate::support::{Daemon, ctl, eventually, registry, sim, tenant_file};

/// Everything the daemon sent to the notify socket so far, one datagram per entry.
fn drain(socket: &UnixDatagram, into: &mut Vec<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        into.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifies_ready_watchdog_and_stopping_on_a_fake_notify_socket() {
    let sim = sim(&[("duck", "fake-duck")]).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], "");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut daemon = Daemon::start(
        &["--config", reg.to_str().unwrap()],
        &[
            ("TOK_DUCK", "fake-duck"),
            ("TEST_ADMIN_TOKEN", "t0k"),
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            // 200 ms: the keep-alive comes every 100 ms.
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    let mut got = Vec::new();
    eventually(
        Duration::from_secs(30),
        "READY=1 and a watchdog ping",
        || {
            drain(&socket, &mut got);
            got.iter().any(|m| m.lines().any(|l| l == "WATCHDOG=1"))
        },
    )
    .await;
    let ready = got
        .iter()
        .position(|m| m.lines().any(|l| l == "READY=1"))
        .unwrap_or_else(|| panic!("no READY=1 in {got:?}"));
    assert!(
        got[ready].contains("STATUS=switchboard running"),
        "READY carries a status line: {got:?}"
    );
    assert!(
        !got.iter().any(|m| m.contains("STOPPING=1")),
        "not stopping yet: {got:?}"
    );

    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(60)).await, Some(0));
    drain(&socket, &mut got);
    let stopping = got
        .iter()
        .position(|m| m.lines().any(|l| l == "STOPPING=1"))
        .unwrap_or_else(|| panic!("no STOPPING=1 in {got:?}"));
    assert!(stopping > ready, "STOPPING after READY: {got:?}");
}

/// `switchboard run` with `args`; (exit code, stderr).
fn run_daemon(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("run")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run switchboard");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_configuration_error_exits_78_and_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "runtime:\n  workers: 0\nproviders:\n  - provider: discord\n    tenant: duck\n",
    )
    .unwrap();
    let (code, err) = run_daemon(&["--config", bad.to_str().unwrap()]);
    assert_eq!(code, Some(78), "{err}");
    assert!(err.contains("workers"), "the problem is named: {err}");

    let missing = dir.path().join("missing.yml");
    let (code, err) = run_daemon(&["--config", missing.to_str().unwrap()]);
    assert_eq!(code, Some(78), "{err}");
    assert!(err.contains("missing.yml"), "{err}");

    // A usage error is clap's 2, not a configuration error.
    let (code, _) = run_daemon(&["--no-such-flag"]);
    assert_eq!(code, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switchboardctl_exit_codes_json_and_tenants_put() {
    let sim = sim(&[("duck", "fake-duck"), ("crow", "fake-crow")]).await;
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
        ("TOK_CROW", "fake-crow"),
        ("TEST_ADMIN_TOKEN", "t0k"),
    ];
    let daemon = Daemon::start(&["--config", reg.to_str().unwrap()], &env);
    // The same bare HOST:PORT the daemon's --admin takes.
    let bare = daemon.admin.trim_start_matches("http://").to_owned();

    // No daemon: 3. Refused (no token for a mutation): 4.
    let (code, _, err) = ctl(&["--admin", "127.0.0.1:1", "status"], &[]);
    assert_eq!(code, 3, "{err}");
    let file = dir.path().join("crow.yml");
    std::fs::write(&file, tenant_file(&sim, "crow", "TOK_CROW")).unwrap();
    let put = ["--admin", &bare, "tenants", "put", file.to_str().unwrap()];
    let (code, _, err) = ctl(&put, &[]);
    assert_eq!(code, 4, "refused without the token: {err}");

    // `tenants put` adds, then replaces; `--json` prints the daemon's report.
    let with_token = [&put[..], &["--token", "t0k", "--json"]].concat();
    let (code, out, err) = ctl(&with_token, &[]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("--json is JSON");
    assert_eq!(
        report["added"],
        serde_json::json!(["discord/crow"]),
        "{out}"
    );
    eventually(Duration::from_secs(60), "crow connected", || {
        sim.connected_sessions("crow") == 1
    })
    .await;

    // A second put of a changed entry replaces it.
    let changed = tenant_file(&sim, "crow", "TOK_CROW").replace("shards: 1", "shards: auto");
    std::fs::write(&file, changed).unwrap();
    let (code, out, err) = ctl(&with_token, &[]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("--json is JSON");
    assert_eq!(
        report["changed"],
        serde_json::json!(["discord/crow"]),
        "{out}"
    );

    let (code, out, err) = ctl(&["--admin", &bare, "tenants", "list", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).expect("--json is JSON");
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"discord/crow") && ids.contains(&"discord/duck"),
        "{out}"
    );

    // Piped output carries no colour codes.
    let (code, out, _) = ctl(&["--admin", &bare, "status"], &[]);
    assert_eq!(code, 0);
    assert!(
        !out.contains('\u{1b}'),
        "no ANSI escapes on a pipe: {out:?}"
    );

    let (code, out, _) = ctl(&["completions", "bash"], &[]);
    assert_eq!(code, 0);
    assert!(
        out.contains("switchboardctl") && out.contains("tenants"),
        "{out}"
    );
}
