//! What one Redis round trip costs the *client* in CPU when it comes at a paced rate,
//! as the daemon's do: the floor under the Redis bus's extra CPU per message.
//!
//! A `!ping` on the Redis bus makes two round trips the in-process bus does not (the
//! event's fenced publish-and-take, the command's `XADD_TAKE`), and both are needed
//! for durability. At 200 messages/s each finds the runtime's threads parked, so what
//! a round trip costs is mostly waking them, not Redis's work. This bench measures
//! that on the machine it runs on, with no switchboard code in the path:
//!
//! - `ticks`: a paced timer alone (the baseline every other mode includes);
//! - `in_process_hop`: each tick sends a request to another task and awaits its
//!   reply over a oneshot — what the in-process bus does instead of a round trip;
//! - `redis_inline`: each tick runs one `EVALSHA` (a one-line script) on a fred
//!   client, awaited in place;
//! - `redis_from_task`: the same `EVALSHA` from a task spawned per tick, as a
//!   handler's or actor's call comes from its own task.
//!
//! For each it prints the process's CPU (from `/proc/self/schedstat`: every thread,
//! nanosecond resolution) per tick, and the mode's cost over `ticks`. Not a criterion
//! bench: criterion measures wall time, and a paced loop's wall time is its pacing.
//!
//! `cargo bench --bench round_trip` starts a throwaway `redis-server` (or uses
//! `SWITCHBOARD_BENCH_REDIS_URL`); `ROUND_TRIP_RATE` (default 400/s, the round trips of
//! 200 `!ping`/s) and `ROUND_TRIP_SECS` (default 10) set the pace and length. It runs
//! on the daemon's allocator and runtime (a default multi-thread tokio runtime).

#[path = "../tests/common/redis.rs"]
mod redis_server;

use std::time::{Duration, Instant};

use fred::prelude::*;
use fred::types::scripts::Script;
use tokio::sync::{mpsc, oneshot};

/// The daemon binary's allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// CPU time of every live thread of this process so far, in nanoseconds (the
/// runtime's worker threads live as long as the bench; a thread that ended is no
/// longer counted, hence the saturating difference in [`run`]).
fn process_cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Ticks,
    InProcessHop,
    RedisInline,
    RedisFromTask,
}

impl Mode {
    const ALL: [Self; 4] = [
        Self::Ticks,
        Self::InProcessHop,
        Self::RedisInline,
        Self::RedisFromTask,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Ticks => "ticks",
            Self::InProcessHop => "in_process_hop",
            Self::RedisInline => "redis_inline",
            Self::RedisFromTask => "redis_from_task",
        }
    }
}

/// Runs `mode` at `rate` per second for `n` ticks; returns CPU ns per tick.
async fn run(
    mode: Mode,
    rate: u64,
    n: u64,
    client: &Client,
    script: &Script,
    hop: &mpsc::Sender<oneshot::Sender<u64>>,
) -> Result<f64, Error> {
    let mut every = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    let started = process_cpu_ns();
    for i in 0..n {
        every.tick().await;
        match mode {
            Mode::Ticks => {}
            Mode::InProcessHop => {
                let (tx, rx) = oneshot::channel();
                if hop.send(tx).await.is_err() || rx.await.is_err() {
                    return Err(Error::new(ErrorKind::Unknown, "the hop task ended"));
                }
            }
            Mode::RedisInline => {
                let _: i64 = script
                    .evalsha_with_reload(client, vec!["k"], vec![i])
                    .await?;
            }
            Mode::RedisFromTask => {
                let (client, script) = (client.clone(), script.clone());
                let call = tokio::spawn(async move {
                    script
                        .evalsha_with_reload::<i64, _, _>(&client, vec!["k"], vec![i])
                        .await
                });
                call.await
                    .map_err(|e| Error::new(ErrorKind::Unknown, e.to_string()))??;
            }
        }
    }
    Ok(process_cpu_ns().saturating_sub(started) as f64 / n as f64)
}

async fn bench(url: &str, rate: u64, secs: u64) -> Result<(), Error> {
    let client = Builder::from_config(Config::from_url(url)?).build()?;
    client.init().await?;
    let script = Script::from_lua("return tonumber(ARGV[1])");
    // The in-process alternative: a task answering each request over a oneshot.
    let (hop, mut requests) = mpsc::channel::<oneshot::Sender<u64>>(16);
    tokio::spawn(async move {
        let mut served = 0;
        while let Some(reply) = requests.recv().await {
            served += 1;
            let _ = reply.send(served);
        }
    });
    // Warm up: connection, script cache, allocator.
    for i in 0..200u64 {
        let _: i64 = script
            .evalsha_with_reload(&client, vec!["k"], vec![i])
            .await?;
    }
    let n = rate * secs;
    println!("round_trip: {n} ticks at {rate}/s per mode (CPU of the whole process)");
    let mut per_tick = Vec::new();
    for mode in Mode::ALL {
        let wall = Instant::now();
        let ns = run(mode, rate, n, &client, &script, &hop).await?;
        per_tick.push(ns);
        println!(
            "round_trip {:<16} {:>7.1} µs CPU per tick ({:.1} s)",
            mode.name(),
            ns / 1e3,
            wall.elapsed().as_secs_f64()
        );
    }
    let base = per_tick[0];
    for (mode, ns) in Mode::ALL.into_iter().zip(&per_tick).skip(1) {
        println!(
            "round_trip {:<16} {:>7.1} µs CPU over ticks",
            mode.name(),
            (ns - base) / 1e3
        );
    }
    client.quit().await?;
    Ok(())
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it too, briefly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rate = env_or("ROUND_TRIP_RATE", 400).max(1);
    let secs = if quick {
        1
    } else {
        env_or("ROUND_TRIP_SECS", 10).max(1)
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (url, _server) = match rt.block_on(redis_server::TestRedis::for_bench()) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("round_trip: skipped ({e})");
            return;
        }
    };
    if let Err(e) = rt.block_on(bench(&url, rate, secs)) {
        eprintln!("round_trip: failed: {e}");
        std::process::exit(1);
    }
}
