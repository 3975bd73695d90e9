//! `switchboardctl backfill` against a daemon with a SQLite store: a channel of 250
//! messages in the emulator is paged into the store through the admin API, followed
//! to `done`, with exactly 250 rows; what the routes refuse (token, tenant, channel)
//! and what a node without `runtime.store` answers; on Redis, a backfill started on
//! an access node and run by a worker node; a second start of a running channel
//! refused with 409, and a failing backfill that stops `--follow` with exit code 1;
//! a node killed mid-run, whose redelivered job takes its run's lease back at once.

use std::time::Duration;

use switchboard::sim::{
    DEMO_CHANNELS, DEMO_GUILD, InjectMessage, RouteLimit, Sim, SimConfig, SimHandle, SimUser,
};

use crate::redis_server::TestRedis;
use crate::support::{Daemon, ctl, registry, sim, wait};

const TOKEN: &str = "CANARY-backfill-admin";
const HISTORY: u64 = 250;

/// `switchboardctl ARGS` off the runtime's threads (the emulator runs in this
/// process, and `--follow` takes a while).
async fn ctl_async(
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ctl(&args, &env)
    })
    .await
    .unwrap()
}

/// History from before any daemon runs, in the demo guild's second channel: only a
/// backfill can store it. The channel's id.
fn history(sim: &switchboard::sim::SimHandle) -> String {
    let channel = DEMO_CHANNELS[1];
    let author = SimUser {
        id: 900_000_000_000_000_077,
        username: "historian".into(),
        bot: false,
    };
    for n in 0..HISTORY {
        sim.inject_message(InjectMessage::guild(
            DEMO_GUILD,
            channel,
            author.clone(),
            &format!("old {n}"),
        ))
        .unwrap();
    }
    channel.to_string()
}

/// Turns the registry file at `reg` into one with a SQLite store in `dir` and the
/// store's handlers.
fn with_store(reg: &std::path::Path, dir: &std::path::Path) {
    let store = dir.join("data/store.sqlite");
    let yaml = std::fs::read_to_string(reg).unwrap().replace(
        "handlers: [ping, echo]",
        &format!(
            "handlers: [ping, message-indexer, backfill]\n  store: {{ backend: sqlite, path: '{}' }}",
            store.display()
        ),
    );
    assert!(yaml.contains("backfill]"), "{yaml}");
    std::fs::write(reg, yaml).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switchboardctl_backfill_follows_a_channel_to_done() {
    let sim = sim(&[("duck", "fake-duck")]).await;
    let ch = history(&sim);
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], "");
    with_store(&reg, dir.path());
    let daemon = Daemon::start(
        &["--config", reg.to_str().unwrap()],
        &[("TOK_DUCK", "fake-duck"), ("TEST_ADMIN_TOKEN", TOKEN)],
    );
    let connected = wait(Duration::from_secs(60), || {
        sim.connected_sessions("duck") == 1
    })
    .await;
    assert!(connected, "duck did not connect:\n{}", daemon.output());
    let admin = daemon.admin.clone();
    let with_token = vec![("SWITCHBOARD_ADMIN_TOKEN", TOKEN)];
    let args = |rest: &[&str]| -> Vec<String> {
        ["--admin", admin.as_str()]
            .iter()
            .chain(rest)
            .map(|s| (*s).to_owned())
            .collect()
    };

    // Nothing yet.
    let (code, out, err) =
        ctl_async(args(&["backfill", "status", "discord/duck", &ch]), vec![]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.trim(),
        format!("discord/duck #{ch}: no page fetched yet · running · 0 stored")
    );

    // Refused: no token, an unknown tenant, a channel that is not an id, no channel.
    let (code, _, err) = ctl_async(args(&["backfill", "discord/duck", &ch]), vec![]).await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("401"), "{err}");
    let (code, _, err) = ctl_async(
        args(&["backfill", "discord/nobody", &ch]),
        with_token.clone(),
    )
    .await;
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("404") && err.contains("discord/nobody is not configured"),
        "{err}"
    );
    let (code, _, err) = ctl_async(
        args(&["backfill", "discord/duck", "general"]),
        with_token.clone(),
    )
    .await;
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("400") && err.contains("not a channel id"),
        "{err}"
    );
    let (code, _, err) = ctl_async(args(&["backfill", "discord/duck"]), with_token.clone()).await;
    assert_eq!(code, 2, "{err}");

    // Started and followed to the end.
    let (code, out, err) = ctl_async(
        args(&[
            "backfill",
            "discord/duck",
            &ch,
            "--follow",
            "--timeout",
            "120",
        ]),
        with_token.clone(),
    )
    .await;
    assert_eq!(code, 0, "{err}\n{out}\n{}", daemon.output());
    let last = out.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!("discord/duck #{ch}: fetched 250 messages in 3 pages · done · 250 stored"),
        "{out}"
    );

    // The stored cursor and count, as JSON.
    let (code, out, err) = ctl_async(
        args(&["--json", "backfill", "status", "discord/duck", &ch]),
        vec![],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let view: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(view["progress"]["fetched"], HISTORY, "{out}");
    assert_eq!(view["progress"]["pages"], 3, "{out}");
    assert_eq!(view["progress"]["done"], true, "{out}");
    assert_eq!(view["stored"], HISTORY, "{out}");

    // Asked again: the finished backfill is a no-op, answered done at once.
    let (code, out, err) = ctl_async(
        args(&["--json", "backfill", "discord/duck", &ch, "--follow"]),
        with_token.clone(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let view: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(view["progress"]["done"], true, "{out}");
    assert_eq!(view["stored"], HISTORY, "{out}");
    assert!(view["job"].is_string(), "{out}");
    // Paged within the tenant's buckets: no 429.
    let stats = sim.stats().tenant("duck");
    assert_eq!(stats.ratelimited(), 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_a_store_starts_backfills_but_cannot_show_them() {
    let sim = sim(&[("duck", "fake-duck")]).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], "");
    let daemon = Daemon::start(
        &["--config", reg.to_str().unwrap()],
        &[("TOK_DUCK", "fake-duck"), ("TEST_ADMIN_TOKEN", TOKEN)],
    );
    let admin = daemon.admin.as_str();
    let ch = DEMO_CHANNELS[1].to_string();
    let (code, _, err) = ctl(
        &["--admin", admin, "backfill", "status", "discord/duck", &ch],
        &[],
    );
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("409") && err.contains("runtime.store"),
        "{err}"
    );
    // Publishing needs only the bus: accepted, the progress unknown here.
    let (code, out, err) = ctl(
        &["--admin", admin, "backfill", "discord/duck", &ch],
        &[("SWITCHBOARD_ADMIN_TOKEN", TOKEN)],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("progress unknown here (this node has no runtime.store)"),
        "{out}"
    );
    let (code, out, err) = ctl(
        &["--admin", admin, "--json", "backfill", "discord/duck", &ch],
        &[("SWITCHBOARD_ADMIN_TOKEN", TOKEN)],
    );
    assert_eq!(code, 0, "{err}");
    let view: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        view["progress"].is_null() && view["stored"].is_null(),
        "{out}"
    );
    assert!(view["job"].is_string(), "{out}");
}

