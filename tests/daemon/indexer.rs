//! Issue 16's indexer acceptance, as processes on one Redis: an access node serving
//! 20 tenants, a `default`-group worker node answering `!ping`, and an `indexer`-group
//! node (`message-indexer`, 4 workers) writing to the store — PostgreSQL (a fresh
//! database) or SQLite (one file the processes share, WAL). Guild messages reach
//! every tenant; once a tenth of the rows are written the indexer node is killed with SIGKILL
//! and, after it has left the cluster view, a second one (another node id) takes
//! over what it held. Every tenant ends with exactly its share of rows, no dead
//! letter, and the bot group answered a `!ping` before and after the kill once each.
//!
//! `SWITCHBOARD_INDEXER_MESSAGES` (default 2,000, a multiple of 20) is the number of
//! indexed messages in all; the full size is 10,000:
//! `SWITCHBOARD_INDEXER_MESSAGES=10000 cargo nextest run --test daemon indexer
//! --no-capture` prints wall time and rows per second.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fred::prelude::*;
use sqlx::Row as _;
use switchboard::sim::{DEMO_CHANNELS, DEMO_GUILD, InjectMessage, SimHandle, SimUser};

use crate::redis_server::TestRedis;
use crate::store_support::TestDb;
use crate::support::{Daemon, registry, sim};

const TENANTS: usize = 20;
const VAULT_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";
/// The bulk messages go here; `!ping` and its answers to the other demo channel.
const BULK: u64 = DEMO_CHANNELS[0];
const PINGS: u64 = DEMO_CHANNELS[1];
/// Generous bounds: two cores run Redis, the emulator, four daemons and a database.
const LONG: Duration = Duration::from_secs(120);

/// Indexed messages in all (`SWITCHBOARD_INDEXER_MESSAGES`, default 2,000).
fn total_messages() -> usize {
    let n = std::env::var("SWITCHBOARD_INDEXER_MESSAGES")
        .ok()
        .map_or(2_000, |v| {
            v.parse().expect("SWITCHBOARD_INDEXER_MESSAGES is a number")
        });
    assert!(
        n >= TENANTS && n.is_multiple_of(TENANTS),
        "SWITCHBOARD_INDEXER_MESSAGES must be a positive multiple of {TENANTS}, got {n}"
    );
    n
}

/// Rows of the bulk channel, per tenant, read straight from the database.
async fn rows(pool: &sqlx::AnyPool) -> BTreeMap<String, i64> {
    let query = "SELECT tenant, COUNT(*) AS n FROM messages WHERE channel_id = $1 GROUP BY tenant";
    match sqlx::query(query)
        .bind(BULK.to_string())
        .fetch_all(pool)
        .await
    {
        Ok(found) => found
            .iter()
            .map(|r| (r.get::<String, _>("tenant"), r.get::<i64, _>("n")))
            .collect(),
        // SQLite: a writer in another process may hold the lock for a moment.
        Err(e) => {
            eprintln!("counting rows: {e} (retrying)");
            BTreeMap::new()
        }
    }
}

/// `!ping` answers (`pong`) in the ping channel, per tenant.
fn pongs(sim: &SimHandle) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in sim.channel_messages(PINGS) {
        if m.content == "pong"
            && let Some(t) = m.tenant
        {
            *out.entry(t).or_insert(0) += 1;
        }
    }
    out
}

fn human(channel: u64, content: &str) -> InjectMessage {
    InjectMessage::guild(
        DEMO_GUILD,
        channel,
        SimUser {
            id: 900_000_000_000_000_007,
            username: "crowd".into(),
            bot: false,
        },
        content,
    )
}

