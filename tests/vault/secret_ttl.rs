//! Stored secrets do not outlive their publishers: each carries a TTL (24 h by
//! default) that every publish renews, changed or not.

use std::time::Duration;

use fred::prelude::*;
use switchboard::vault::VaultKeys;
use switchboard::vault::{DEFAULT_SECRET_TTL, RedisBackend, RedisOptions, VaultHandle};

use crate::common::redis::TestRedis;
use crate::support::{config, seed, test_key};

/// The TTL left on `discord/duck`'s bot token, ms (`-1`: none, `-2`: gone).
async fn pttl(raw: &Client, prefix: &str) -> i64 {
    raw.pttl(format!("{prefix}:{{discord:duck}}:cred:bot_token"))
        .await
        .unwrap()
}

async fn vault_with(redis: &TestRedis, ttl: Option<Duration>) -> VaultHandle {
    let key = test_key();
    let options = RedisOptions {
        secret_ttl: ttl,
        ..RedisOptions::new(redis.url(), redis.prefix())
    };
    let backend = RedisBackend::connect(&options, &VaultKeys::full(&key))
        .await
        .unwrap();
    VaultHandle::spawn(
        config(Duration::from_secs(60)),
        &VaultKeys::full(&key),
        backend,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_secrets_expire_unless_published_again() {
    let redis = TestRedis::start().await;
    let raw = redis.client().await;
    let vault = vault_with(&redis, Some(DEFAULT_SECRET_TTL)).await;
    seed(&vault, "v1").await;
    let day = i64::try_from(DEFAULT_SECRET_TTL.as_millis()).unwrap();
    let left = pttl(&raw, redis.prefix()).await;
    assert!(
        left > day - 60_000 && left <= day,
        "a new secret lives 24 h: {left}"
    );

    // Time passes (as if): an unchanged publish renews the TTL.
    let _: bool = raw
        .pexpire(
            format!("{}:{{discord:duck}}:cred:bot_token", redis.prefix()),
            5_000,
            None,
        )
        .await
        .unwrap();
    assert!(pttl(&raw, redis.prefix()).await <= 5_000);
    seed(&vault, "v1").await;
    let left = pttl(&raw, redis.prefix()).await;
    assert!(
        left > day - 60_000,
        "re-published unchanged: renewed ({left})"
    );

    // A changed value is a new version with a fresh TTL too.
    seed(&vault, "v2").await;
    let left = pttl(&raw, redis.prefix()).await;
    assert!(left > day - 60_000, "rotated: renewed ({left})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_ttl_of_none_keeps_secrets() {
    let redis = TestRedis::start().await;
    let raw = redis.client().await;
    let vault = vault_with(&redis, None).await;
    seed(&vault, "v1").await;
    assert_eq!(pttl(&raw, redis.prefix()).await, -1, "no expiry");
}
