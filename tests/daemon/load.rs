//! The load harness behind `scripts/load` (ignored in the test run): the daemon as a
//! user runs it, against the emulator, N tenants each in its own guild and channel,
//! R `!ping`/s in total for D seconds. Prints ready time, idle and loaded CPU of the
//! daemon (and of Redis on the Redis bus), CPU-s per 1,000 messages, RSS per tenant,
//! ping→pong latency percentiles from the emulator's own timestamps (snowflakes),
//! and lost and duplicated replies. On the Redis bus it also prints the commands Redis
//! served per second over the idle window (`INFO commandstats`), busiest first, and
//! per message over the load window (a script's own commands count under their
//! names too, beside `evalsha`).
//!
//! `LOAD_TENANTS` (20), `LOAD_RATE` (200), `LOAD_SECS` (10), `LOAD_BUS`
//! (`memory` | `redis`), `LOAD_SETTLE_SECS` (5: quiet time after every tenant is
//! connected, before the idle window), `LOAD_IDLE_SECS` (5: the idle window).
//!
//! `LOAD_HOT` (0) messages/s more go to a second, "hot" channel of tenant 0, and
//! Discord's per-channel limit (5 per 5 s) stays on: the hot channel's replies queue
//! behind its bucket, and the quiet channels' latency is reported on its own — it
//! must not follow the hot channel's (workers are not parked on a rate limit).
//!
//! It also prints the three half-second windows whose slowest reply was slowest (a
//! periodic task that stalls the path shows there). `LOAD_DUMP=path` writes every
//! answered message's send time (ms after the first) and latency (ms);
//! `LOAD_LOG=path` writes the daemon's log.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use switchboard::sim::{self, GuildConfig, InjectMessage, Sim, SimConfig, SimUser};

use crate::redis_server::TestRedis;
use crate::support::{Daemon, tenant_entry, wait};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds a process used so far (`/proc/<pid>/stat` utime + stime).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After the command name: state is field 3, utime 14 and stime 15 (1-based).
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(14) + ticks(15)) / 100.0
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

async fn redis_cpu(url: &str) -> f64 {
    use fred::prelude::{ClientLike, Config};
    let client = fred::prelude::Client::new(Config::from_url(url).unwrap(), None, None, None);
    if client.init().await.is_err() {
        return 0.0;
    }
    let info: String = client
        .custom(fred::cmd!("INFO"), vec!["cpu"])
        .await
        .unwrap_or_default();
    info.lines()
        .filter(|l| l.starts_with("used_cpu_sys:") || l.starts_with("used_cpu_user:"))
        .filter_map(|l| l.split_once(':')?.1.trim().parse::<f64>().ok())
        .sum()
}