/// Two nodes on one Redis: the access node has no store (it runs no workers), so it
/// can start a backfill but not show it; the worker node runs it and shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_started_on_an_access_node_runs_on_a_worker_node() {
    let redis = TestRedis::start().await;
    let sim = sim(&[("duck", "fake-duck")]).await;
    let ch = history(&sim);
    let dir = tempfile::tempdir().unwrap();
    let extra = crate::support::redis_runtime(&redis, "", "");
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], &extra);
    with_store(&reg, dir.path());
    let key = "0000000000000000000000000000000000000000000000000000000000000001";
    let config = reg.to_str().unwrap();
    let access = Daemon::start(
        &[
            "--config",
            config,
            "--role",
            "access",
            "--node-id",
            "access-1",
        ],
        &[
            ("TOK_DUCK", "fake-duck"),
            ("TEST_VAULT_KEY", key),
            ("TEST_ADMIN_TOKEN", TOKEN),
        ],
    );
    let worker = Daemon::start(
        &[
            "--config",
            config,
            "--role",
            "worker",
            "--node-id",
            "worker-1",
        ],
        &[("TEST_VAULT_KEY", key), ("TEST_ADMIN_TOKEN", TOKEN)],
    );
    let connected = wait(Duration::from_secs(60), || {
        sim.connected_sessions("duck") == 1
    })
    .await;
    assert!(connected, "duck did not connect:\n{}", access.output());
    let token = vec![("SWITCHBOARD_ADMIN_TOKEN", TOKEN)];
    let on = |node: &Daemon, rest: &[&str]| -> Vec<String> {
        ["--admin", node.admin.as_str(), "--json"]
            .iter()
            .chain(rest)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let (code, out, err) = ctl_async(
        on(&access, &["backfill", "discord/duck", &ch]),
        token.clone(),
    )
    .await;
    assert_eq!(code, 0, "{err}\n{}", access.output());
    let view: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        view["progress"].is_null() && view["job"].is_string(),
        "{out}"
    );
    let (code, _, err) = ctl_async(
        on(&access, &["backfill", "status", "discord/duck", &ch]),
        vec![],
    )
    .await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("runtime.store"), "{err}");
    // The worker node's view, polled (bounded) until done.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let view = loop {
        let (code, out, err) = ctl_async(
            on(&worker, &["backfill", "status", "discord/duck", &ch]),
            vec![],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        let view: serde_json::Value = serde_json::from_str(&out).unwrap();
        if view["progress"]["done"] == true {
            break view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not done: {view}\n--- access:\n{}\n--- worker:\n{}",
            access.output(),
            worker.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(view["progress"]["fetched"], HISTORY, "{view}");
    assert_eq!(view["stored"], HISTORY, "{view}");
    assert_eq!(sim.stats().tenant("duck").ratelimited(), 0);
}

/// An emulator for `duck` serving one history page per 2 s, so a backfill of 250
/// messages runs for some 4 s.
async fn slow_sim() -> SimHandle {
    let yaml = "providers:\n  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: fake-duck\n    gateway: { intents: [guilds, guild_messages, message_content] }\n";
    let reg = switchboard::config::Registry::from_yaml_str(
        yaml,
        "sim.yml",
        &switchboard::config::LoadOptions::default(),
    )
    .unwrap();
    let mut config = SimConfig::from_registry(&reg).unwrap();
    config.rate_limits.overrides.insert(
        "GET /channels/{channel_id}/messages".to_owned(),
        RouteLimit {
            limit: 1,
            window: Duration::from_secs(2),
            shared: false,
        },
    );
    Sim::start(config, "127.0.0.1:0").await.unwrap()
}

/// On Redis (the lease lives next to the bus): a second start of a channel whose run
/// is paging is refused with 409 naming the channel, the run and its progress; the
/// run goes on to exactly 250 rows. Then a channel the emulator does not know: every
/// page fails, the job is dead-lettered after `max_deliveries: 2`, `--follow` stops
/// with the reason and exit code 1, and `backfill status` shows it failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_backfill_refuses_a_second_start_and_a_failed_one_ends_follow() {
    let redis = TestRedis::start().await;
    let sim = slow_sim().await;
    let ch = history(&sim);
    let dir = tempfile::tempdir().unwrap();
    let extra = crate::support::redis_runtime(&redis, "", "  max_deliveries: 2\n");
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], &extra);
    with_store(&reg, dir.path());
    let key = "0000000000000000000000000000000000000000000000000000000000000001";
    let daemon = Daemon::start(
        &["--config", reg.to_str().unwrap()],
        &[
            ("TOK_DUCK", "fake-duck"),
            ("TEST_VAULT_KEY", key),
            ("TEST_ADMIN_TOKEN", TOKEN),
        ],
    );
    let connected = wait(Duration::from_secs(60), || {
        sim.connected_sessions("duck") == 1
    })
    .await;
    assert!(connected, "duck did not connect:\n{}", daemon.output());
    let admin = daemon.admin.clone();
    let token = vec![("SWITCHBOARD_ADMIN_TOKEN", TOKEN)];
    let args = |rest: &[&str]| -> Vec<String> {
        ["--admin", admin.as_str()]
            .iter()
            .chain(rest)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let status = |channel: &str| args(&["--json", "backfill", "status", "discord/duck", channel]);

    let (code, out, err) = ctl_async(
        args(&["--json", "backfill", "discord/duck", &ch]),
        token.clone(),
    )
    .await;
    assert_eq!(code, 0, "{err}\n{}", daemon.output());
    let view: serde_json::Value = serde_json::from_str(&out).unwrap();
    let job = view["job"].as_str().unwrap().to_owned();
    // Once the run holds the channel's lease, status names it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (code, out, err) = ctl_async(status(&ch), vec![]).await;
        assert_eq!(code, 0, "{err}");
        let view: serde_json::Value = serde_json::from_str(&out).unwrap();
        if view["run"]["id"] == job.as_str() {
            assert_eq!(view["state"], "running", "{out}");
            assert_ne!(view["progress"]["done"], true, "{out}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the run never showed: {out}\n{}",
            daemon.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A second start while it runs: refused, naming the channel, the run, the way
    // to follow it.
    let (code, _, err) = ctl_async(args(&["backfill", "discord/duck", &ch]), token.clone()).await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("409"), "{err}");
    assert!(
        err.contains(&format!(
            "a backfill of channel {ch} is already running (run {job}; "
        )) && err.contains("follow it with `switchboardctl backfill status discord/duck"),
        "{err}"
    );
    // The one run pages to the end, and lets the lease go.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let view = loop {
        let (code, out, err) = ctl_async(status(&ch), vec![]).await;
        assert_eq!(code, 0, "{err}");
        let view: serde_json::Value = serde_json::from_str(&out).unwrap();
        if view["state"] == "done" && view["run"].is_null() {
            break view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not done: {view}\n{}",
            daemon.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(view["progress"]["fetched"], HISTORY, "{view}");
    assert_eq!(view["progress"]["pages"], 3, "{view}");
    assert_eq!(view["stored"], HISTORY, "{view}");
    // Paged within the tenant's buckets: no 429. (Below, twilight learns nothing of
    // the unknown channel's bucket — the emulator sends `X-RateLimit-Scope` on 2xx
    // answers only — so the failing job's retry may meet one.)
    assert_eq!(sim.stats().tenant("duck").ratelimited(), 0);

    // A channel the emulator does not know: followed until it fails.
    let unknown = "999999999999999999";
    let (code, out, err) = ctl_async(
        args(&[
            "backfill",
            "discord/duck",
            unknown,
            "--follow",
            "--timeout",
            "60",
        ]),
        token.clone(),
    )
    .await;
    assert_eq!(code, 1, "{err}\n{out}\n{}", daemon.output());
    assert!(
        err.contains(&format!(
            "the backfill of discord/duck #{unknown} failed after 2 deliveries: "
        )) && err.contains("Unknown Channel"),
        "{err}"
    );
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "discord/duck #{unknown}: fetched 0 messages in 0 pages · failed: "
        )),
        "{out}"
    );
    let (code, out, err) = ctl_async(status(unknown), vec![]).await;
    assert_eq!(code, 0, "{err}");
    let view: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(view["state"], "failed", "{out}");
    assert_eq!(view["progress"]["error"]["attempts"], 2, "{out}");
    assert!(
        view["progress"]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Unknown Channel")),
        "{out}"
    );
    assert!(
        view["run"].is_null(),
        "the failed run let its lease go: {out}"
    );
}

