//! Several daemons on one Redis as one system: a tenant is held by one node and
//! standby on the others; `kill -9` of the holder moves it to a survivor, which
//! RESUMEs the stored session, so messages sent in the gap are answered — once.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use switchboard::sim::SimHandle;

use crate::redis_server::TestRedis;
use crate::support::{Daemon, eventually, registry, say, sim, wait};

/// Bots in the test: tenant name, token variable, token.
const BOTS: [(&str, &str, &str); 2] = [
    ("duck", "TOK_DUCK", "fake-duck"),
    ("goose", "TOK_GOOSE", "fake-goose"),
];
const VAULT_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";
/// The gateway lease TTL the nodes run with (seconds): a dead holder's tenants move
/// within it.
const LEASE_TTL: u64 = 3;

fn env() -> Vec<(&'static str, &'static str)> {
    let mut env: Vec<_> = BOTS.iter().map(|(_, var, tok)| (*var, *tok)).collect();
    env.push(("TEST_VAULT_KEY", VAULT_KEY));
    env
}

/// A registry for both bots on Redis (bus, vault, sessions) with a short lease TTL
/// and claim time, so a dead node's work moves within a few seconds.
fn cluster_registry(dir: &Path, sim: &SimHandle, redis: &TestRedis) -> std::path::PathBuf {
    let extra = crate::support::redis_runtime(
        redis,
        ", claim_idle_ms: 2000",
        &format!("  lease_ttl_secs: {LEASE_TTL}\n"),
    );
    let tenants: Vec<_> = BOTS.iter().map(|(name, var, _)| (*name, *var)).collect();
    registry(dir, sim, &tenants, &extra)
}

fn node(reg: &Path, id: &str) -> Daemon {
    Daemon::start(
        &["--config", reg.to_str().unwrap(), "--node-id", id],
        &env(),
    )
}

/// Each tenant's state on a node (`running`, `standby`, ...). A tenant counts as
/// `running` only once every shard of it is `ready`: its session is stored by then,
/// so a node paused or killed after this point is taken over by RESUME (before it,
/// Discord's own behaviour applies: dispatches to a session nobody can resume are
/// lost), and it reads `connecting` until then.
async fn states(daemon: &Daemon) -> BTreeMap<String, String> {
    let status: serde_json::Value = reqwest::get(format!("{}/v1/status", daemon.admin))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    status["tenants"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let state = t["state"].as_str().unwrap_or_default();
            let shards = t["shards"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            let ready = !shards.is_empty() && shards.iter().all(|s| s["state"] == "ready");
            let state = if state == "running" && !ready {
                "connecting"
            } else {
                state
            };
            (
                t["id"].as_str().unwrap_or_default().to_owned(),
                state.to_owned(),
            )
        })
        .collect()
}

/// How many times each tenant posted `content` in the demo channel.
fn answers(sim: &SimHandle, content: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in sim.channel_messages(switchboard::sim::DEMO_CHANNELS[0]) {
        if m.content == content
            && let Some(t) = m.tenant
        {
            *out.entry(t).or_insert(0) += 1;
        }
    }
    out
}

