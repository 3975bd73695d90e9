//! Audit records (grant, denial, revocation: HMAC'd ids, no secret) on both backends,
//! and a vault opened with the wrong key failing closed.

use std::time::Duration;

use secrecy::SecretString;
use switchboard::vault::VaultKeys;
use switchboard::vault::{
    AuditEvent, AuditRecord, Capability, RedisBackend, RedisOptions, SecretKind, TenantId,
    VaultError, VaultHandle, VaultKey,
};

use crate::common::eventually_some;
use crate::common::redis::TestRedis;
use crate::support::{CANARY, config, memory_vault, path, publish_duck, redis_vault, test_key};

async fn audit_trail(vault: &VaultHandle) {
    publish_duck(
        vault,
        &[("bot_token", CANARY, SecretKind::ProviderCredential)],
    )
    .await;
    let rest = vault.rest_scope(&TenantId::parse("discord", "duck").expect("valid"));
    let worker = vault.worker_scope(Some(&TenantId::parse("discord", "duck").expect("valid")));
    let lease = rest
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect("grant");
    let id = lease.id().to_owned();
    let _ = worker
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect_err("denied");
    assert!(vault.revoke(&id).await.expect("revoke"));

    let records: Vec<AuditRecord> = eventually_some(Duration::from_secs(5), || async {
        let r = vault.audit(100).await.ok()?;
        let has = |e| r.iter().any(|x: &AuditRecord| x.event == e);
        (has(AuditEvent::Grant)
            && has(AuditEvent::Deny)
            && has(AuditEvent::Revoke)
            && has(AuditEvent::Write))
        .then_some(r)
    })
    .await;

    let grant = records
        .iter()
        .find(|r| r.event == AuditEvent::Grant)
        .expect("grant");
    let revoke = records
        .iter()
        .find(|r| r.event == AuditEvent::Revoke)
        .expect("revoke");
    let deny = records
        .iter()
        .find(|r| r.event == AuditEvent::Deny)
        .expect("deny");
    assert_eq!(grant.principal, "rest(discord/duck)");
    assert_eq!(grant.capability.as_deref(), Some("provider.rest"));
    assert_eq!(grant.path, "discord/duck/bot_token");
    let hashed = grant.lease.as_deref().expect("grant names its lease");
    assert!(hashed.starts_with("hmac-sha256:"), "{hashed}");
    assert_ne!(hashed, id);
    assert_eq!(
        revoke.lease.as_deref(),
        Some(hashed),
        "same lease, same HMAC"
    );
    assert_eq!(deny.principal, "worker(discord/duck)");
    assert_eq!(deny.lease, None);
    assert!(
        deny.detail
            .as_deref()
            .is_some_and(|d| d.contains("deny worker")),
        "{deny:?}"
    );

    let text = serde_json::to_string(&records).expect("json");
    assert!(!text.contains(CANARY), "secret in audit records");
    assert!(!text.contains(&id), "raw lease id in audit records");
    assert!(
        !text.contains(id.rsplit('/').next().expect("suffix")),
        "lease id suffix in audit records"
    );
}

#[tokio::test(start_paused = true)]
async fn memory_audit_records_grant_denial_revocation() {
    let vault = memory_vault(config(Duration::from_secs(60))).await;
    audit_trail(&vault).await;
}

#[tokio::test]
async fn redis_audit_records_grant_denial_revocation() {
    let redis = TestRedis::start().await;
    let vault = redis_vault(&redis, config(Duration::from_secs(60))).await;
    audit_trail(&vault).await;
    // The stream is shared: a second vault on the same store (same key) reads the same
    // records, with the same HMACs.
    let other = redis_vault(&redis, config(Duration::from_secs(60))).await;
    let a = vault.audit(100).await.expect("audit");
    let b = other.audit(100).await.expect("audit");
    assert_eq!(a, b);
}

#[tokio::test]
async fn wrong_key_fails_closed_with_a_clear_error() {
    let redis = TestRedis::start().await;
    let vault = redis_vault(&redis, config(Duration::from_secs(60))).await;
    vault
        .publish_tenant(
            "discord",
            "duck",
            [(
                "bot_token",
                SecretString::from(CANARY),
                SecretKind::ProviderCredential,
            )],
        )
        .await
        .expect("publish");
    vault.stop();

    let options = RedisOptions::new(redis.url(), redis.prefix());
    let wrong = VaultKey::from_bytes([99; 32]);
    let err = RedisBackend::connect(&options, &VaultKeys::full(&wrong))
        .await
        .expect_err("wrong key");
    assert!(matches!(err, VaultError::WrongKey { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("wrong vault key") && msg.contains("SWITCHBOARD_VAULT_KEY"),
        "{msg}"
    );

    // Even without the key checks (deleted), every secret fails to decrypt: closed.
    let client = redis.client().await;
    let _: i64 = fred::prelude::KeysInterface::del(
        &client,
        vec![
            format!("{}:{{vault}}:keycheck:access", redis.prefix()),
            format!("{}:{{vault}}:keycheck:worker", redis.prefix()),
        ],
    )
    .await
    .expect("del");
    let backend = RedisBackend::connect(&options, &VaultKeys::full(&wrong))
        .await
        .expect("no key check left");
    let v = VaultHandle::spawn(
        config(Duration::from_secs(60)),
        &VaultKeys::full(&wrong),
        backend,
    )
    .await
    .expect("vault");
    let rest = v.rest_scope(&TenantId::parse("discord", "duck").expect("valid"));
    let err = rest
        .lease(
            path("discord/duck/bot_token"),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect_err("cannot decrypt");
    assert!(matches!(err, VaultError::Decrypt { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("cannot decrypt the secret at discord/duck/bot_token"),
        "{err}"
    );
    assert!(!err.to_string().contains(CANARY));

    // The right key still works.
    let right = RedisBackend::connect(&options, &VaultKeys::full(&test_key())).await;
    assert!(
        matches!(right, Err(VaultError::WrongKey { .. })),
        "the store's key check now belongs to the wrong key"
    );
}

#[tokio::test]
async fn connecting_to_a_dead_redis_is_unavailable() {
    let mut redis = TestRedis::start().await;
    redis.kill();
    let options = RedisOptions {
        command_timeout: Duration::from_millis(300),
        ..RedisOptions::new(redis.url(), redis.prefix())
    };
    let err = RedisBackend::connect(&options, &VaultKeys::full(&test_key()))
        .await
        .expect_err("down");
    assert!(err.is_unavailable(), "{err}");
}
