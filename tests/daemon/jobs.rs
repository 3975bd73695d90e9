//! Scheduled jobs across daemons on one Redis, with `kill -9`: while one node runs
//! the slots go on without a gap or a double (the claim and the publish are one
//! script, so a node killed at any instant leaves no claimed-but-unpublished slot);
//! after a gap with no node, `missed: once` fires the most recent missed slot once
//! and `missed: skip` fires none.

use std::collections::BTreeSet;
use std::time::Duration;

use fred::prelude::*;
use switchboard::model::now_ms;

use crate::redis_server::TestRedis;
use crate::support::{Daemon, registry, sim};

const VAULT_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";

/// The slots of `schedule` fired so far: one claim key per fired slot.
async fn fired(client: &Client, prefix: &str, schedule: &str) -> BTreeSet<i64> {
    let pattern = format!("{prefix}:{{discord:duck}}:job:{schedule}:slot:*");
    let keys: Vec<String> = client
        .custom(fred::cmd!("KEYS"), vec![pattern])
        .await
        .unwrap();
    keys.iter()
        .filter_map(|k| k.rsplit(':').next()?.parse().ok())
        .collect()
}

/// Polls until `schedule` has a fired slot after `after` (bounded).
async fn fired_after(client: &Client, prefix: &str, schedule: &str, after: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while fired(client, prefix, schedule)
        .await
        .range(after + 1..)
        .next()
        .is_none()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{schedule}: no slot after {after}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_contiguous(what: &str, slots: &BTreeSet<i64>) {
    let v: Vec<i64> = slots.iter().copied().collect();
    for w in v.windows(2) {
        assert_eq!(w[1] - w[0], 1000, "{what}: gap in {v:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedules_survive_kill_9_and_recover_missed_slots_by_policy() {
    let redis = TestRedis::start().await;
    let client = redis.client().await;
    let prefix = redis.prefix().to_owned();
    let sim = sim(&[("duck", "fake-duck")]).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = crate::support::redis_runtime(&redis, "", "");
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], &extra);
    // duck is the registry's last entry: its schedules go at the end.
    let mut yaml = std::fs::read_to_string(&reg).unwrap();
    yaml.push_str(
        "    schedules:\n      - { name: once, cron: \"* * * * * *\", missed: once }\n      - { name: skip, cron: \"* * * * * *\" }\n",
    );
    std::fs::write(&reg, yaml).unwrap();
    let env = [("TOK_DUCK", "fake-duck"), ("TEST_VAULT_KEY", VAULT_KEY)];
    let start = |node: &str| {
        Daemon::start(
            &["--config", reg.to_str().unwrap(), "--node-id", node],
            &env,
        )
    };

    // Two nodes run; one is killed; the other goes on alone.
    let mut a = start("node-a");
    let mut b = start("node-b");
    let t0 = now_ms().cast_signed();
    fired_after(&client, &prefix, "once", t0 + 2_000).await;
    a.kill();
    let killed_at = now_ms().cast_signed();
    fired_after(&client, &prefix, "once", killed_at + 2_000).await;
    for schedule in ["once", "skip"] {
        let slots = fired(&client, &prefix, schedule).await;
        assert_contiguous(schedule, &slots);
    }

    // No node for a while: at least three slots go by.
    b.kill();
    let last = |s: &BTreeSet<i64>| s.iter().next_back().copied().unwrap();
    let before_once = fired(&client, &prefix, "once").await;
    let before_skip = fired(&client, &prefix, "skip").await;
    let resume_after = last(&before_once).max(last(&before_skip)) + 3_500;
    while now_ms().cast_signed() < resume_after {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let restarted_at = now_ms().cast_signed();
    let c = start("node-c");
    fired_after(&client, &prefix, "once", restarted_at + 1_000).await;
    fired_after(&client, &prefix, "skip", restarted_at + 1_000).await;

    // `once`: exactly one slot of the gap fired, the most recent before the restart.
    let once = fired(&client, &prefix, "once").await;
    let gap_once: Vec<i64> = once
        .range(last(&before_once) + 1..=restarted_at)
        .copied()
        .collect();
    assert_eq!(
        gap_once.len(),
        1,
        "{gap_once:?} (restart at {restarted_at})"
    );
    assert!(
        restarted_at - gap_once[0] < 1_000,
        "{gap_once:?} {restarted_at}"
    );
    // `skip`: none of the gap.
    let skip = fired(&client, &prefix, "skip").await;
    let gap_skip: Vec<i64> = skip
        .range(last(&before_skip) + 1..=restarted_at)
        .copied()
        .collect();
    assert!(gap_skip.is_empty(), "{gap_skip:?}");
    // The last fired slot on record is the newest.
    let key = format!("{prefix}:{{discord:duck}}:job:once:last");
    let recorded: i64 = client.get(key).await.unwrap();
    assert_eq!(recorded, last(&once));
    drop(c);
    sim.shutdown().await;
}
