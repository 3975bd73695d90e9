//! `backfill` through whole runtimes: a channel of 250 messages in the emulator
//! (paged 100 at a time), a job for it, the runtime stopped after the first page,
//! a new runtime over the same store resuming from the stored cursor: exactly 250
//! rows, and none of the messages posted in between (newer than the cursor). Two
//! jobs for one channel at once: one run pages, the other acks without a request.
//! A channel the emulator does not know: the run fails on its last delivery and the
//! cursor says so; a later run of a failed channel clears it.

use std::time::Duration;

use switchboard::model::Event;
use switchboard::sim::{DEMO_CHANNELS, DEMO_GUILD, InjectMessage, RouteLimit, SimUser};
use switchboard::store::TenantStore;
use switchboard::store::indexer::{BackfillProgress, BackfillRequest, BackfillState};

use crate::both_backends;
use crate::support::{
    TestDb, job, publish, registry_yaml, settled, start_runtime, start_sim, tenant, until,
};

const HISTORY: u64 = 250;
const HISTORY_ROWS: i64 = 250;
const ROUTE: &str = "GET /channels/{channel_id}/messages";

async fn progress(s: &TenantStore, channel: &str) -> Option<BackfillProgress> {
    let text = s
        .cursor(&BackfillProgress::cursor_name(channel))
        .await
        .unwrap()?;
    Some(serde_json::from_str(&text).unwrap())
}

