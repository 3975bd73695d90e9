//! Issue 16's backfill acceptance through whole runtimes on the Redis bus: a channel
//! of `SWITCHBOARD_BACKFILL_MESSAGES` messages (950 by default, ten pages; the acceptance
//! run uses 5,000) paged 5 requests per window, the runtime stopped as soon as it
//! has spent a window, a new runtime over the same Redis and store started inside
//! that window: the backfill resumes by itself (the stopped run queued its
//! continuation) from its cursor, ends with exactly as many rows as the channel has
//! messages, and meets no 429 — the new REST actor starts from the buckets the old
//! one handed over. (Discord's window for the route is 5 s; the
//! test's is [`WINDOW`], longer than a runtime restart takes on two loaded cores, so
//! the new runtime surely starts inside it.)

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use switchboard::model::Event;
use switchboard::sim::{DEMO_CHANNELS, DEMO_GUILD, InjectMessage, RouteLimit, SimUser};
use switchboard::store::TenantStore;
use switchboard::store::indexer::{BackfillProgress, BackfillRequest};

use crate::both_backends;
use crate::common::redis::TestRedis;
use crate::support::{TestDb, publish, registry_yaml, start_runtime, start_sim, tenant, until};

/// The history route's window (5 requests each).
const WINDOW: Duration = Duration::from_secs(15);
const ROUTE: &str = "GET /channels/{channel_id}/messages";

/// Messages in the channel (`SWITCHBOARD_BACKFILL_MESSAGES`, default 950).
fn history() -> u64 {
    std::env::var("SWITCHBOARD_BACKFILL_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(950)
}

async fn progress(s: &TenantStore, channel: &str) -> Option<BackfillProgress> {
    let text = s
        .cursor(&BackfillProgress::cursor_name(channel))
        .await
        .expect("cursor readable")?;
    Some(serde_json::from_str(&text).expect("cursor JSON"))
}

async fn restart_scenario(db: &TestDb) {
    let history = history();
    let redis = TestRedis::start().await;
    let mut extra = String::new();
    let _ = writeln!(
        extra,
        "  bus: {{ backend: redis, url: '{}' }}\n  redis_prefix: {}",
        redis.url(),
        redis.prefix()
    );
    let yaml = registry_yaml(db, &extra, &[("bf", Some("[backfill]"))]);
    let sim = start_sim(&yaml, |c| {
        c.rate_limits.overrides.insert(
            ROUTE.to_owned(),
            RouteLimit {
                limit: 5,
                window: WINDOW,
                shared: false,
            },
        );
    })
    .await;
    let channel = DEMO_CHANNELS[1];
    let author = SimUser {
        id: 78,
        username: "archivist".into(),
        bot: false,
    };
    for n in 0..history {
        sim.inject_message(InjectMessage::guild(
            DEMO_GUILD,
            channel,
            author.clone(),
            &format!("old {n}"),
        ))
        .expect("injected");
    }
    let channel = channel.to_string();
    let bf = tenant("bf");
    let request = BackfillRequest {
        channel: channel.clone(),
        limit: None,
    };
    let timeout = Duration::from_secs(60) + WINDOW * (history / 500 + 1) as u32;
    let started = Instant::now();

    // First runtime: stopped once it has spent a whole window (5 pages).
    let runtime = start_runtime(&sim, &yaml, |b| b).await;
    let observer = db.connect().await;
    let s = observer.tenant(&bf, "discord__bf");
    let window_opened = Instant::now();
    publish(&runtime, &bf, Event::Job(request.job())).await;
    until(timeout, "five pages are stored", || async {
        progress(&s, &channel).await.is_some_and(|p| p.pages >= 5)
    })
    .await;
    // A short grace: the running backfill is cancelled at its next page.
    runtime.shutdown(Duration::from_millis(100)).await;
    let stopped_at = window_opened.elapsed();
    let first = progress(&s, &channel).await.expect("a cursor");
    assert!(!first.done, "stopped midway: {first:?}");

    // Second runtime, inside the spent window: the continuation the stopped run
    // queued resumes it (nobody asks again), and its first page waits for the window.
    let runtime = start_runtime(&sim, &yaml, |b| b).await;
    assert!(
        window_opened.elapsed() < WINDOW,
        "the restart took longer than the window ({:?}): the scenario proves nothing",
        window_opened.elapsed()
    );
    let resumed_at = window_opened.elapsed();
    until(timeout, "the backfill finishes", || async {
        progress(&s, &channel).await.is_some_and(|p| p.done)
    })
    .await;
    until(timeout, "the workers are idle", || async {
        runtime
            .bus()
            .stats()
            .groups
            .iter()
            .all(|g| g.scheduler.waiting == 0 && g.scheduler.in_flight == 0)
    })
    .await;
    let secs = started.elapsed().as_secs_f64();
    let last = progress(&s, &channel).await.expect("a cursor");
    assert_eq!(last.fetched, history, "{last:?}");
    assert_eq!(s.messages_count().await.expect("count") as u64, history);
    let stats = sim.stats().tenant("bf");
    let limited = stats.ratelimited_bucket + stats.ratelimited_global + stats.ratelimited_shared;
    eprintln!(
        "{}: {history} messages backfilled across a restart after {} of them in {secs:.1} s \
         ({} pages; {limited} × 429; first runtime stopped at {stopped_at:?}, the second \
         running at {resumed_at:?} after the first page)",
        db.name(),
        first.fetched,
        last.pages
    );
    assert_eq!(limited, 0, "no 429 across the restart");
    runtime.shutdown(Duration::from_secs(10)).await;
    observer.close().await;
    sim.shutdown().await;
}
both_backends!(
    a_long_backfill_resumes_across_a_restart_with_no_429,
    super::restart_scenario
);
