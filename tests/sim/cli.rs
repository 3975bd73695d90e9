//! `switchboard sim` as a process: it serves a registry's bots and prints its URLs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the emulator process when the test ends, pass or fail.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn sim_subcommand_serves_the_registry_bots() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reg.yml");
    std::fs::write(
        &file,
        "providers:\n  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: ${SIM_CLI_TOKEN}\n",
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["sim", "--listen", "127.0.0.1:0", "--config"])
        .arg(&file)
        .env("SIM_CLI_TOKEN", "fake-cli-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let stdout = child.0.stdout.take().unwrap();
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(3)
            .collect::<Result<Vec<_>, _>>()
    });
    let lines = tokio::time::timeout(Duration::from_secs(30), lines)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let addr = lines[0]
        .strip_prefix("switchboard sim listening on ")
        .expect(&lines[0])
        .to_owned();
    assert_eq!(lines[1].trim(), format!("REST:    http://{addr}/api/v10"));
    assert_eq!(lines[2].trim(), format!("gateway: ws://{addr}/gateway"));
    let me: serde_json::Value = reqwest::Client::new()
        .get(format!("http://{addr}/api/v10/users/@me"))
        .header("Authorization", "Bot fake-cli-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "duck-bot");
    let status = reqwest::Client::new()
        .get(format!("http://{addr}/api/v10/users/@me"))
        .header("Authorization", "Bot wrong")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);
}
