//! Helpers shared by the vault tests.

use std::time::Duration;

use secrecy::SecretString;
use switchboard::vault::VaultKeys;
use switchboard::vault::{
    MemoryBackend, RedisBackend, RedisOptions, SecretKind, SecretPath, VaultConfig, VaultHandle,
    VaultKey,
};

use crate::common::redis::TestRedis;

/// A value that must never show up anywhere but a lease handle.
pub(crate) const CANARY: &str = "canary-7f3e9a1b-NEVER-LOG-ME";

pub(crate) fn path(s: &str) -> SecretPath {
    s.parse().expect("valid path")
}

/// A config with a quick sweep.
pub(crate) fn config(max_ttl: Duration) -> VaultConfig {
    VaultConfig {
        max_ttl,
        default_ttl: max_ttl / 2,
        sweep_interval: Duration::from_millis(50),
        ..VaultConfig::default()
    }
}

pub(crate) async fn memory_vault(config: VaultConfig) -> VaultHandle {
    VaultHandle::spawn(
        config,
        &VaultKeys::full(&VaultKey::from_bytes([7; 32])),
        MemoryBackend::default(),
    )
    .await
    .expect("vault starts")
}

pub(crate) fn test_key() -> VaultKey {
    VaultKey::from_bytes([42; 32])
}

pub(crate) async fn redis_backend(redis: &TestRedis, key: &VaultKey) -> RedisBackend {
    RedisBackend::connect(
        &RedisOptions::new(redis.url(), redis.prefix()),
        &VaultKeys::full(key),
    )
    .await
    .expect("connects to the test redis")
}

pub(crate) async fn redis_vault(redis: &TestRedis, config: VaultConfig) -> VaultHandle {
    let key = test_key();
    let backend = redis_backend(redis, &key).await;
    VaultHandle::spawn(config, &VaultKeys::full(&key), backend)
        .await
        .expect("vault starts")
}

/// Publishes `bot_token` (a provider credential) and `llm_key` (an app secret) for
/// `discord/duck` and `discord/goose`.
pub(crate) async fn seed(vault: &VaultHandle, value: &str) {
    for tenant in ["duck", "goose"] {
        vault
            .publish_tenant(
                "discord",
                tenant,
                [
                    (
                        "bot_token",
                        SecretString::from(format!("{value}-{tenant}-token")),
                        SecretKind::ProviderCredential,
                    ),
                    (
                        "llm_key",
                        SecretString::from(format!("{value}-{tenant}-llm")),
                        SecretKind::AppSecret,
                    ),
                ],
            )
            .await
            .expect("publish");
    }
}

/// Publishes `(name, value, kind)` secrets of `discord/duck`.
pub(crate) async fn publish_duck(vault: &VaultHandle, items: &[(&str, &str, SecretKind)]) {
    vault
        .publish_tenant(
            "discord",
            "duck",
            items
                .iter()
                .map(|(n, v, k)| (*n, SecretString::from(*v), *k)),
        )
        .await
        .expect("publish");
}