/// Calls per command so far (`INFO commandstats`), to report what Redis spends its
/// idle time on.
async fn redis_calls(url: &str) -> HashMap<String, u64> {
    use fred::prelude::{ClientLike, Config};
    let client = fred::prelude::Client::new(Config::from_url(url).unwrap(), None, None, None);
    if client.init().await.is_err() {
        return HashMap::new();
    }
    let info: String = client
        .custom(fred::cmd!("INFO"), vec!["commandstats"])
        .await
        .unwrap_or_default();
    // `cmdstat_evalsha:calls=12,usec=...`
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// The `k` half-second windows of `series` (send time ms, latency ms) with the
/// highest maximum latency, in time order: where a stall was, and how long.
fn slowest_windows(series: &[(u64, u64)], k: usize) -> String {
    let mut windows: HashMap<u64, Vec<u64>> = HashMap::new();
    for (t, l) in series {
        windows.entry(t / 500).or_default().push(*l);
    }
    let mut worst: Vec<(u64, Vec<u64>)> = windows.into_iter().collect();
    for (_, l) in &mut worst {
        l.sort_unstable();
    }
    worst.sort_by_key(|(w, l)| (std::cmp::Reverse(l.last().copied()), *w));
    worst.truncate(k);
    worst.sort_by_key(|(w, _)| *w);
    worst
        .iter()
        .map(|(w, l)| {
            format!(
                "{:.1} s: p50 {} ms p99 {} ms max {} ms",
                *w as f64 / 2.0,
                percentile(l, 0.5),
                percentile(l, 0.99),
                l.last().copied().unwrap_or(0)
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a load harness: scripts/load"]
async fn load() {
    let n: usize = env_or("LOAD_TENANTS", 20);
    let rate: u64 = env_or("LOAD_RATE", 200);
    let secs: u64 = env_or("LOAD_SECS", 10);
    let bus: String = env_or("LOAD_BUS", "memory".to_owned());
    let settle: u64 = env_or("LOAD_SETTLE_SECS", 5);
    let idle_secs: u64 = env_or("LOAD_IDLE_SECS", 5);
    let hot: u64 = env_or("LOAD_HOT", 0);

    // The emulator: bot i alone in guild i, channel i; limits out of the way (the
    // harness measures switchboard, not Discord's buckets).
    let guild = |i: usize| (1_000 + i as u64) << 22;
    let channel = |i: usize| 900_000_000_000_000_000 + i as u64;
    let hot_channel = 800_000_000_000_000_000_u64;
    let mut config = SimConfig::default();
    for i in 0..n {
        let mut channels = vec![(channel(i), "c")];
        if i == 0 && hot > 0 {
            channels.push((hot_channel, "hot"));
        }
        config = config.tenant(
            sim::TenantConfig::new(
                format!("t{i}"),
                format!("tok-{i}"),
                500_000_000_000_000_000 + i as u64,
                600_000_000_000_000_000 + i as u64,
            )
            .guild(GuildConfig::new(guild(i), "g", &channels)),
        );
    }
    config.rate_limits.global_limit = 1_000_000;
    if hot == 0 {
        config.rate_limits.route.limit = 1_000_000;
    }
    config.max_concurrency = 64;
    let sim = Sim::start(config, "127.0.0.1:0").await.expect("emulator");

    let redis = if bus == "redis" {
        Some(TestRedis::start().await)
    } else {
        None
    };
    let dir = tempfile::tempdir().unwrap();
    let mut yaml =
        String::from("namespace: promethean\nruntime:\n  workers: 8\n  handlers: [ping]\n");
    if let Some(r) = &redis {
        yaml.push_str(&format!(
            "  vault: {{ backend: redis, url: '{u}', key_env: LOAD_VAULT_KEY }}\n  bus: {{ backend: redis, url: '{u}' }}\n  redis_prefix: {p}\n",
            u = r.url(),
            p = r.prefix()
        ));
    }
    yaml.push_str("providers:\n");
    let mut env: Vec<(String, String)> = vec![(
        "LOAD_VAULT_KEY".into(),
        "0000000000000000000000000000000000000000000000000000000000000001".into(),
    )];
    for i in 0..n {
        yaml.push_str(&tenant_entry(&sim, &format!("t{i}"), &format!("TOK_{i}")));
        env.push((format!("TOK_{i}"), format!("tok-{i}")));
    }
    let reg = dir.path().join("load.yml");
    std::fs::write(&reg, yaml).unwrap();
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let started = Instant::now();
    let daemon = Daemon::start(&["--config", reg.to_str().unwrap()], &env_refs);
    let names: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    assert!(
        wait(Duration::from_secs(120), || names
            .iter()
            .all(|t| sim.connected_sessions(t) == 1))
        .await,
        "not every tenant connected"
    );
    let ready = started.elapsed();
    let pid = daemon.pid();
    let redis_url = redis.as_ref().map(TestRedis::url);

    // Idle: `idle_secs` with no traffic, after `settle` for start-up work to end.
    tokio::time::sleep(Duration::from_secs(settle)).await;
    let calls0 = match &redis_url {
        Some(u) => redis_calls(u).await,
        None => HashMap::new(),
    };
    let (c0, r0) = (
        cpu_secs(pid),
        match &redis_url {
            Some(u) => redis_cpu(u).await,
            None => 0.0,
        },
    );
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let (c1, r1) = (
        cpu_secs(pid),
        match &redis_url {
            Some(u) => redis_cpu(u).await,
            None => 0.0,
        },
    );
    let calls_before_load = if let Some(u) = &redis_url {
        // Redis commands per second over the idle window, busiest first (the
        // harness's own INFO calls included: a handful).
        let calls1 = redis_calls(u).await;
        let mut rates: Vec<(String, f64)> = calls1
            .iter()
            .map(|(k, v)| {
                let d = v.saturating_sub(calls0.get(k).copied().unwrap_or(0));
                (k.clone(), d as f64 / idle_secs as f64)
            })
            .filter(|(_, r)| *r > 0.0)
            .collect();
        rates.sort_by(|a, b| b.1.total_cmp(&a.1));
        let total: f64 = rates.iter().map(|(_, r)| r).sum();
        let top: Vec<String> = rates
            .iter()
            .take(8)
            .map(|(k, r)| format!("{k} {r:.1}"))
            .collect();
        println!(
            "load idle Redis commands/s: total {total:.1} · {}",
            top.join(" · ")
        );
        Some(calls1)
    } else {
        None
    };

    // Load: `rate` messages per second, round robin over the tenants, in 10 ms ticks.
    let user = SimUser {
        id: 900_000_000_000_000_001,
        username: "alice".into(),
        bot: false,
    };
    let mut sent: HashMap<u64, usize> = HashMap::new();
    let mut hot_sent: Vec<u64> = Vec::new();
    let total = rate * secs;
    let hot_total = hot * secs;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut k = 0_u64;
    let load_start = Instant::now();
    while k < total || (hot_sent.len() as u64) < hot_total {
        tick.tick().await;
        let hot_due = (load_start.elapsed().as_millis() as u64 * hot / 1_000).min(hot_total);
        while (hot_sent.len() as u64) < hot_due {
            let id = sim
                .inject_message(InjectMessage::guild(
                    guild(0),
                    hot_channel,
                    user.clone(),
                    "!ping",
                ))
                .expect("inject");
            hot_sent.push(id);
        }
        let due = (load_start.elapsed().as_millis() as u64 * rate / 1_000).min(total);
        while k < due {
            let i = (k as usize) % n;
            let id = sim
                .inject_message(InjectMessage::guild(
                    guild(i),
                    channel(i),
                    user.clone(),
                    "!ping",
                ))
                .expect("inject");
            sent.insert(id, i);
            k += 1;
        }
    }
    let answered = |sim: &switchboard::sim::SimHandle| -> HashMap<u64, Vec<u64>> {
        let mut replies: HashMap<u64, Vec<u64>> = HashMap::new();
        let channels = (0..n).map(channel).chain((hot > 0).then_some(hot_channel));
        for c in channels {
            for m in sim.channel_messages(c) {
                let to = m
                    .message_reference
                    .as_ref()
                    .and_then(|r| r.get("message_id"))
                    .and_then(|v| {
                        v.as_str()
                            .and_then(|s| s.parse().ok())
                            .or_else(|| v.as_u64())
                    });
                if let Some(to) = to {
                    replies.entry(to).or_default().push(m.id);
                }
            }
        }
        replies
    };
    // The quiet channels' replies; the hot channel's drain at its bucket's pace
    // afterwards and are not waited for.
    let _ = wait(Duration::from_secs(60), || {
        let replies = answered(&sim);
        sent.keys().all(|id| replies.contains_key(id))
    })
    .await;
    let (c2, r2) = (
        cpu_secs(pid),
        match &redis_url {
            Some(u) => redis_cpu(u).await,
            None => 0.0,
        },
    );
    if let (Some(u), Some(before)) = (&redis_url, &calls_before_load) {
        // Redis commands per message over the load window, most first (a script's
        // own commands are counted under their names too, beside `evalsha`).
        let after = redis_calls(u).await;
        let mut per_msg: Vec<(String, f64)> = after
            .iter()
            .map(|(k, v)| {
                let d = v.saturating_sub(before.get(k).copied().unwrap_or(0));
                (k.clone(), d as f64 / total.max(1) as f64)
            })
            .filter(|(_, r)| *r >= 0.01)
            .collect();
        per_msg.sort_by(|a, b| b.1.total_cmp(&a.1));
        let top: Vec<String> = per_msg
            .iter()
            .take(10)
            .map(|(k, r)| format!("{k} {r:.2}"))
            .collect();
        println!("load Redis commands per message: {}", top.join(" · "));
    }
    let replies = answered(&sim);
    // Each answered message: when it was sent (ms since the first) and its latency.
    let mut series: Vec<(u64, u64)> = sent
        .keys()
        .filter_map(|id| {
            let first = replies.get(id)?.iter().min()?;
            Some((id >> 22, (first >> 22).saturating_sub(id >> 22)))
        })
        .collect();
    series.sort_unstable();
    let t0 = series.first().map_or(0, |r| r.0);
    for (t, _) in &mut series {
        *t -= t0;
    }
    if let Ok(path) = std::env::var("LOAD_DUMP") {
        let text = series.iter().fold(String::new(), |mut text, (t, l)| {
            use std::fmt::Write as _;
            let _ = writeln!(text, "{t} {l}");
            text
        });
        std::fs::write(path, text).unwrap();
    }
    if let Ok(path) = std::env::var("LOAD_LOG") {
        std::fs::write(path, daemon.output()).unwrap();
    }
    let mut latencies: Vec<u64> = series.iter().map(|(_, l)| *l).collect();
    latencies.sort_unstable();
    let lost = sent.keys().filter(|id| !replies.contains_key(id)).count();
    let duplicated = replies.values().filter(|r| r.len() > 1).count();
    let idle_pct = (c1 - c0) / idle_secs as f64 * 100.0;
    let redis_idle_pct = (r1 - r0) / idle_secs as f64 * 100.0;
    let per_k = (c2 - c1) / (total as f64 / 1_000.0);
    let redis_per_k = (r2 - r1) / (total as f64 / 1_000.0);
    println!(
        "load bus={bus} tenants={n} rate={rate}/s secs={secs}: ready {:.1} s · idle CPU daemon {idle_pct:.1} % redis {redis_idle_pct:.1} % · CPU-s per 1,000 msgs daemon {per_k:.3} redis {redis_per_k:.3} · latency p50 {} ms p99 {} ms max {} ms · RSS {} KiB/tenant · sent {} lost {lost} duplicated {duplicated}",
        ready.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0),
        rss_kib(pid) / n as u64,
        sent.len(),
    );
    println!(
        "load slowest 0.5 s windows: {}",
        slowest_windows(&series, 3)
    );
    if hot > 0 {
        let mut hot_lat: Vec<u64> = hot_sent
            .iter()
            .filter_map(|id| {
                let first = replies.get(id)?.iter().min()?;
                Some((first >> 22).saturating_sub(id >> 22))
            })
            .collect();
        hot_lat.sort_unstable();
        println!(
            "load hot channel {hot}/s (limit 5 per 5 s): sent {} answered so far {} · latency p50 {} ms max {} ms; quiet channels above",
            hot_sent.len(),
            hot_lat.len(),
            percentile(&hot_lat, 0.5),
            hot_lat.last().copied().unwrap_or(0),
        );
    }
}