/// Polls `check` every 50 ms until it returns `Some`, at most `timeout`.
async fn poll<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every tenant runs on exactly one of `nodes` and is standby on the
/// others; returns, per tenant, the index of its holder.
async fn placement(nodes: &[Daemon], names: &[&str], timeout: Duration) -> BTreeMap<String, usize> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut all = Vec::new();
        for n in nodes {
            all.push(states(n).await);
        }
        let mut holders = BTreeMap::new();
        for name in names {
            let id = format!("discord/{name}");
            let on = |state: &str| {
                (0..all.len())
                    .filter(|i| all[*i].get(&id).is_some_and(|s| s == state))
                    .collect::<Vec<_>>()
            };
            let (running, standby) = (on("running"), on("standby"));
            if running.len() == 1 && standby.len() == all.len() - 1 {
                holders.insert(id, running[0]);
            }
        }
        if holders.len() == names.len() {
            return holders;
        }
        if tokio::time::Instant::now() >= deadline {
            let logs: Vec<String> = nodes.iter().map(Daemon::output).collect();
            panic!("no clean placement: {all:?}\n{}", logs.join("\n---\n"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_is_taken_over_by_resume_and_the_gap_is_answered_once() {
    let redis = TestRedis::start().await;
    let tokens: Vec<_> = BOTS.iter().map(|(n, _, t)| (*n, *t)).collect();
    let sim = sim(&tokens).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = cluster_registry(dir.path(), &sim, &redis);
    let mut nodes = vec![node(&reg, "node-a"), node(&reg, "node-b")];
    let long = Duration::from_secs(60);

    // Each tenant is held by exactly one node, standby on the other.
    let holders = placement(&nodes, &["duck", "goose"], long).await;
    // "running" in status can come a moment before the emulator counts the session
    // (the identify is still in flight): wait for it, then require exactly one.
    for (name, _, _) in BOTS {
        eventually(long, &format!("{name}: a live session"), || {
            sim.connected_sessions(name) >= 1
        })
        .await;
        assert_eq!(sim.connected_sessions(name), 1, "{name}: one live session");
    }
    say(&sim, "!echo before");
    eventually(long, "both bots answer before the kill", || {
        answers(&sim, "before").len() == BOTS.len()
    })
    .await;

    // Kill -9 the node that holds duck; its tenants move to the other.
    let victim = holders["discord/duck"];
    let moved: Vec<&str> = holders
        .iter()
        .filter(|(_, n)| **n == victim)
        .map(|(t, _)| t.trim_start_matches("discord/"))
        .collect();
    let before: BTreeMap<&str, _> = BOTS
        .iter()
        .map(|(n, _, _)| (*n, sim.stats().tenant(n)))
        .collect();
    let mut dead = nodes.remove(victim);
    dead.kill();
    let survivor = &nodes[0];
    let killed_at = tokio::time::Instant::now();
    let gap: Vec<String> = (0..10).map(|i| format!("gap-{i}")).collect();
    for text in &gap {
        say(&sim, &format!("!echo {text}"));
    }

    let resumed = poll(long, || async {
        moved
            .iter()
            .all(|name| sim.stats().tenant(name).resumes > before[name].resumes)
            .then(|| killed_at.elapsed())
    })
    .await;
    eprintln!("takeover: the moved tenants resumed {resumed:?} after the kill");
    // The moved tenants answer again: takeover time (reported, not asserted).
    let first = poll(long, || async {
        moved
            .iter()
            .all(|name| gap.iter().any(|g| answers(&sim, g).contains_key(*name)))
            .then(|| killed_at.elapsed())
    })
    .await;
    eprintln!(
        "takeover: the moved tenants answered {first:?} after the kill (lease TTL {LEASE_TTL} s)"
    );

    // Every message of the gap is answered by both bots (at the channel's rate limit).
    let all_answered = wait(long, || {
        gap.iter()
            .all(|g| answers(&sim, g).values().sum::<usize>() >= BOTS.len())
    })
    .await;
    let took = killed_at.elapsed();
    assert!(
        all_answered,
        "gap answers {:?}\n--- survivor:\n{}",
        gap.iter().map(|g| answers(&sim, g)).collect::<Vec<_>>(),
        survivor.output()
    );
    let all_running = poll(long, || async {
        states(survivor)
            .await
            .values()
            .all(|s| s == "running")
            .then_some(())
    })
    .await;
    assert!(all_running.is_some(), "the survivor runs every tenant");

    // Moved tenants resumed (no new IDENTIFY); no token ever had two live sessions.
    for name in &moved {
        let (now, then) = (sim.stats().tenant(name), &before[name]);
        assert_eq!(now.identifies, then.identifies, "{name}: no fresh IDENTIFY");
        assert!(now.resumes > then.resumes, "{name}: taken over by RESUME");
    }
    for (name, _, _) in BOTS {
        assert_eq!(
            sim.stats().tenant(name).max_live_sessions,
            1,
            "{name}: never two live sessions"
        );
    }
    // Past the claim time (2 s) of anything the dead node had taken: still once.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for g in &gap {
        let got = answers(&sim, g);
        assert_eq!(
            got.values().copied().collect::<Vec<_>>(),
            vec![1; BOTS.len()],
            "{g} answered once per bot: {got:?}"
        );
    }
    eprintln!("takeover: every gap message answered {took:?} after the kill");
    if std::env::var_os("CLUSTER_DEBUG").is_some() {
        eprintln!("{}", survivor.output());
    }
}

/// Three daemons, nine tenants: placement spreads them (each held by exactly one
/// node, at most four on any, converging to three each) through hand-offs that
/// RESUME; every token keeps one live session throughout; `/v1/cluster` and
/// `switchboardctl status --cluster` show the nodes and who holds what; every
/// tenant answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_nine_tenants() {
    let redis = TestRedis::start().await;
    let names: Vec<String> = (1..=9).map(|i| format!("bot{i}")).collect();
    let tokens: Vec<String> = names.iter().map(|n| format!("fake-{n}")).collect();
    let vars: Vec<String> = names
        .iter()
        .map(|n| format!("TOK_{}", n.to_uppercase()))
        .collect();
    let bots: Vec<(&str, &str)> = names
        .iter()
        .map(String::as_str)
        .zip(tokens.iter().map(String::as_str))
        .collect();
    let sim = sim(&bots).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = crate::support::redis_runtime(
        &redis,
        ", claim_idle_ms: 2000",
        &format!("  lease_ttl_secs: {LEASE_TTL}\n"),
    );
    let tenants: Vec<(&str, &str)> = names
        .iter()
        .map(String::as_str)
        .zip(vars.iter().map(String::as_str))
        .collect();
    let reg = registry(dir.path(), &sim, &tenants, &extra);
    let mut env: Vec<(&str, &str)> = vars
        .iter()
        .map(String::as_str)
        .zip(tokens.iter().map(String::as_str))
        .collect();
    env.push(("TEST_VAULT_KEY", VAULT_KEY));
    let nodes: Vec<Daemon> = ["n1", "n2", "n3"]
        .iter()
        .map(|id| Daemon::start(&["--config", reg.to_str().unwrap(), "--node-id", id], &env))
        .collect();

    // Balanced: three each.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let per_node = loop {
        let mut counts = vec![0_usize; nodes.len()];
        let mut clean = true;
        for (i, n) in nodes.iter().enumerate() {
            let s = states(n).await;
            counts[i] = s.values().filter(|v| *v == "running").count();
            clean &= s.len() == names.len();
        }
        if clean && counts.iter().sum::<usize>() == names.len() && counts.iter().all(|c| *c == 3) {
            break counts;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not balanced: {counts:?}\n{}",
            nodes
                .iter()
                .map(Daemon::output)
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    let holders = placement(&nodes, &all, Duration::from_secs(10)).await;
    assert_eq!(holders.len(), names.len());
    assert_eq!(per_node, vec![3, 3, 3]);

    // The cluster view (one heartbeat behind at most) names every node and the
    // holder of every tenant.
    let want: BTreeMap<String, String> = holders
        .iter()
        .map(|(t, i)| (t.clone(), format!("n{}", i + 1)))
        .collect();
    let mut view = serde_json::Value::Null;
    let agreed = poll(Duration::from_secs(10), || {
        let admin = nodes[0].admin.clone();
        let want = want.clone();
        async move {
            let v: serde_json::Value = reqwest::get(format!("{admin}/v1/cluster"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let got: BTreeMap<String, String> = v["tenants"]
                .as_array()?
                .iter()
                .filter_map(|t| {
                    Some((
                        t["id"].as_str()?.to_owned(),
                        t["holder"].as_str()?.to_owned(),
                    ))
                })
                .collect();
            (got == want).then_some(v)
        }
    })
    .await;
    if let Some(v) = agreed {
        view = v;
    }
    let ids: Vec<&str> = view["nodes"]
        .as_array()
        .map(|a| a.iter().filter_map(|n| n["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        ids,
        ["n1", "n2", "n3"],
        "the view never matched {want:?}: {view}"
    );
    let (code, out, err) =
        crate::support::ctl(&["--admin", &nodes[1].admin, "status", "--cluster"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 nodes") && out.contains("n3"), "{out}");
    // Each tenant line names its holder (the status of a node that is standby for it
    // too), once the view has caught up.
    let named = poll(Duration::from_secs(10), || async {
        let (_, table, _) = crate::support::ctl(&["--admin", &nodes[2].admin, "status"], &[]);
        want.iter()
            .all(|(t, n)| {
                table
                    .lines()
                    .any(|l| l.contains(t.as_str()) && l.contains(&format!("on {n}")))
            })
            .then_some(())
    })
    .await;
    assert!(named.is_some(), "tenant lines name their holders");
    // A tenant's REST requests are served by its holder: a REST actor runs beside a
    // running gateway only (it starts just after the gateway: poll).
    let rest_on_holders = poll(Duration::from_secs(10), || async {
        for n in &nodes {
            let status: serde_json::Value = reqwest::get(format!("{}/v1/status", n.admin))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            for t in status["tenants"].as_array()? {
                if t["rest"].is_null() == (t["state"] == "running") {
                    return None;
                }
            }
        }
        Some(())
    })
    .await;
    assert!(
        rest_on_holders.is_some(),
        "REST actors run only on the holders"
    );

    // Every tenant answers, once; no token ever had two live sessions.
    say(&sim, "!ping");
    eventually(Duration::from_secs(60), "every bot answers", || {
        answers(&sim, "pong").len() == names.len()
    })
    .await;
    assert!(answers(&sim, "pong").values().all(|n| *n == 1));
    for name in &names {
        let s = sim.stats().tenant(name);
        assert_eq!(s.max_live_sessions, 1, "{name}: {s:?}");
        assert_eq!(s.identifies, 1, "{name}: moved by RESUME only: {s:?}");
    }
}

/// A holder paused (SIGSTOP) past its lease: the other node takes the tenant over by
/// RESUME; resumed (SIGCONT), the stale node's writes are refused by the fence and
/// it stands down; every message is answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_holder_is_replaced_and_stands_down_when_it_resumes() {
    let redis = TestRedis::start().await;
    let tokens: Vec<_> = BOTS.iter().map(|(n, _, t)| (*n, *t)).collect();
    let sim = sim(&tokens).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = cluster_registry(dir.path(), &sim, &redis);
    let nodes = vec![node(&reg, "node-a"), node(&reg, "node-b")];
    let long = Duration::from_secs(60);
    let names = ["duck", "goose"];
    let holders = placement(&nodes, &names, long).await;
    let paused = holders["discord/duck"];
    let other = 1 - paused;

    nodes[paused].signal("STOP");
    let during: Vec<String> = (0..3).map(|i| format!("paused-{i}")).collect();
    for t in &during {
        say(&sim, &format!("!echo {t}"));
    }
    // The other node takes duck over.
    let taken = poll(long, || async {
        (states(&nodes[other])
            .await
            .get("discord/duck")
            .map(String::as_str)
            == Some("running"))
        .then_some(())
    })
    .await;
    assert!(taken.is_some(), "{}", nodes[other].output());
    assert!(
        wait(long, || during
            .iter()
            .all(|t| answers(&sim, t).contains_key("duck")))
        .await,
        "answered while the holder is paused: {:?}\n--- node taking over:\n{}",
        during.iter().map(|t| answers(&sim, t)).collect::<Vec<_>>(),
        nodes[other].output()
    );

    nodes[paused].signal("CONT");
    // The stale node notices (lease renewal or a refused write) and stands down.
    let stood_down = poll(long, || async {
        (states(&nodes[paused])
            .await
            .get("discord/duck")
            .map(String::as_str)
            == Some("standby"))
        .then_some(())
    })
    .await;
    assert!(stood_down.is_some(), "{}", nodes[paused].output());
    let after: Vec<String> = (0..3).map(|i| format!("after-{i}")).collect();
    for t in &after {
        say(&sim, &format!("!echo {t}"));
    }
    assert!(
        wait(long, || after
            .iter()
            .all(|t| answers(&sim, t).len() == BOTS.len()))
        .await,
        "{:?}",
        after.iter().map(|t| answers(&sim, t)).collect::<Vec<_>>()
    );
    // Past the claim time: still once each.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for t in during.iter().chain(&after) {
        let got = answers(&sim, t);
        assert!(got.values().all(|n| *n == 1), "{t} answered twice: {got:?}");
    }
    assert_eq!(
        states(&nodes[other])
            .await
            .get("discord/duck")
            .map(String::as_str),
        Some("running")
    );
    let refused = nodes[paused].output().matches("write refused").count();
    eprintln!("stale node: {refused} writes refused after SIGCONT");
}

/// The takeover-time benchmark behind `scripts/failover-bench` (ignored in the test
/// run): `FAILOVER_ROUNDS` times (default 10), `kill -9` the node holding duck, time
/// until duck RESUMEs on another node and until it answers a message sent right
/// after the kill, then start a replacement node. Prints percentiles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: scripts/failover-bench"]
async fn failover_rounds() {
    let rounds: usize = std::env::var("FAILOVER_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let redis = TestRedis::start().await;
    let tokens: Vec<_> = BOTS.iter().map(|(n, _, t)| (*n, *t)).collect();
    let sim = sim(&tokens).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = cluster_registry(dir.path(), &sim, &redis);
    let mut nodes: Vec<Daemon> = (0..3).map(|i| node(&reg, &format!("n{i}"))).collect();
    let long = Duration::from_secs(60);
    let names = ["duck", "goose"];
    let (mut resumed, mut answered) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let holders = placement(&nodes, &names, long).await;
        let victim = holders["discord/duck"];
        let resumes = sim.stats().tenant("duck").resumes;
        let mut dead = nodes.remove(victim);
        dead.kill();
        let at = tokio::time::Instant::now();
        let probe = format!("probe-{round}");
        say(&sim, &format!("!echo {probe}"));
        let r = poll(long, || async {
            (sim.stats().tenant("duck").resumes > resumes).then(|| at.elapsed())
        })
        .await
        .expect("duck resumed");
        let a = poll(long, || async {
            answers(&sim, &probe)
                .contains_key("duck")
                .then(|| at.elapsed())
        })
        .await
        .expect("duck answered");
        resumed.push(r);
        answered.push(a);
        nodes.push(node(&reg, &format!("n{}", round + 3)));
    }
    let pct = |v: &mut Vec<Duration>, p: f64| {
        v.sort();
        let i = ((v.len() as f64 - 1.0) * p).round() as usize;
        v[i.min(v.len() - 1)]
    };
    for (what, v) in [("resumed", &mut resumed), ("answered", &mut answered)] {
        println!(
            "failover ({rounds} kills, lease TTL {LEASE_TTL} s): {what} p50 {:?} p90 {:?} max {:?}",
            pct(v, 0.5),
            pct(v, 0.9),
            pct(v, 1.0)
        );
    }
    for name in names {
        assert_eq!(sim.stats().tenant(name).max_live_sessions, 1, "{name}");
    }
}

/// `runtime.tenants_store: redis`: a tenant created through a worker node's admin
/// API (no token in its environment) reaches the access node, which runs it and
/// answers as it; a document with a literal secret is refused and nothing is
/// stored; deleting it on the worker node stops it on the access node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_created_on_one_node_runs_on_another() {
    let redis = TestRedis::start().await;
    let sim = sim(&[("duck", "fake-duck"), ("goose", "fake-goose")]).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = crate::support::redis_runtime(&redis, "", "  tenants_store: redis\n");
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], &extra);
    let access = Daemon::start(
        &[
            "--config",
            reg.to_str().unwrap(),
            "--role",
            "access",
            "--node-id",
            "acc",
        ],
        &[
            ("TOK_DUCK", "fake-duck"),
            ("TOK_GOOSE", "fake-goose"),
            ("TEST_VAULT_KEY", VAULT_KEY),
            ("TEST_ADMIN_TOKEN", "t0k"),
        ],
    );
    let worker = Daemon::start(
        &[
            "--config",
            reg.to_str().unwrap(),
            "--role",
            "worker",
            "--node-id",
            "wrk",
        ],
        &[("TEST_VAULT_KEY", VAULT_KEY), ("TEST_ADMIN_TOKEN", "t0k")],
    );
    let long = Duration::from_secs(60);
    assert!(wait(long, || sim.connected_sessions("duck") == 1).await);
    let http = reqwest::Client::new();
    let post = |body: String| {
        http.post(format!("{}/v1/tenants", worker.admin))
            .bearer_auth("t0k")
            .header("content-type", "application/yaml")
            .body(body)
            .send()
    };

    // A literal secret is refused: the shared registry holds no secret.
    let literal = crate::support::tenant_file(&sim, "goose", "TOK_GOOSE")
        .replace("${TOK_GOOSE}", "fake-goose");
    let refused = post(literal).await.unwrap();
    assert_eq!(refused.status(), 422, "{}", refused.text().await.unwrap());
    assert_eq!(sim.connected_sessions("goose"), 0);

    let created_at = tokio::time::Instant::now();
    let created = post(crate::support::tenant_file(&sim, "goose", "TOK_GOOSE"))
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "{}",
        created.text().await.unwrap()
    );
    let listed = poll(long, || async {
        states(&access)
            .await
            .contains_key("discord/goose")
            .then(|| created_at.elapsed())
    })
    .await;
    assert!(listed.is_some(), "{}", access.output());
    eprintln!("shared registry: the access node applied the new tenant {listed:?} after the POST");
    assert!(wait(long, || sim.connected_sessions("goose") == 1).await);
    say(&sim, "!ping");
    assert!(
        wait(long, || {
            let mut r = crate::support::replies(&sim, "pong");
            r.sort();
            r == ["duck", "goose"]
        })
        .await,
        "{:?}",
        crate::support::replies(&sim, "pong")
    );
    assert!(
        !worker.output().contains("fake-goose"),
        "no token on the worker node"
    );

    let deleted = http
        .delete(format!("{}/v1/tenants/discord/goose", worker.admin))
        .bearer_auth("t0k")
        .send()
        .await
        .unwrap();
    assert!(
        deleted.status().is_success(),
        "{}",
        deleted.text().await.unwrap()
    );
    assert!(
        wait(long, || sim.connected_sessions("goose") == 0).await,
        "{}",
        access.output()
    );
}