/// Says `!ping` and waits until every tenant has answered `round` pings in all.
async fn ping_round(sim: &SimHandle, round: usize, nodes: &[&Daemon]) {
    sim.inject_message(human(PINGS, "!ping")).unwrap();
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let got = pongs(sim);
        if got.len() == TENANTS && got.values().all(|n| *n >= round) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            let logs: Vec<String> = nodes.iter().map(|d| d.output()).collect();
            panic!(
                "ping round {round}: pongs {got:?}\n{}",
                logs.join("\n---\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The node ids in `admin`'s cluster view.
async fn cluster_nodes(admin: &str) -> Vec<String> {
    let Ok(resp) = reqwest::get(format!("{admin}/v1/cluster")).await else {
        return Vec::new();
    };
    let v: serde_json::Value = resp.json().await.unwrap_or_default();
    v["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["id"].as_str().map(str::to_owned))
        .collect()
}

/// Entries the `indexer` consumer group holds unacknowledged, all tenants.
async fn indexer_pending(client: &Client, prefix: &str, names: &[String]) -> u64 {
    let mut sum = 0;
    for name in names {
        let key = format!("{prefix}:{{discord:{name}}}:inbox:message");
        let v: Value = client
            .custom(
                fred::cmd!("XPENDING"),
                vec![key, "workers:indexer".to_owned()],
            )
            .await
            .unwrap_or(Value::Null);
        if let Value::Array(parts) = v
            && let Some(n) = parts.first().and_then(Value::as_u64)
        {
            sum += n;
        }
    }
    sum
}

async fn indexer_survives_kill_9(db: &TestDb) {
    let total = total_messages();
    let per_tenant = i64::try_from(total / TENANTS).unwrap();
    let redis = TestRedis::start().await;
    let client = redis.client().await;
    let prefix = redis.prefix().to_owned();
    let names: Vec<String> = (0..TENANTS).map(|i| format!("t{i:02}")).collect();
    let vars: Vec<String> = names.iter().map(|n| format!("TOK_{n}")).collect();
    let tokens: Vec<String> = names.iter().map(|n| format!("fake-{n}")).collect();
    let bots: Vec<(&str, &str)> = names
        .iter()
        .zip(&tokens)
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let sim = sim(&bots).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = crate::support::redis_runtime(
        &redis,
        ", claim_idle_ms: 2000",
        &format!(
            "  store: {}\n  groups:\n    indexer: {{ workers: 4, handlers: [message-indexer] }}\n",
            db.yaml()
        ),
    );
    let tenants: Vec<(&str, &str)> = names
        .iter()
        .zip(&vars)
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let reg = registry(dir.path(), &sim, &tenants, &extra);
    let reg = reg.to_str().unwrap().to_owned();
    let mut access_env: Vec<(&str, &str)> = vars
        .iter()
        .zip(&tokens)
        .map(|(v, t)| (v.as_str(), t.as_str()))
        .collect();
    access_env.push(("TEST_VAULT_KEY", VAULT_KEY));
    let worker_env = [("TEST_VAULT_KEY", VAULT_KEY)];
    let node = |role: &str, group: Option<&str>, id: &str| {
        let mut args = vec!["--config", reg.as_str(), "--role", role, "--node-id", id];
        if let Some(g) = group {
            args.extend(["--group", g]);
        }
        let env: &[(&str, &str)] = if role == "access" {
            &access_env
        } else {
            &worker_env
        };
        Daemon::start(&args, env)
    };

    // Started one by one: each worker node opens the store and runs its migrations.
    let access = node("access", None, "access-1");
    let bots_node = node("worker", Some("default"), "bots-1");
    let mut indexer_a = node("worker", Some("indexer"), "indexer-a");
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(db.url())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + LONG;
    for name in &names {
        while sim.connected_sessions(name) < 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} never connected:\n{}",
                access.output()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    ping_round(&sim, 1, &[&access, &bots_node]).await;

    // Every bulk message reaches all 20 tenants: total / 20 of them, total rows.
    let started = Instant::now();
    for i in 0..total / TENANTS {
        sim.inject_message(human(BULK, &format!("bulk {i}")))
            .unwrap();
    }
    let want = i64::try_from(total).unwrap();
    let deadline = tokio::time::Instant::now() + LONG;
    // In the middle: a tenth of the rows written.
    let at_kill = loop {
        let n: i64 = rows(&pool).await.values().sum();
        if n >= want / 10 {
            break n;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no row written:\n{}",
            indexer_a.output()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    indexer_a.kill();
    let killed = Instant::now();
    let pending = indexer_pending(&client, &prefix, &names).await;
    assert!(
        at_kill < want && pending > 0,
        "the kill came too late ({at_kill} rows written, {pending} pending): nothing to take over"
    );
    eprintln!(
        "{:?}: indexer-a killed with {at_kill} of {total} rows written, {pending} entries pending in the indexer group",
        db.backend()
    );

    // The bot group is unaffected; the indexer group waits for a node.
    ping_round(&sim, 2, &[&access, &bots_node]).await;
    // A fresh node starts once the dead one has left the view (so it never saw it
    // leave): it must still claim what the dead node held.
    let deadline = tokio::time::Instant::now() + LONG;
    while cluster_nodes(&access.admin)
        .await
        .iter()
        .any(|n| n == "indexer-a")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "indexer-a never left the view"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let indexer_b = node("worker", Some("indexer"), "indexer-b");
    let (b_started, b_from) = (Instant::now(), rows(&pool).await.values().sum::<i64>());
    let deadline = tokio::time::Instant::now() + LONG;
    let mut got = rows(&pool).await;
    while !(got.len() == TENANTS && got.values().all(|n| *n >= per_tenant)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "rows per tenant {got:?} (want {per_tenant} each), {} pending\n--- indexer-b:\n{}",
            indexer_pending(&client, &prefix, &names).await,
            indexer_b.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        got = rows(&pool).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let after_kill = killed.elapsed().as_secs_f64();
    let b_secs = b_started.elapsed().as_secs_f64();

    // Past the claim time: nothing more arrives, nothing waits, nothing died.
    let deadline = tokio::time::Instant::now() + LONG;
    while indexer_pending(&client, &prefix, &names).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the indexer group still holds entries"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = rows(&pool).await;
    for name in &names {
        assert_eq!(
            got.get(name).copied(),
            Some(per_tenant),
            "{name}: exactly once each ({got:?})"
        );
    }
    let dead: u64 = client.xlen(format!("{prefix}:dlq")).await.unwrap();
    assert_eq!(dead, 0, "no dead letter");
    let answered = pongs(&sim);
    assert_eq!(
        answered.values().copied().collect::<Vec<_>>(),
        vec![2; TENANTS],
        "each ping answered once per tenant: {answered:?}"
    );
    eprintln!(
        "{:?}: {total} rows over {TENANTS} tenants in {secs:.1} s = {:.0} rows/s (kill -9 at {at_kill} rows; the rest {after_kill:.1} s after the kill)",
        db.backend(),
        total as f64 / secs
    );
    eprintln!(
        "{:?}: indexer-b wrote {} rows in {b_secs:.1} s after its start = {:.0} rows/s (claim time 2 s included)",
        db.backend(),
        want - b_from,
        (want - b_from) as f64 / b_secs
    );
    pool.close().await;
    drop(indexer_b);
    drop(bots_node);
    drop(access);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexer_killed_mid_run_loses_and_duplicates_nothing_on_postgres() {
    indexer_survives_kill_9(&TestDb::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexer_killed_mid_run_loses_and_duplicates_nothing_on_sqlite() {
    indexer_survives_kill_9(&TestDb::sqlite()).await;
}