/// `kill -9` mid-run: the run's lease stays in Redis (a handler timeout and 10 s), so
/// a start on the next node is refused with 409 naming the dead node's run; the job
/// redelivered to that node is the same run, takes the lease back at once, and
/// finishes the channel from the cursor (exactly 250 rows). Were it refused, the
/// backfill would stop there: a redelivered job of another run acks without paging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_killed_mid_run_is_continued_by_its_redelivered_job() {
    let redis = TestRedis::start().await;
    let sim = slow_sim().await;
    let ch = history(&sim);
    let dir = tempfile::tempdir().unwrap();
    // A short gateway lease and claim time: the next node serves the tenant and
    // claims the dead node's delivery within seconds.
    let extra =
        crate::support::redis_runtime(&redis, ", claim_idle_ms: 2000", "  lease_ttl_secs: 3\n");
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], &extra);
    with_store(&reg, dir.path());
    let key = "0000000000000000000000000000000000000000000000000000000000000001";
    let env = [
        ("TOK_DUCK", "fake-duck"),
        ("TEST_VAULT_KEY", key),
        ("TEST_ADMIN_TOKEN", TOKEN),
    ];
    let config = reg.to_str().unwrap();
    let mut first = Daemon::start(&["--config", config, "--node-id", "node-1"], &env);
    let connected = wait(Duration::from_secs(60), || {
        sim.connected_sessions("duck") == 1
    })
    .await;
    assert!(connected, "duck did not connect:\n{}", first.output());
    let token = vec![("SWITCHBOARD_ADMIN_TOKEN", TOKEN)];
    let on = |node: &Daemon, rest: &[&str]| -> Vec<String> {
        ["--admin", node.admin.as_str(), "--json"]
            .iter()
            .chain(rest)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let (code, out, err) = ctl_async(
        on(&first, &["backfill", "discord/duck", &ch]),
        token.clone(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let view: serde_json::Value = serde_json::from_str(&out).unwrap();
    let job = view["job"].as_str().unwrap().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (code, out, err) = ctl_async(
            on(&first, &["backfill", "status", "discord/duck", &ch]),
            vec![],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        let view: serde_json::Value = serde_json::from_str(&out).unwrap();
        if view["progress"]["fetched"].as_u64().unwrap_or(0) >= 100 {
            assert_ne!(view["progress"]["done"], true, "too late to kill: {out}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no page stored: {out}\n{}",
            first.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill();

    let second = Daemon::start(&["--config", config, "--node-id", "node-2"], &env);
    // The dead node's run still holds the channel.
    let (code, _, err) = ctl_async(
        on(&second, &["backfill", "discord/duck", &ch]),
        token.clone(),
    )
    .await;
    assert_eq!(code, 4, "{err}\n{}", second.output());
    assert!(
        err.contains("409") && err.contains(&format!("(run {job}; fetched ")),
        "{err}"
    );
    // Its redelivered job finishes it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let view = loop {
        let (code, out, err) = ctl_async(
            on(&second, &["backfill", "status", "discord/duck", &ch]),
            vec![],
        )
        .await;
        assert_eq!(code, 0, "{err}");
        let view: serde_json::Value = serde_json::from_str(&out).unwrap();
        if view["state"] == "done" && view["run"].is_null() {
            break view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not done: {view}\n{}",
            second.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(view["progress"]["fetched"], HISTORY, "{view}");
    assert_eq!(view["stored"], HISTORY, "{view}");
}
