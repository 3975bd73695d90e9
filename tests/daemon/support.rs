//! Running `switchboard` and `switchboardctl` as processes in tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::sim::{
    DEMO_CHANNELS, DEMO_GUILD, InjectMessage, Sim, SimConfig, SimHandle, SimUser,
};

/// Polls `check` every 25 ms until it is true.
///
/// # Panics
/// After `timeout`, naming `what`.
pub(crate) async fn eventually<F: FnMut() -> bool>(timeout: Duration, what: &str, mut check: F) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls `check` every 25 ms; whether it became true within `timeout`.
pub(crate) async fn wait<F: FnMut() -> bool>(timeout: Duration, mut check: F) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    true
}

/// A daemon process, killed when dropped (pass or fail).
pub(crate) struct Daemon {
    child: Option<Child>,
    /// Its admin base URL.
    pub(crate) admin: String,
    /// Everything it printed on stdout and stderr so far.
    pub(crate) output: Arc<Mutex<String>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn pump(
    reader: impl std::io::Read + Send + 'static,
    out: Arc<Mutex<String>>,
    admin_tx: Option<std::sync::mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines().map_while(Result::ok) {
            if let Some(tx) = &admin_tx
                && let Some(rest) = line.split("admin http://").nth(1)
            {
                let addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send(format!("http://{addr}"));
            }
            let mut o = out.lock().unwrap();
            o.push_str(&line);
            o.push('\n');
        }
    });
}

impl Daemon {
    /// Starts `switchboard run ARGS` with `env`, admin API on a free port, and waits
    /// until it prints its admin address.
    pub(crate) fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_at("127.0.0.1:0", args, env)
    }

    /// As [`Daemon::start`], the admin API on `admin`.
    pub(crate) fn start_at(admin: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("run")
            .args(args)
            .args(["--admin", admin, "--log-format", "json"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn switchboard");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        pump(child.stdout.take().unwrap(), output.clone(), Some(tx));
        pump(child.stderr.take().unwrap(), output.clone(), None);
        let mut daemon = Self {
            child: Some(child),
            admin: String::new(),
            output,
        };
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(admin) => daemon.admin = admin,
            Err(
                std::sync::mpsc::RecvTimeoutError::Timeout
                | std::sync::mpsc::RecvTimeoutError::Disconnected,
            ) => panic!(
                "the daemon did not start:\n{}",
                daemon.output.lock().unwrap()
            ),
        }
        daemon
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Kills the process with SIGKILL (`kill -9`) and reaps it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends a signal (`TERM`, `HUP`) to the process.
    pub(crate) fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().map(Child::id).expect("running");
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit, at most `timeout`; its exit code.
    pub(crate) async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                self.child = None;
                return status.code();
            }
            if tokio::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub(crate) fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

/// Runs `switchboardctl ARGS`; (exit code, stdout, stderr).
pub(crate) fn ctl(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboardctl"))
        .args(args)
        .env_remove("SWITCHBOARD_ADMIN")
        .env_remove("SWITCHBOARD_ADMIN_TOKEN")
        .envs(env.iter().copied())
        .output()
        .expect("run switchboardctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `runtime` lines putting the vault (key in `TEST_VAULT_KEY`) and the bus on
/// `redis`, keys under its random prefix; `bus_extra` goes inside the bus mapping
/// (e.g. `, claim_idle_ms: 2000`), `more` (whole lines) after.
pub(crate) fn redis_runtime(
    redis: &crate::redis_server::TestRedis,
    bus_extra: &str,
    more: &str,
) -> String {
    format!(
        "  vault: {{ backend: redis, url: '{url}', key_env: TEST_VAULT_KEY }}\n  bus: {{ backend: redis, url: '{url}'{bus_extra} }}\n  redis_prefix: {p}\n{more}",
        url = redis.url(),
        p = redis.prefix()
    )
}

/// A registry file for `tenants` (name, token env var) pointing at `sim`.
pub(crate) fn registry(
    dir: &Path,
    sim: &SimHandle,
    tenants: &[(&str, &str)],
    extra_runtime: &str,
) -> PathBuf {
    let mut yaml = format!(
        "namespace: promethean\nruntime:\n  workers: 2\n  handlers: [ping, echo]\n  admin: {{ listen: '127.0.0.1:0', token_env: TEST_ADMIN_TOKEN }}\n{extra_runtime}providers:\n"
    );
    for (name, var) in tenants {
        yaml.push_str(&tenant_entry(sim, name, var));
    }
    let path = dir.join("registry.yml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// One tenant as a YAML mapping (the content of a file in `tenants_dir`).
pub(crate) fn tenant_file(sim: &SimHandle, name: &str, var: &str) -> String {
    format!(
        "provider: discord\ntenant: {name}\ncredentials:\n  bot_token: ${{{var}}}\ngateway:\n  intents: [guilds, guild_messages, message_content]\n  shards: 1\nendpoints:\n  api: http://{}\n  gateway: {}\n",
        sim.api_host(),
        sim.gateway_url()
    )
}

/// One tenant entry (a YAML list item) pointing at `sim`.
pub(crate) fn tenant_entry(sim: &SimHandle, name: &str, var: &str) -> String {
    let mut out = String::new();
    for (i, line) in tenant_file(sim, name, var).lines().enumerate() {
        out.push_str(if i == 0 { "  - " } else { "    " });
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// An emulator serving bots `name` with token `token`, all in the demo guild.
pub(crate) async fn sim(bots: &[(&str, &str)]) -> SimHandle {
    sim_with(bots, |_| {}).await
}

/// [`sim`] with `tweak` applied to its configuration (e.g. a route's limit).
pub(crate) async fn sim_with(
    bots: &[(&str, &str)],
    tweak: impl FnOnce(&mut SimConfig),
) -> SimHandle {
    let mut yaml = String::from("providers:\n");
    for (name, token) in bots {
        yaml.push_str(&format!(
            "  - provider: discord\n    tenant: {name}\n    credentials:\n      bot_token: {token}\n    gateway: {{ intents: [guilds, guild_messages, message_content] }}\n"
        ));
    }
    let reg = switchboard::config::Registry::from_yaml_str(
        &yaml,
        "sim.yml",
        &switchboard::config::LoadOptions::default(),
    )
    .unwrap();
    let mut config = SimConfig::from_registry(&reg).unwrap();
    tweak(&mut config);
    Sim::start(config, "127.0.0.1:0").await.unwrap()
}

/// A human's message in the demo guild's first channel.
pub(crate) fn say(sim: &SimHandle, content: &str) -> u64 {
    sim.inject_message(InjectMessage {
        guild_id: Some(DEMO_GUILD),
        channel_id: Some(DEMO_CHANNELS[0]),
        tenant: None,
        author: SimUser {
            id: 900_000_000_000_000_001,
            username: "alice".into(),
            bot: false,
        },
        content: content.into(),
        mentions: vec![],
    })
    .unwrap()
}

/// Bot replies in the demo channel with `content`, by tenant.
pub(crate) fn replies(sim: &SimHandle, content: &str) -> Vec<String> {
    sim.channel_messages(DEMO_CHANNELS[0])
        .into_iter()
        .filter(|m| m.content == content)
        .filter_map(|m| m.tenant)
        .collect()
}