async fn backfill_scenario(db: &TestDb) {
    let yaml = registry_yaml(db, "", &[("bf", Some("[backfill]"))]);
    // One history page per 1.5 s: the first run is stopped while it waits for the
    // second.
    let sim = start_sim(&yaml, |c| {
        c.rate_limits.overrides.insert(
            ROUTE.to_owned(),
            RouteLimit {
                limit: 1,
                window: Duration::from_millis(1500),
                shared: false,
            },
        );
    })
    .await;
    let channel = DEMO_CHANNELS[1];
    let author = SimUser {
        id: 77,
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
    let channel = channel.to_string();
    let bf = tenant("bf");
    let request = BackfillRequest {
        channel: channel.clone(),
        limit: None,
    };
    let timeout = Duration::from_secs(60);

    // First run: stopped once the first page is stored. The test watches through a
    // pool of its own (the runtime closes its pool when it stops).
    let runtime = start_runtime(&sim, &yaml, |b| b).await;
    let observer = db.connect().await;
    let s = observer.tenant(&bf, "discord__bf");
    publish(&runtime, &bf, Event::Job(request.job())).await;
    until(timeout, "the first page is stored", || async {
        progress(&s, &channel)
            .await
            .is_some_and(|p| p.fetched >= 100)
    })
    .await;
    runtime.shutdown(Duration::from_millis(100)).await;
    let first = progress(&s, &channel).await.unwrap();
    assert!(!first.done, "stopped midway: {first:?}");
    let stored_first = s.messages_count().await.unwrap();
    assert_eq!(
        stored_first as u64, first.fetched,
        "the cursor follows what is stored"
    );
    // Messages posted while no runtime runs (newer than anything backfilled).
    let newer: Vec<u64> = (0..5)
        .map(|n| {
            sim.inject_message(InjectMessage::guild(
                DEMO_GUILD,
                DEMO_CHANNELS[1],
                author.clone(),
                &format!("new {n}"),
            ))
            .unwrap()
        })
        .collect();

    // Second run, over the same database: resumes from the cursor.
    let runtime = start_runtime(&sim, &yaml, |b| b).await;
    publish(&runtime, &bf, Event::Job(request.job())).await;
    until(timeout, "the backfill finishes", || async {
        progress(&s, &channel).await.is_some_and(|p| p.done)
    })
    .await;
    settled(&runtime, timeout).await;
    assert_eq!(s.messages_count().await.unwrap(), HISTORY_ROWS);
    let last = progress(&s, &channel).await.unwrap();
    assert_eq!(last.fetched, HISTORY, "{last:?}");
    // Resumed, not restarted: the messages posted between the runs are newer than
    // the cursor, so the resumed walk never meets them (a restarted one would store
    // them first).
    for id in &newer {
        assert!(
            s.message(&id.to_string()).await.unwrap().is_none(),
            "{id} was fetched"
        );
    }
    let stats = sim.stats().tenant("bf");
    // A finished backfill asked again does nothing.
    publish(&runtime, &bf, Event::Job(request.job())).await;
    settled(&runtime, timeout).await;
    assert_eq!(sim.stats().tenant("bf").requests, stats.requests);
    assert_eq!(s.messages_count().await.unwrap(), HISTORY_ROWS);
    runtime.shutdown(Duration::from_secs(10)).await;
    observer.close().await;
    sim.shutdown().await;
}
both_backends!(
    a_backfill_resumes_from_its_cursor_after_a_restart,
    super::backfill_scenario
);

/// A job's JSON payload as a schedule would send it, with a limit: exactly `limit`
/// of the newest messages are stored, and the backfill is done.
async fn limited_scenario(db: &TestDb) {
    let yaml = registry_yaml(db, "", &[("bf", Some("[backfill]"))]);
    let sim = start_sim(&yaml, |_| {}).await;
    let channel = DEMO_CHANNELS[1];
    let author = SimUser {
        id: 78,
        username: "chronicler".into(),
        bot: false,
    };
    let ids: Vec<u64> = (0..HISTORY)
        .map(|n| {
            sim.inject_message(InjectMessage::guild(
                DEMO_GUILD,
                channel,
                author.clone(),
                &format!("old {n}"),
            ))
            .unwrap()
        })
        .collect();
    let channel = channel.to_string();
    let runtime = start_runtime(&sim, &yaml, |b| b).await;
    let bf = tenant("bf");
    let payload = serde_json::json!({ "channel": channel, "limit": 120 });
    publish(&runtime, &bf, job("backfill", payload)).await;
    let s = runtime.store().unwrap().tenant(&bf, "discord__bf");
    let timeout = Duration::from_secs(60);
    until(timeout, "the limited backfill finishes", || async {
        progress(&s, &channel).await.is_some_and(|p| p.done)
    })
    .await;
    settled(&runtime, timeout).await;
    assert_eq!(s.messages_count().await.unwrap(), 120);
    // Counted per channel too (what the admin API shows next to the cursor).
    assert_eq!(s.channel_messages_count(&channel).await.unwrap(), 120);
    let other = DEMO_CHANNELS[0].to_string();
    assert_eq!(s.channel_messages_count(&other).await.unwrap(), 0);
    assert_eq!(progress(&s, &channel).await.unwrap().pages, 2);
    // The newest 120: the oldest stored is the 120th from the end.
    let oldest = &ids[ids.len() - 120];
    assert!(s.message(&oldest.to_string()).await.unwrap().is_some());
    let older = &ids[ids.len() - 121];
    assert!(s.message(&older.to_string()).await.unwrap().is_none());
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}
both_backends!(a_backfill_stops_at_its_limit, super::limited_scenario);

/// A history longer than one handler run can page: with a 6 s handler timeout (the
/// backfill keeps 5 s to spare) and one history page per 1.5 s, the backfill stops
/// before the timeout and goes on in a job it enqueues itself — all 250 rows, no
/// delivery timed out or retried.
async fn sliced_scenario(db: &TestDb) {
    let yaml = registry_yaml(db, "", &[("bf", Some("[backfill]"))]);
    let sim = start_sim(&yaml, |c| {
        c.rate_limits.overrides.insert(
            ROUTE.to_owned(),
            RouteLimit {
                limit: 1,
                window: Duration::from_millis(1500),
                shared: false,
            },
        );
    })
    .await;
    let author = SimUser {
        id: 77,
        username: "historian".into(),
        bot: false,
    };
    for n in 0..HISTORY {
        sim.inject_message(InjectMessage::guild(
            DEMO_GUILD,
            DEMO_CHANNELS[1],
            author.clone(),
            &format!("old {n}"),
        ))
        .unwrap();
    }
    let runtime = start_runtime(&sim, &yaml, |b| b.handler_timeout(Duration::from_secs(6))).await;
    let bf = tenant("bf");
    let channel = DEMO_CHANNELS[1].to_string();
    let request = BackfillRequest {
        channel: channel.clone(),
        limit: None,
    };
    publish(&runtime, &bf, Event::Job(request.job())).await;
    let s = runtime.store_for(&bf).unwrap();
    until(
        Duration::from_secs(120),
        "the backfill finishes",
        || async { progress(&s, &channel).await.is_some_and(|p| p.done) },
    )
    .await;
    settled(&runtime, Duration::from_secs(60)).await;
    assert_eq!(s.messages_count().await.unwrap(), HISTORY_ROWS);
    let stats = runtime.bus().stats();
    assert_eq!((stats.retried, stats.dead_lettered), (0, 0), "{stats:?}");
    assert!(
        stats.published >= 2,
        "the backfill went on in jobs of its own: {stats:?}"
    );
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}
both_backends!(
    a_long_backfill_continues_in_jobs_before_the_handler_timeout,
    super::sliced_scenario
);

/// Injects `n` messages into the demo guild's second channel.
fn inject_history(sim: &switchboard::sim::SimHandle, n: u64) {
    let author = SimUser {
        id: 79,
        username: "annalist".into(),
        bot: false,
    };
    for i in 0..n {
        sim.inject_message(InjectMessage::guild(
            DEMO_GUILD,
            DEMO_CHANNELS[1],
            author.clone(),
            &format!("old {i}"),
        ))
        .unwrap();
    }
}

/// Two jobs for one channel published together (two starts): one run holds the
/// channel's lease and pages; the other acks without a request. One page per 1.5 s,
/// so the first run is still paging when the second job arrives.
async fn one_run_scenario(db: &TestDb) {
    let yaml = registry_yaml(db, "", &[("bf", Some("[backfill]"))]);
    let sim = start_sim(&yaml, |c| {
        c.rate_limits.overrides.insert(
            ROUTE.to_owned(),
            RouteLimit {
                limit: 1,
                window: Duration::from_millis(1500),
                shared: false,
            },
        );
    })
    .await;
    inject_history(&sim, HISTORY);
    let runtime = start_runtime(&sim, &yaml, |b| b).await;
    let bf = tenant("bf");
    let channel = DEMO_CHANNELS[1].to_string();
    let request = BackfillRequest {
        channel: channel.clone(),
        limit: None,
    };
    let before = sim.stats().tenant("bf").requests;
    publish(&runtime, &bf, Event::Job(request.job())).await;
    publish(&runtime, &bf, Event::Job(request.job())).await;
    let s = runtime.store_for(&bf).unwrap();
    let timeout = Duration::from_secs(60);
    until(timeout, "the backfill finishes", || async {
        progress(&s, &channel).await.is_some_and(|p| p.done)
    })
    .await;
    settled(&runtime, timeout).await;
    // One run's requests: three history pages (100, 100, 50) and the REST actor's
    // one-time `GET /users/@me` (to mark the bot's own messages). Two runs would
    // have paged the history twice from the same cursor.
    let requests = sim.stats().tenant("bf").requests - before;
    assert_eq!(requests, 4, "{:?}", sim.stats().tenant("bf"));
    assert_eq!(s.messages_count().await.unwrap(), HISTORY_ROWS);
    let last = progress(&s, &channel).await.unwrap();
    assert_eq!((last.fetched, last.pages), (HISTORY, 3), "{last:?}");
    let stats = runtime.bus().stats();
    assert_eq!(
        (stats.acked, stats.retried, stats.dead_lettered),
        (2, 0, 0),
        "both jobs acked, neither failed: {stats:?}"
    );
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}
both_backends!(
    two_starts_of_one_channel_page_it_once,
    super::one_run_scenario
);

/// A channel the emulator does not know (404 Unknown Channel on every page): the
/// job fails on each of its `max_deliveries: 2` deliveries, is dead-lettered, and
/// the cursor records why (state `failed`). The lease was let go: a new start runs
/// (and fails) again. A later run of a failed channel that works clears the error.
async fn failed_scenario(db: &TestDb) {
    let yaml = registry_yaml(db, "  max_deliveries: 2\n", &[("bf", Some("[backfill]"))]);
    let sim = start_sim(&yaml, |_| {}).await;
    inject_history(&sim, 30);
    let runtime = start_runtime(&sim, &yaml, |b| b).await;
    let bf = tenant("bf");
    let s = runtime.store_for(&bf).unwrap();
    let timeout = Duration::from_secs(60);
    let unknown = "999999999999999999".to_owned();
    let request = BackfillRequest {
        channel: unknown.clone(),
        limit: None,
    };
    publish(&runtime, &bf, Event::Job(request.job())).await;
    until(timeout, "the backfill fails", || async {
        progress(&s, &unknown)
            .await
            .is_some_and(|p| p.state() == BackfillState::Failed)
    })
    .await;
    settled(&runtime, timeout).await;
    let failed = progress(&s, &unknown).await.unwrap();
    let error = failed.error.clone().unwrap();
    assert!(
        error.message.contains("Unknown Channel") && error.message.contains("404"),
        "{error:?}"
    );
    assert_eq!(error.attempts, 2, "{error:?}");
    assert_eq!((failed.fetched, failed.done), (0, false), "{failed:?}");
    assert_eq!(runtime.bus().stats().dead_lettered, 1);

    // Started again: the lease is free, so it runs (and fails) again, as a new run.
    publish(&runtime, &bf, Event::Job(request.job())).await;
    until(timeout, "the second run fails", || async {
        progress(&s, &unknown)
            .await
            .and_then(|p| p.error)
            .is_some_and(|e| e.run != error.run)
    })
    .await;
    settled(&runtime, timeout).await;
    assert_eq!(runtime.bus().stats().dead_lettered, 2);

    // A channel whose cursor records an earlier failure: the next run clears it.
    let channel = DEMO_CHANNELS[1].to_string();
    let cursor = BackfillProgress::cursor_name(&channel);
    let earlier = BackfillProgress {
        error: Some(error),
        ..BackfillProgress::default()
    };
    s.set_cursor(&cursor, &serde_json::to_string(&earlier).unwrap())
        .await
        .unwrap();
    publish(
        &runtime,
        &bf,
        Event::Job(
            BackfillRequest {
                channel: channel.clone(),
                limit: None,
            }
            .job(),
        ),
    )
    .await;
    until(timeout, "the later run finishes", || async {
        progress(&s, &channel).await.is_some_and(|p| p.done)
    })
    .await;
    let done = progress(&s, &channel).await.unwrap();
    assert_eq!(done.state(), BackfillState::Done, "{done:?}");
    assert_eq!((done.fetched, done.error), (30, None));
    assert_eq!(s.channel_messages_count(&channel).await.unwrap(), 30);
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}
both_backends!(
    a_backfill_that_keeps_failing_ends_failed,
    super::failed_scenario
);
